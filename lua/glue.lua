-- lua/glue.lua: attaches the Lua-written parts to the module table.
return function(gd)
  local stats = require "gradus.stats"
  local diagnose = require "gradus.diagnose"
  local report = require "gradus.report"

  gd.logspace = stats.logspace
  gd.diagnose = diagnose.diagnose

  -- Every run carries the lecture's diagnoses of its own history. (Errors
  -- of c_train name the user's line: lgd_error skips the embedded frames.)
  -- `internal` (the checkpoint to continue) comes from gd.resume and
  -- gd.fork only: gd.train passes users' options alone.
  local resume = require "gradus.resume"
  local c_train = gd.train
  local function train(cfg, internal)
    local run = c_train(cfg, internal)
    run.diagnoses = diagnose.diagnose(run, cfg)
    if cfg.progress ~= false and not cfg.quiet_diagnoses and #run.diagnoses > 0 then
      for _, d in ipairs(run.diagnoses) do io.stderr:write("diagnosis: ", d.message, "\n") end
    end
    return run
  end
  gd.train = function(cfg)
    if resume.is_fork(cfg) then return cfg:train() end
    return train(cfg)
  end
  gd.resume = function(path, opts) return resume.resume(gd, path, opts, train) end
  gd.fork = function(path, overrides) return resume.fork(gd, path, overrides, train) end
  local sweep = require "gradus.sweep"
  gd.compare = function(spec) return sweep.compare(gd, spec) end
  gd.report = function(results, opts) return report.report(gd, results, opts) end
  gd.plot = function(p) return report.plot(gd, p) end
end
