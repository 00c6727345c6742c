-- tests/lua/sweep_procs.lua: a sweep's processes (lua/sweep.lua,
-- lua/lsweep.c): workers die with the sweep when its pid is killed
-- (SIGTERM, SIGINT, SIGKILL), the message says how to resume and that
-- works; a second sweep into a running one's directory is refused at once;
-- a full disk leaves a trial unfinished with its reason. Every wait is
-- bounded. The user's script's side is sweep_script.lua.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local trial = require "gradus.trial"

local root = T.sweep_root()
local exe = os.getenv("GRADUS_EXE")
local exists = T.exists

local q, wait_for, alive = T.quote, T.wait_for, T.alive
local function start(base, cmd) return T.background(root, base, cmd) end

-- The pids of the workers holding trials under dir (their trial.lock files).
local function worker_pids(dir)
  local pids = {}
  local ls = io.popen("ls " .. q(dir) .. " 2>/dev/null")
  for id in ls:lines() do
    local lock = T.slurp(dir .. "/" .. id .. "/trial.lock")
    local pid = lock and tonumber(lock:match("^(%d+) "))
    if pid then pids[#pids + 1] = pid end
  end
  ls:close()
  return pids
end

local function any_checkpoint(dir)
  local ls = io.popen("ls " .. q(dir) .. " 2>/dev/null")
  local found
  for id in ls:lines() do
    if exists(dir .. "/" .. id .. "/run.ckpt") and not exists(dir .. "/" .. id .. "/DONE") then found = id end
  end
  ls:close()
  return found
end

-- Two trials of about a second or more each, checkpointed every epoch;
-- every run printed with where it resumed from.
T.spit(root .. "/long.lua", [[
local gd = require "gradus"
local d = gd.data.synthetic.spirals{ n = 1200, classes = 3, seed = 1 }
local r = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 128 }, gd.layer.tanh{},
             gd.layer.dense{ units = 128 }, gd.layer.tanh{}, gd.layer.dense{ units = 3 } },
           loss = gd.loss.cross_entropy{}, data = d, epochs = 40, batch = 8, seed = 1,
           -- every epoch (a trial's default is at most one a minute)
           checkpoint = { path = "ck/long.ckpt", every = { epochs = 1 }, overwrite = true } },
  variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.02 } } },
  repeats = 2 }
for i, run in ipairs(r.variants[1].runs) do
  print(string.format("run %d %s %.17g", i, run.resumed_from and "resumed" or "fresh",
    run.metrics.train_loss))
end
]])

local signals = { TERM = 15, INT = 2, KILL = 9 }

local function killed_sweep(sig)
  local name = "k" .. sig
  local dir = root .. "/sweeps/" .. name
  local base = root .. "/" .. name
  local pid = start(base, string.format("%s sweep --jobs 2 --name %s long.lua", q(exe), name))
  local ckpt = wait_for("a trial's first checkpoint", function() return any_checkpoint(dir) end, 60)
  local workers = wait_for("the workers' locks", function()
    local p = worker_pids(dir)
    return #p > 0 and p
  end, 10)
  if sig == "TERM" then
    -- a second sweep into the directory is refused at once, naming the
    -- holder, and touches none of the first's files (the first is paused
    -- meanwhile: its own workers would otherwise grow the logs)
    local paused = table.concat(workers, " ") .. " " .. pid
    os.execute("kill -STOP " .. paused)
    local logs = T.sh(string.format("ls -l %s/*/log", q(dir)))
    local out = T.sh(string.format("cd %s && timeout 20 %s sweep --jobs 2 --name %s long.lua; echo \"exit $?\"",
      q(root), q(exe), name))
    local after = T.sh(string.format("ls -l %s/*/log", q(dir)))
    os.execute("kill -CONT " .. paused)   -- before any assertion can end the test
    assert(out:find("gd.compare: sweep: sweeps/" .. name .. ": in use by process " .. pid
      .. " (sweeps/" .. name .. ".lock, host " .. gd._util.hostname() .. ")", 1, true), out)
    assert(out:find("exit 1\n", 1, true), out)
    assert(after == logs, "the second sweep touched the logs")
  end
  os.execute(string.format("kill -%s %d", sig, pid))
  local rc = tonumber(wait_for("the sweep to end", function() return T.slurp(base .. ".rc") end, 20))
  T.close_number("exit status", rc, 128 + signals[sig], 0)
  wait_for("every worker to end", function()
    for _, w in ipairs(workers) do if alive(w) then return false end end
    return true
  end, 20)
  return dir, base, ckpt
end

-- Workers get the environment entries the sweep adds (OPENBLAS_NUM_THREADS=1,
-- so that no OpenBLAS thread spins beside them) where the environment does
-- not set the name already; malformed entries are refused before any starts.
T.test("sweep_workers_get_the_added_environment", function()
  local lines = {}
  local cmd = { "/bin/sh", "-c", 'echo "[$GRADUS_TEST_ADDED] [$HOME]"' }
  local st = gd._util.spawn_workers({ cmd, cmd }, function(l) lines[#lines + 1] = l end,
    { "GRADUS_TEST_ADDED=a b=c", "HOME=/not/home" })
  assert(st[1] == 0 and st[2] == 0 and #lines == 2, table.concat(lines, "; "))
  local want = "[a b=c] [" .. os.getenv("HOME") .. "]"
  assert(lines[1] == want and lines[2] == want, lines[1] .. " vs " .. want)
  T.expect_error("spawn_workers: environment entry 1 is not NAME=value",
    gd._util.spawn_workers, { cmd }, function() end, { "=x" })
  T.expect_error("spawn_workers: environment entry 2 is not NAME=value",
    gd._util.spawn_workers, { cmd }, function() end, { "A=1", "no equals sign" })
end)

T.test("sweep_sigterm_stops_workers_and_resume_works", function()
  local dir, base, ckpt = killed_sweep("TERM")
  local err = T.slurp(base .. ".err")
  assert(err:find("gradus: gd.compare: sweep sweeps/kTERM interrupted by SIGTERM: 0 of 2 trials done, "
    .. "the others keep their checkpoints; resume them with the same command: ", 1, true), err)
  assert(exists(dir .. "/" .. ckpt .. "/run.ckpt") and not exists(dir .. "/" .. ckpt .. "/DONE"))
  -- the advised command resumes: the checkpointed trial goes on from it
  local cmd = err:match("resume them with the same command: ([^\n]+)")
  local out = T.sh(string.format("cd %s && %s 2>/dev/null", q(root), cmd))
  local resumed = 0
  for from in out:gmatch("run %d ([^ ]+) ") do if from == "resumed" then resumed = resumed + 1 end end
  assert(resumed >= 1, out)
  local serial = T.sh(string.format("cd %s && %s --threads 1 run long.lua 2>/dev/null", q(root), q(exe)))
  assert(serial:gsub("run (%d) [^ ]+ ", "run %1 ") == out:gsub("run (%d) [^ ]+ ", "run %1 "),
    "resumed " .. out .. " vs serial " .. serial)
end)

T.test("sweep_sigint_and_sigkill_leave_no_worker", function()
  local _, base = killed_sweep("INT")
  assert(T.slurp(base .. ".err"):find("interrupted by SIGINT", 1, true))
  killed_sweep("KILL")
end)

-- A full disk: the trial stays unfinished, its reason recorded, no DONE;
-- the next run finishes it. On a small tmpfs when it can be mounted here,
-- and with an injected ENOSPC in any case.
T.test("sweep_full_disk_leaves_the_trial_unfinished", function()
  local src = root .. "/sweeps/small"
  local blobs = gd.data.synthetic.blobs{ n = 64, classes = 2, seed = 1 }
  gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } }, loss = gd.loss.cross_entropy{},
                       data = blobs, epochs = 2, batch = 16, progress = false },
              variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } } }, progress = false,
              run = { jobs = 1, dir = root .. "/sweeps", name = "small" } }
  local m = assert(trial.read(gd, src .. "/sweep.json", 1 << 20))
  local id = m.trials[1].id
  local want = assert(trial.load(gd, src .. "/" .. id))
  local function fresh(at)
    assert(gd._util.mkdir_p(at))
    T.spit(at .. "/trial.json", T.slurp(src .. "/" .. id .. "/trial.json"))
    return at .. "/trial.json"
  end
  -- injected: the first synced write (history.json) fails
  local f = fresh(root .. "/inj/" .. id)
  local out = T.sh(string.format("GRADUS_TEST_ENOSPC=1 %s trial %s; echo \"exit $?\"", q(exe), q(f)))
  assert(out:find("failed " .. id .. ": cannot write " .. root .. "/inj/" .. id
    .. "/history.json: No space left on device", 1, true) and out:find("exit 1", 1, true), out)
  assert(not exists(root .. "/inj/" .. id .. "/DONE") and not exists(root .. "/inj/" .. id .. "/result.json"))
  local _, why = trial.load(gd, root .. "/inj/" .. id)
  assert(why:find("^failed: cannot write .*No space left on device$"), why)
  out = T.sh(string.format("%s trial %s", q(exe), q(f)))
  assert(out == "done " .. id .. "\n", out)
  local got = trial.load(gd, root .. "/inj/" .. id)
  T.close_number("train_loss after the rerun", got.metrics.train_loss, want.metrics.train_loss, 0)
  -- a real full file system, when this machine lets us mount one
  local mnt = root .. "/mnt"
  assert(gd._util.mkdir_p(mnt))
  if os.execute(string.format("mount -t tmpfs -o size=256k tmpfs %s 2>/dev/null", q(mnt))) then
    local ok, e = pcall(function()
      f = fresh(mnt .. "/" .. id)
      -- full but for two pages: the trial's lock and log, not its checkpoint
      os.execute(string.format("dd if=/dev/zero of=%s bs=4k 2>/dev/null; truncate -s -8K %s",
        q(mnt .. "/fill"), q(mnt .. "/fill")))
      out = T.sh(string.format("%s trial %s; echo \"exit $?\"", q(exe), q(f)))
      assert(out:find("failed " .. id .. ": ", 1, true) and out:find("No space left on device", 1, true)
        and out:find("exit 1", 1, true), out)
      assert(not exists(mnt .. "/" .. id .. "/DONE"))
      os.remove(mnt .. "/fill")
      out = T.sh(string.format("%s trial %s", q(exe), q(f)))
      assert(out == "done " .. id .. "\n", out)
      got = trial.load(gd, mnt .. "/" .. id)
      T.close_number("train_loss on tmpfs", got.metrics.train_loss, want.metrics.train_loss, 0)
    end)
    os.execute(string.format("umount %s", q(mnt)))
    assert(ok, e)
  else
    print("note   tmpfs cannot be mounted here: the injected ENOSPC above stands for it")
  end
end)

T.run()
os.execute("rm -rf " .. q(root))
