-- lua/glue.lua: attaches the Lua-written parts to the module table.
return function(gd)
  local stats = require "gradus.stats"
  local diagnose = require "gradus.diagnose"
  local report = require "gradus.report"

  gd.logspace = stats.logspace
  gd.diagnose = diagnose.diagnose

  -- Every run carries the lecture's diagnoses of its own history. (Errors
  -- of c_train name the user's line: lgd_error skips the embedded frames.)
  local resume = require "gradus.resume"
  local c_train = gd.train
  gd.train = function(cfg)
    if resume.is_fork(cfg) then return cfg:train() end
    local run = c_train(cfg)
    run.diagnoses = diagnose.diagnose(run)
    if cfg.progress ~= false and #run.diagnoses > 0 then
      for _, d in ipairs(run.diagnoses) do io.stderr:write("diagnosis: ", d.message, "\n") end
    end
    return run
  end
  gd.resume = function(path, opts) return resume.resume(gd, path, opts) end
  gd.fork = function(path, overrides) return resume.fork(gd, path, overrides) end
  local sweep = require "gradus.sweep"
  gd.compare = function(spec) return sweep.compare(gd, spec) end
  gd.report = function(results, opts) return report.report(gd, results, opts) end
  gd.plot = function(p) return report.plot(gd, p) end
end
