-- tests/lua/sweep.lua: gd.compare's trials as processes (lua/sweep.lua).
--
-- The sweep's workers run this script again with GRADUS_SWEEP_TRIAL set;
-- the first case's gd.compare then runs their one trial and exits, so that
-- case must stay first. The sweep directory is found from that variable.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local sweep = require "gradus.sweep"

local root = T.sweep_root()
local exists = T.exists

-- One trial (momentum, seed 2) is stopped by SIGTERM at its second epoch
-- the first time it runs, as Ctrl-C or a cluster's preemption would.
local interrupter = T.fault_once("/momentum%-seed2%-", 2, function()
  os.execute("kill -TERM $PPID")   -- the shell's parent: this gradus
end)

local train = gd.data.synthetic.spirals{ n = 96, classes = 3, seed = 3 }
local val = gd.data.synthetic.spirals{ n = 48, classes = 3, seed = 4 }

local function spec(run)
  return {
    base = { model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.tanh{},
                                    gd.layer.dense{ units = 3 } },
             loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = 4,
             batch = 16, seed = 1, progress = false, on_epoch = interrupter,
             monitor = { every = 6 } },
    variants = {
      { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 }, tune = { lr = { 0.05, 0.3 } } },
      { name = "momentum", optimizer = gd.optim.momentum{ lr = 0.05 } },
    },
    repeats = 2,
    progress = false,
    run = run,
  }
end

-- Equal bit for bit, but for the wall-clock fields and resumed_from.
local skip = { seconds = true, resumed_from = true }
local function same(what, a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b and not (a ~= a and b ~= b) then
      error(string.format("%s: %s ~= %s", what, tostring(a), tostring(b)), 0)
    end
    return
  end
  for k, v in pairs(a) do
    if not skip[k] then same(what .. "." .. tostring(k), v, b[k]) end
  end
  for k in pairs(b) do
    if not skip[k] and a[k] == nil then error(what .. "." .. tostring(k) .. " only on one side", 0) end
  end
end

local function same_results(a, b)
  for i, v in ipairs(a.variants) do
    local w = b.variants[i]
    T.close_number("lr of " .. v.name, w.lr or 0, v.lr or 0, 0)
    same(v.name .. ".tuning", v.tuning or {}, w.tuning or {})
    same(v.name .. ".runs", v.runs, w.runs)
  end
  same("summary.mean.val_loss", a.summary[2].mean.val_loss, b.summary[2].mean.val_loss)
  same("summary.win_rate", a.summary[2].win_rate, b.summary[2].win_rate)
end

local dir = root .. "/sweeps"
local swept

T.test("sweep_local_resumes_an_interrupted_trial", function()
  local ok, err = pcall(gd.compare, spec{ backend = "local", jobs = 2, dir = dir, name = "s" })
  assert(not ok, "the interrupted trial must fail the first sweep")
  assert(tostring(err):find("gd.compare: sweep " .. dir .. "/s: 1 of 4 trials did not finish: "
    .. "momentum%-seed2%-%x+ unfinished %(log: " .. dir .. "/s/momentum%-seed2%-%x+/log%)"), err)
  local id = tostring(err):match("(momentum%-seed2%-%x+)")
  assert(exists(dir .. "/s/" .. id .. "/run.ckpt"), "the interrupted trial kept its checkpoint")
  assert(not exists(dir .. "/s/" .. id .. "/DONE"))
  swept = gd.compare(spec{ backend = "local", jobs = 2, dir = dir, name = "s" })
  assert(swept.variants[2].runs[2].resumed_from, "the second sweep resumed the trial")
  assert(swept.variants[1].runs[1].resumed_from == nil, "a done trial is not run again")
end)

T.test("sweep_local_equals_serial_bit_for_bit", function()
  local serial = gd.compare(spec(nil))
  assert(serial.variants[1].lr == 0.3 or serial.variants[1].lr == 0.05)
  same_results(serial, swept)
end)

T.test("sweep_collect_rebuilds_the_results", function()
  local got, bad = sweep.collect(dir .. "/s")
  T.close_number("bad trials", #bad, 0, 0)
  same_results(swept, got)
  local out = root .. "/report"
  gd.report(got, { dir = out, plots = false })
  assert(exists(out .. "/summary.csv"))
end)

T.test("sweep_collect_names_a_corrupt_trial", function()
  local c = root .. "/sweeps/c"
  os.execute(string.format("cp -r %s/s %s", dir, c))
  local m = dofile(c .. "/sweep.lua")
  local id = m.trials[#m.trials].id
  io.open(c .. "/" .. id .. "/result.lua", "w"):write("return {"):close()
  local got, bad = sweep.collect(c)
  T.close_number("bad trials", #bad, 1, 0)
  assert(bad[1].id == id and bad[1].why:find("^corrupt"), bad[1].id .. " " .. id .. " " .. bad[1].why)
  assert(got.variants[2].runs[2].status == "missing")
  os.remove(c .. "/" .. m.trials[1].id .. "/DONE")
  local _, bad2 = sweep.collect(c)
  T.close_number("bad trials", #bad2, 2, 0)
  assert(bad2[1].id == m.trials[1].id and bad2[1].why == "unfinished")
end)

T.test("sweep_trial_ids_follow_the_numbers", function()
  local base = { variant = "a b", kind = "run", seed = 3,
                 cfg = { optimizer = gd.optim.sgd{ lr = 0.1 }, data = train, epochs = 2 } }
  local id = sweep.trial_id(base)
  assert(id:match("^a_b%-seed3%-%x+$"), id)
  base.cfg.progress, base.cfg.on_epoch = true, print
  T.close_number("same id", sweep.trial_id(base) == id and 1 or 0, 1, 0)
  base.cfg.optimizer = gd.optim.sgd{ lr = 0.2 }
  assert(sweep.trial_id(base) ~= id, "another lr is another trial")
  base.cfg.optimizer, base.cfg.data = gd.optim.sgd{ lr = 0.1 }, val
  assert(sweep.trial_id(base) ~= id, "other data is another trial")
end)

T.test("sweep_rejects_bad_settings", function()
  T.expect_error('gd.compare: run.backend must be "local" or "slurm", got "pbs"',
    gd.compare, spec{ backend = "pbs" })
  T.expect_error("gd.compare: run: unknown option 'jobz'", gd.compare, spec{ jobz = 2 })
  T.expect_error("gd.compare: run.jobs must be a number, got string", gd.compare, spec{ jobs = "2" })
end)

-- gradus sweep and gradus collect, as a user types them.
T.test("sweep_cli_runs_and_collects", function()
  local exe = os.getenv("GRADUS_EXE")
  local script = root .. "/exp.lua"
  local f = io.open(script, "w")
  f:write([[
local gd = require "gradus"
local d = gd.data.synthetic.blobs{ n = 64, classes = 2, seed = 1 }
local r = gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } },
  loss = gd.loss.cross_entropy{}, data = d, epochs = 2, batch = 16, progress = false },
  variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
               { name = "adam", optimizer = gd.optim.adam{ lr = 0.01 } } },
  repeats = 2, progress = false }
print(string.format("adam mean %.17g", r.summary[2].mean.train_loss))
]])
  f:close()
  local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local s = p:read("a")
    return s, p:close()
  end
  local serial = sh(string.format("%s run %s", exe, script))
  local out, ok = sh(string.format("cd %s && %s sweep --jobs 2 exp.lua", root, exe))
  assert(ok and out == serial, out .. " vs " .. serial)
  assert(exists(root .. "/sweeps/exp/sweep.lua"))
  local col, cok = sh(string.format("%s collect %s/sweeps/exp", exe, root))
  assert(cok and col:find("adam"), col)
  local bad, bok = sh(string.format("%s sweep --jobs 0 %s", exe, script))
  assert(not bok and bad == "gradus: sweep: --jobs needs a whole number >= 1, got '0'\n", bad)
  local pbs, pok = sh(string.format("%s sweep --backend pbs %s", exe, script))
  assert(not pok and pbs == "gradus: sweep: --backend must be local or slurm, got 'pbs'\n", pbs)
  local res, rok = sh(string.format("cd %s && %s sweep --resume --dir elsewhere exp.lua", root, exe))
  assert(not rok and res:find("gd.compare: sweep --resume: no sweep at elsewhere/exp to resume", 1, true), res)
  local again, aok = sh(string.format("cd %s && %s sweep --resume exp.lua", root, exe))
  assert(aok and again == serial, again)
  local none, nok = sh(string.format("%s collect %s/nowhere", exe, root))
  assert(not nok and none:find("^gradus: collect: " .. root .. "/nowhere is not a sweep directory"), none)
end)

T.run()
os.execute("rm -rf " .. root)
