-- lua/glue.lua: attaches the Lua-written parts to the module table.
return function(gd)
  local stats = require "gradus.stats"
  local diagnose = require "gradus.diagnose"
  local report = require "gradus.report"

  gd.logspace = stats.logspace
  gd.diagnose = diagnose.diagnose

  -- gd.train (lua/ltrain.c) runs and finishes a run, diagnoses included;
  -- a fork (gd.fork's variant) first turns itself into gd.train's options.
  -- The checkpoint to continue (the second argument of the C gd.train)
  -- comes from gd.resume and gd.fork only: gd.train passes users' options
  -- alone.
  local resume = require "gradus.resume"
  local c_train = gd.train
  gd.train = function(cfg)
    if resume.is_fork(cfg) then return cfg:train() end
    return c_train(cfg)
  end
  gd.resume = function(path, opts) return resume.resume(gd, path, opts, c_train) end
  gd.fork = function(path, overrides) return resume.fork(gd, path, overrides, c_train) end
  local sweep = require "gradus.sweep"
  gd.compare = function(spec) return sweep.compare(gd, spec) end
  gd.report = function(results, opts) return report.report(gd, results, opts) end
  gd.plot = function(p) return report.plot(gd, p) end
  gd.benchmark = function(spec) return require("gradus.benchmark").benchmark(gd, spec) end
end
