-- lua/glue.lua: attaches the Lua-written parts to the module table.
return function(gd)
  local stats = require "gradus.stats"
  local diagnose = require "gradus.diagnose"
  local report = require "gradus.report"

  gd.logspace = stats.logspace
  gd.diagnose = diagnose.diagnose

  -- gd.train (lua/ltrain.c) runs a run; run.diagnoses are added here, the
  -- lecture's reading of its history (lua/diagnose.lua), printed unless
  -- progress = false or quiet_diagnoses. A fork (gd.fork's variant) first
  -- turns itself into gd.train's options. gd.resume and gd.fork continue a
  -- checkpoint through gd._continue, which takes it as an argument.
  local resume = require "gradus.resume"
  local c_train, c_continue = gd.train, gd._continue
  local function finish(run, cfg)
    run.diagnoses = diagnose.diagnose(run, cfg)
    if cfg.progress ~= false and not cfg.quiet_diagnoses then
      for _, d in ipairs(run.diagnoses) do
        io.stderr:write("diagnosis: ", tostring(d.message), "\n")
      end
    end
    return run
  end
  local function continue(cfg, ck, mode, path, epochs_given)
    return finish(c_continue(cfg, ck, mode, path, epochs_given), cfg)
  end
  gd.train = function(cfg)
    if resume.is_fork(cfg) then return cfg:train() end
    return finish(c_train(cfg), cfg)
  end
  gd.resume = function(path, opts) return resume.resume(gd, path, opts, continue) end
  gd.fork = function(path, overrides) return resume.fork(gd, path, overrides, continue) end
  local sweep = require "gradus.sweep"
  gd.compare = function(spec) return sweep.compare(gd, spec) end
  gd.report = function(results, opts) return report.report(gd, results, opts) end
  gd.plot = function(p) return report.plot(gd, p) end
  gd.benchmark = function(spec) return require("gradus.benchmark").benchmark(gd, spec) end
end
