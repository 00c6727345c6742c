-- tests/lua/sweep.lua: gd.compare's trials as files of data, run by
-- `gradus trial` workers (lua/sweep.lua, lua/trial.lua): equal to the
-- serial comparison bit for bit, rebuilt by gradus collect, rerun when
-- corrupt, failed trials kept apart from diverged ones, hostile files
-- refused, odd names, Slurm options and job script quoting.
-- The processes' side (signals, locks, a full disk) is sweep_procs.lua.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local sweep = require "gradus.sweep"
local trial = require "gradus.trial"

local root = T.sweep_root()
local exists = T.exists
local exe = os.getenv("GRADUS_EXE")

local train = gd.data.synthetic.spirals{ n = 96, classes = 3, seed = 3 }
local val = gd.data.synthetic.spirals{ n = 48, classes = 3, seed = 4 }

local function spec(run, names)
  names = names or { "sgd", "momentum" }
  return {
    base = { model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.tanh{},
                                    gd.layer.dense{ units = 3 } },
             loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = 3,
             batch = 16, seed = 1, progress = false, monitor = { every = 6 } },
    variants = {
      { name = names[1], optimizer = gd.optim.sgd{ lr = 0.1 }, tune = { lr = { 0.05, 0.3 } } },
      { name = names[2], optimizer = gd.optim.momentum{ lr = 0.05 } },
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
local serial, swept

T.test("sweep_local_equals_serial_bit_for_bit", function()
  serial = gd.compare(spec(nil))
  assert(serial.variants[1].lr == 0.3 or serial.variants[1].lr == 0.05)
  swept = gd.compare(spec{ backend = "local", jobs = 2, dir = dir, name = "s" })
  same_results(serial, swept)
  -- the trials are data: JSON that names its specs and data recipes
  local m = trial.read(gd, dir .. "/s/sweep.json", 1 << 20)
  local t = T.json_decode(T.slurp(dir .. "/s/" .. m.trials[#m.trials].id .. "/trial.json"))
  assert(t.format == "gradus-trial" and t.cfg.optimizer["$spec"].name == "momentum")
  assert(t.cfg.data["$data"].recipe.source == "synthetic.spirals")
  assert(t.cfg.model["$sequential"][2]["$spec"].name == "tanh")
end)

-- a tuning metric reaches the workers: the trials are judged on it as in the serial run
T.test("sweep_tuning_metric_reaches_the_trials", function()
  local function acc(run)
    local s = spec(run)
    s.variants[1].tune.metric = "val_accuracy"
    s.variants[2] = nil
    return s
  end
  local a = gd.compare(acc(nil))
  local b = gd.compare(acc{ backend = "local", jobs = 2, dir = dir, name = "metric" })
  same("tuning", a.variants[1].tuning, b.variants[1].tuning)
  for _, t in ipairs(b.variants[1].tuning) do
    assert(t.value >= 0 and t.value <= 1 and t.objective == -t.value, "judged on val_accuracy: " .. t.value)
  end
end)

T.test("sweep_rerun_reuses_done_trials", function()
  local again = gd.compare(spec{ backend = "local", jobs = 2, dir = dir, name = "s" })
  same_results(serial, again)
  for _, v in ipairs(again.variants) do
    for _, r in ipairs(v.runs) do assert(r.resumed_from == nil) end
  end
end)

T.test("sweep_collect_rebuilds_the_results", function()
  local got, bad = sweep.collect(gd, dir .. "/s")
  T.close_number("bad trials", #bad, 0, 0)
  same_results(swept, got)
  local out = root .. "/report"
  gd.report(got, { dir = out, plots = false })
  assert(exists(out .. "/summary.csv"))
end)

-- A trial whose files are corrupt, truncated or DONE without a result is
-- named by collect and run again by the next sweep, to the same numbers.
T.test("sweep_reruns_corrupt_truncated_and_resultless_trials", function()
  local c = root .. "/sweeps/c"
  os.execute(string.format("cp -r '%s/s' '%s'", dir, c))
  local m = trial.read(gd, c .. "/sweep.json", 1 << 20)
  local ids = {}
  for _, t in ipairs(m.trials) do if t.kind == "run" then ids[#ids + 1] = t.id end end
  T.spit(c .. "/" .. ids[1] .. "/result.json", "{\"status\":")            -- truncated
  os.remove(c .. "/" .. ids[2] .. "/result.json")                          -- DONE, no result
  T.spit(c .. "/" .. ids[3] .. "/history.json", "while true do end")       -- not data
  os.remove(c .. "/" .. ids[4] .. "/DONE")                                 -- unfinished, with
  -- a truncated checkpoint (a done trial keeps none: its result is its record)
  assert(not exists(c .. "/" .. ids[4] .. "/run.ckpt"), "a done trial kept its checkpoint")
  local made = root .. "/made.ckpt"
  gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
            optimizer = gd.optim.sgd{}, data = train, epochs = 1, progress = false,
            checkpoint = { path = made } }
  local ck = T.slurp(made)
  T.spit(c .. "/" .. ids[4] .. "/run.ckpt", ck:sub(1, #ck // 2))
  local _, bad = sweep.collect(gd, c)
  T.close_number("bad trials", #bad, 4, 0)
  assert(bad[4].why == "unfinished", bad[4].why)
  table.remove(bad)
  for _, b in ipairs(bad) do assert(b.why:find("^corrupt %("), b.why) end
  assert(bad[3].why:find("history.json: json: unexpected character 'w'", 1, true), bad[3].why)
  local again = gd.compare(spec{ backend = "local", jobs = 2, dir = root .. "/sweeps", name = "c" })
  same_results(serial, again)
  local _, bad2 = sweep.collect(gd, c)
  T.close_number("bad trials after the rerun", #bad2, 0, 0)
  assert(T.slurp(c .. "/" .. ids[4] .. "/log"):find("starting afresh", 1, true), "the bad checkpoint was not set aside")
end)

-- A failed trial keeps its reason and counts neither as a divergence nor
-- as a loss: the data a variant was planned with changed under it (a
-- standardized set, which a worker builds again from the file: the sets a
-- sweep hands its workers cannot change, sweep_shared.lua).
T.test("sweep_failed_trial_keeps_its_reason", function()
  local csv = root .. "/d.csv"
  local rows = { "x,y,label" }
  for i = 1, 40 do rows[#rows + 1] = string.format("%g,%g,%d", math.sin(i), math.cos(i), i % 3) end
  T.spit(csv, table.concat(rows, "\n") .. "\n")
  local d = gd.data.csv{ path = csv, target = "label", classes = true }:standardize()
  local s = spec({ backend = "local", jobs = 2, dir = dir, name = "f" })
  s.variants[2].data, s.variants[2].validation = d, nil
  s.variants[1].tune, s.variants[1].validation = nil, nil
  s.base.validation = nil
  rows[2] = "9,9,1"
  T.spit(csv, table.concat(rows, "\n") .. "\n")   -- changed after the data set was read
  local ok, err = pcall(gd.compare, s)
  assert(not ok)
  assert(tostring(err):find("2 of 4 trials did not finish: momentum%-seed1%-%x+ failed: .*its crc "
    .. "changed"), err)
  assert(tostring(err):find("to resume them, run the same command again: ", 1, true), err)
  local got, bad = sweep.collect(gd, dir .. "/f")
  T.close_number("bad", #bad, 2, 0)
  assert(bad[1].why:find("^failed: "), bad[1].why)
  local sm = got.summary[2]
  T.close_number("missing", sm.missing, 2, 0)
  T.close_number("diverged", sm.diverged, 0, 0)
  assert(sm.win_rate ~= sm.win_rate, "no pair: no win rate, got " .. tostring(sm.win_rate))
  T.close_number("reference runs", got.summary[1].n, 2, 0)
  local text = T.sh(string.format("'%s' collect '%s/f'", exe, dir))
  assert(text:find("failed: ", 1, true) and text:find("(+2 failed or missing)", 1, true), text)
  assert(not text:find("diverged", 1, true), text)
end)

-- Hostile files: read as data with size caps, never a FIFO or a device,
-- named when bad; gradus collect and gradus report cannot hang.
T.test("sweep_hostile_files_are_refused_by_name", function()
  local h = root .. "/sweeps/h"
  os.execute(string.format("cp -r '%s/s' '%s'", dir, h))
  local m = trial.read(gd, h .. "/sweep.json", 1 << 20)
  local id = m.trials[#m.trials].id
  local res = h .. "/" .. id .. "/result.json"
  os.remove(res)
  os.execute(string.format("mkfifo '%s'", res))
  local _, bad = sweep.collect(gd, h)
  assert(bad[1] and bad[1].why:find(res .. ": is a FIFO, expected a regular file", 1, true), bad[1] and bad[1].why)
  os.remove(res)
  os.execute(string.format("ln -s /dev/zero '%s'", res))
  _, bad = sweep.collect(gd, h)
  assert(bad[1].why:find("is a character device", 1, true), bad[1].why)
  os.remove(res)
  T.spit(res, "return " .. string.rep("1", 100))
  _, bad = sweep.collect(gd, h)
  assert(bad[1].why:find(res .. ": json: ", 1, true), bad[1].why)
  local cap = trial.caps.result
  T.spit(res, string.rep(" ", cap + 1))
  _, bad = sweep.collect(gd, h)
  assert(bad[1].why:find("more than the " .. cap .. " bytes", 1, true), bad[1].why)
  T.spit(res, string.rep("[", 100000))
  _, bad = sweep.collect(gd, h)
  assert(bad[1].why:find("nested more than 64 deep", 1, true), bad[1].why)
  -- the sweep file, through the command, under a time limit
  os.remove(h .. "/sweep.json")
  T.spit(h .. "/sweep.json", "while true do end")
  local out = T.sh(string.format("timeout 20 '%s' collect '%s'", exe, h))
  assert(out:find("is not a sweep directory (" .. h .. "/sweep.json: json: ", 1, true), out)
  os.remove(h .. "/sweep.json")
  os.execute(string.format("mkfifo '%s/sweep.json'", h))
  out = T.sh(string.format("timeout 20 '%s' collect '%s'; echo \"exit $?\"", exe, h))
  assert(out:find("is a FIFO", 1, true) and out:find("exit 1", 1, true), out)
  -- results.json under gradus report
  local rep = root .. "/rep"
  assert(gd._util.mkdir_p(rep))
  os.execute(string.format("mkfifo '%s/results.json'", rep))
  out = T.sh(string.format("timeout 20 '%s' report '%s'; echo \"exit $?\"", exe, rep))
  assert(out:find(rep .. "/results.json: is a FIFO", 1, true) and out:find("exit 1", 1, true), out)
  -- a trial file: gradus trial refuses it by name
  local tf = root .. "/bad/trial.json"
  assert(gd._util.mkdir_p(root .. "/bad"))
  T.spit(tf, "while true do end")
  out = T.sh(string.format("timeout 20 '%s' trial '%s'; echo \"exit $?\"", exe, tf))
  assert(out:find("failed " .. tf .. ": json: unexpected character 'w'", 1, true)
    and out:find("exit 1", 1, true), out)
end)

-- Names and paths with spaces, quotes and backslashes, the paths with
-- newlines too (gd.compare refuses a control character in a variant name).
T.test("sweep_odd_names_and_paths", function()
  local odd = root .. "/we ird 'q\" \\ \n dir"
  local names = { "s g'd \"x\" \\ 2", "mom entum" }
  local got = gd.compare(spec({ backend = "local", jobs = 2, dir = odd, name = "n 'a\"\\\nme" }, names))
  local ser = gd.compare(spec(nil, names))
  same_results(ser, got)
  assert(got.variants[1].name == names[1])
  local col = sweep.collect(gd, odd .. "/n 'a\"\\\nme")
  same_results(ser, col)
end)

-- Forks of a checkpoint: trials that name the checkpoint and its hash, so
-- a baseline trained again makes new trials, never stale reuse.
T.test("sweep_forks_follow_their_checkpoint", function()
  local ck = root .. "/base.ckpt"
  local function baseline(lr)
    gd.train{ model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.tanh{}, gd.layer.dense{ units = 3 } },
              loss = gd.loss.cross_entropy{}, data = train, epochs = 1, batch = 16, seed = 1,
              optimizer = gd.optim.sgd{ lr = lr }, progress = false, checkpoint = { path = ck, overwrite = true } }
  end
  local function forks(run)
    return { base = { epochs = 2, progress = false },
             variants = { gd.fork(ck, { name = "same" }), gd.fork(ck, { name = "slower", lr = 0.01 }) },
             repeats = 2, progress = false, run = run }
  end
  baseline(0.1)
  local a = gd.compare(forks{ jobs = 2, dir = dir, name = "forks" })
  same_results(gd.compare(forks(nil)), a)
  baseline(0.3)
  local b = gd.compare(forks{ jobs = 2, dir = dir, name = "forks" })
  same_results(gd.compare(forks(nil)), b)
  assert(b.variants[1].runs[1].metrics.train_loss ~= a.variants[1].runs[1].metrics.train_loss,
    "the second baseline's forks were not run again")
end)

T.test("sweep_trial_ids_follow_the_numbers", function()
  local base = { variant = "a b", kind = "run", seed = 3,
                 cfg = { optimizer = gd.optim.sgd{ lr = 0.1 }, data = train, epochs = 2 } }
  local id = sweep.trial_id(gd, base)
  assert(id:match("^a_b%-seed3%-%x+$"), id)
  base.cfg.progress, base.cfg.name = true, "x"
  T.close_number("same id", sweep.trial_id(gd, base) == id and 1 or 0, 1, 0)
  base.cfg.optimizer = gd.optim.sgd{ lr = 0.2 }
  assert(sweep.trial_id(gd, base) ~= id, "another lr is another trial")
  base.cfg.optimizer, base.cfg.data = gd.optim.sgd{ lr = 0.1 }, val
  assert(sweep.trial_id(gd, base) ~= id, "other data is another trial")
  base.cfg.optimizer = gd.optim.sgd{ lr = 0.1 + 2 ^ -52 }
  assert(sweep.trial_id(gd, base) ~= id, "the last bit of an lr is another trial")
end)

T.test("sweep_trial_values_round_trip_exactly", function()
  local v = { a = 0.1, b = 4, c = 4.0, d = 0 / 0, e = -math.huge, f = "x\n\"\\", g = { 1, 2.5 },
              ["$h"] = true, i = 2 ^ -1074 }
  local text = trial.encode(trial.to_data(v, "v"))
  local back = trial.from_data(nil, require("gradus.json").decode(text), "v")
  for k, x in pairs(v) do
    if x == x then
      assert(type(back[k]) == type(x), k)
      if type(x) == "number" then assert(math.type(back[k]) == math.type(x) and back[k] == x, k) end
    else assert(back[k] ~= back[k], k) end
  end
  T.close_number("g", back.g[2], 2.5, 0)
  T.expect_error("a data set built from Lua values (gd.data.tensor) cannot be written into a trial",
    trial.to_data, gd.data.tensor{ x = { { 0 }, { 1 } }, y = { 1, 2 } }, "d")
end)

-- a model with residual blocks (one with a shortcut) is the same model
-- after a trial file: the same text, the same weights from the same seed
T.test("sweep_trial_models_with_residual_blocks_round_trip", function()
  local L = gd.layer
  local net = gd.sequential{ L.dense{ units = 4 },
    gd.residual{ L.dense{ units = 4, activation = "relu" }, L.dense{ units = 4 } },
    gd.residual{ L.dense{ units = 3 }, shortcut = L.dense{ units = 3, bias = false } }, L.dense{ units = 2 } }
  local back = trial.from_data(gd, require("gradus.json").decode(trial.encode(trial.to_data(net, "m"))), "m")
  assert(tostring(back) == tostring(net), tostring(back))
  local pa, pb = net:build{ inputs = 5, seed = 3 }:params(), back:build{ inputs = 5, seed = 3 }:params()
  assert(#pa == #pb and #pa == 11, #pb)   -- the shortcut has no bias
  for i, p in ipairs(pa) do
    local a, b = p.value:totable(), pb[i].value:totable()
    assert(#a == #b, i)
    for j = 1, #a do assert(a[j] == b[j], i) end
  end
end)

T.test("sweep_rejects_bad_settings", function()
  T.expect_error('gd.compare: run: option \'backend\' must be "local" or "slurm", got the string "pbs"',
    gd.compare, spec{ backend = "pbs" })
  T.expect_error("gd.compare: run: unknown option 'jobz' (did you mean 'jobs'? options: backend, jobs, dir, "
    .. "name, partition, account, time, cpus, array_limit, resume)", gd.compare, spec{ jobz = 2 })
  T.expect_error("gd.compare: run: option 'jobs' must be an integer >= 1, got the string \"2\"", gd.compare, spec{ jobs = "2" })
  T.expect_error("gd.compare: run.name must be a file name (no '/')", gd.compare, spec{ name = "a/b" })
  local cb = spec{ dir = dir, name = "cb" }
  cb.base.on_epoch = function() end
  T.expect_error("gd.compare: variant 'sgd': on_epoch is a function, which a sweep's trial cannot carry",
    gd.compare, cb)
end)

-- Slurm options never carry a newline or a shell character into the job
-- script, and the script quotes every path.
T.test("sweep_slurm_options_and_script_quoting", function()
  T.expect_error('gd.compare: run.partition must be a partition name (letters, digits, _ . - ,), '
    .. 'got "debug\\010#SBATCH --wrap=x"', gd.compare, spec{ backend = "slurm", partition = "debug\n#SBATCH --wrap=x" })
  T.expect_error("gd.compare: run.time must be a time limit", gd.compare, spec{ backend = "slurm", time = "1;touch x" })
  T.expect_error("gd.compare: run.account must be an account name", gd.compare, spec{ backend = "slurm", account = "$(id)" })
  local out = T.sh(string.format("'%s' sweep --backend slurm --time '5`id`' x.lua", exe))
  assert(out == 'gradus: sweep: --time must be a time limit such as 30, 4:00:00 or 1-12:00:00, got "5`id`"\n', out)
  local files = { root .. "/a b/trial.json", root .. "/it's \"q\" $(x) `y` \\ \n z/trial.json", root .. "/c/trial.json" }
  local text, tasks = sweep.slurm_script({ name = "x\ny", partition = "gpu", account = "lab",
    time = "1:00:00", cpus = 2 }, files, 2, root .. "/args.sh")
  T.close_number("tasks", tasks, 2, 0)
  for _, want in ipairs({ "#SBATCH --array=0-1\n", "#SBATCH --partition=gpu\n", "#SBATCH --job-name=gradus-x_y\n",
                          "#SBATCH --account=lab\n", "#SBATCH --time=1:00:00\n",
                          "#SBATCH --cpus-per-task=2\n", "# 3 trials, 2 per array task\n" }) do
    assert(text:find(want, 1, true), "no " .. want .. " in\n" .. text)
  end
  -- the script as a task runs it: argv exactly the files
  T.spit(root .. "/args.sh", "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n")
  os.execute(string.format("chmod +x '%s/args.sh'", root))
  T.spit(root .. "/job.sh", text)
  local got = T.sh(string.format("SLURM_ARRAY_TASK_ID=0 sh '%s/job.sh'", root))
  T.close_number("argv", got == "[--threads][2][trial][" .. files[1] .. "][" .. files[2] .. "]" and 1 or 0, 1, 0)
  got = T.sh(string.format("SLURM_ARRAY_TASK_ID=1 sh '%s/job.sh'", root))
  assert(got == "[--threads][2][trial][" .. files[3] .. "]", got)
  -- a task starts gradus with OPENBLAS_NUM_THREADS=1 unless the job's environment sets it
  T.spit(root .. "/args.sh", "#!/bin/sh\nprintf '%s' \"$OPENBLAS_NUM_THREADS\"\n")
  got = T.sh(string.format("env -u OPENBLAS_NUM_THREADS SLURM_ARRAY_TASK_ID=1 sh '%s/job.sh'", root))
  assert(got == "1", got)
  got = T.sh(string.format("OPENBLAS_NUM_THREADS=3 SLURM_ARRAY_TASK_ID=1 sh '%s/job.sh'", root))
  assert(got == "3", got)
end)

T.run()
os.execute("rm -rf '" .. root .. "'")
