-- lua/glue.lua: attaches the Lua-written parts to the module table.
return function(gd)
  local stats = require "gradus.stats"
  local diagnose = require "gradus.diagnose"
  local compare = require "gradus.compare"
  local report = require "gradus.report"

  gd.logspace = stats.logspace
  gd.diagnose = diagnose.diagnose

  -- Every run carries the lecture's diagnoses of its own history.
  -- Errors raised by the C side carry no position; give them the caller's
  -- line, as a Lua function's own error would have.
  local function at_caller(ok, ...)
    if ok then return ... end
    local msg = ...
    if type(msg) == "string" and not msg:find("^[^%s:]+:%d+:") then error(msg, 3) end
    error(msg, 0)
  end

  local c_train = gd.train
  gd.train = function(cfg)
    local run = at_caller(pcall(c_train, cfg))
    run.diagnoses = diagnose.diagnose(run)
    if cfg.progress ~= false and #run.diagnoses > 0 and not cfg.quiet_diagnoses then
      for _, d in ipairs(run.diagnoses) do io.stderr:write("diagnosis: ", d.message, "\n") end
    end
    return run
  end
  gd.compare = function(spec) return compare.compare(gd, spec) end
  gd.report = function(results, opts) return report.report(gd, results, opts) end
  gd.plot = function(p) return report.plot(gd, p) end
end
