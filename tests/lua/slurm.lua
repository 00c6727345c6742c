-- tests/lua/slurm.lua: the Slurm sweep backend on the real one-node Slurm
-- that tests/slurm.sh starts: a 2-variant x 2-seed sweep through sbatch
-- (packed two trials to an array task, each task `gradus trial FILE...`)
-- equals the local backend's, a task whose trials fail is named with its
-- reason and log and done by the rerun, and a sweep interrupted while it
-- follows its job cancels the job.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local root = T.sweep_root()

-- The adam variant's data: a CSV file changed after it was read makes its
-- trials fail the first time (the worker finds other data than planned).
local csv = root .. "/d.csv"
local rows = { "a,b,label" }
for i = 1, 48 do rows[#rows + 1] = string.format("%g,%g,%d", math.sin(i), math.cos(3 * i), i % 3) end
local function write_csv() T.spit(csv, table.concat(rows, "\n") .. "\n") end
write_csv()
local adam_data = gd.data.csv{ path = csv, target = "label", classes = true }

local data = gd.data.synthetic.blobs{ n = 64, classes = 3, seed = 2 }
local function spec(run)
  return {
    base = { model = gd.sequential{ gd.layer.dense{ units = 6 }, gd.layer.relu{},
                                    gd.layer.dense{ units = 3 } },
             loss = gd.loss.cross_entropy{}, data = data, epochs = 3, batch = 16, seed = 5,
             progress = false },
    variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
                 { name = "adam", optimizer = gd.optim.adam{ lr = 0.01 }, data = adam_data } },
    repeats = 2, progress = false, run = run,
  }
end

local dir = root .. "/sweeps"
local slurm_run = { backend = "slurm", dir = dir, name = "slurm", partition = "debug",
                    time = "5", array_limit = 1 + 1 }
local on_slurm

T.test("slurm_failed_task_is_named_and_rerun", function()
  local saved = rows[2]
  rows[2] = "9,9,1"
  write_csv()
  local ok, err = pcall(gd.compare, spec(slurm_run))
  rows[2] = saved
  write_csv()
  assert(not ok, "the failing trials must fail the sweep")
  assert(tostring(err):find("2 of 4 trials did not finish: adam%-seed5%-%x+ failed: .*its crc changed.* %(log: "
    .. dir .. "/slurm/adam%-seed5%-%x+/log%)"), err)
  assert(tostring(err):find("; the array tasks' output: " .. dir .. "/slurm/slurm%-%d+_%*%.out$"), err)
  local log = io.open(tostring(err):match("%(log: ([^)]+)%)")):read("a")
  assert(log:find("its crc changed", 1, true), log)
  on_slurm = gd.compare(spec(slurm_run))
end)

T.test("slurm_equals_local", function()
  local here = gd.compare(spec{ backend = "local", jobs = 2, dir = dir, name = "local" })
  for i, v in ipairs(here.variants) do
    for r, run in ipairs(v.runs) do
      local o = on_slurm.variants[i].runs[r]
      T.close_number(v.name .. " train_loss", o.metrics.train_loss, run.metrics.train_loss, 0)
      for e, ep in ipairs(run.history.epochs) do
        T.close_number("epoch loss", o.history.epochs[e].train_loss, ep.train_loss, 0)
      end
    end
  end
  local logs = io.popen("ls " .. dir .. "/slurm"):read("a")
  assert(logs:find("slurm%-%d+_0%.out") and logs:find("slurm%-%d+_1%.out"), logs)
end)

-- Ctrl-C while the sweep follows its job: the job is cancelled (its tasks
-- got SIGTERM and checkpointed), not left running for a sweep that ended,
-- and the message says so and how to resume.
T.test("slurm_interrupted_sweep_cancels_its_job", function()
  local q = T.quote
  T.spit(root .. "/long.lua", [[
local gd = require "gradus"
local data = gd.data.synthetic.blobs{ n = 4096, classes = 3, seed = 2 }
gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 6 }, gd.layer.relu{}, gd.layer.dense{ units = 3 } },
           loss = gd.loss.cross_entropy{}, data = data, epochs = 100000, batch = 16, seed = 5 },
  variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } } }, repeats = 2,
  run = { backend = "slurm", dir = "sweeps", name = "cancelled", partition = "debug", time = "5" } }
]])
  local base = root .. "/cancelled"
  local pid = T.background(root, base, q(os.getenv("GRADUS_EXE")) .. " run long.lua")
  local dir = root .. "/sweeps/cancelled"
  local job = T.wait_for("the job's id", function()
    return (T.slurp(base .. ".err") or ""):match("slurm job (%d+), 2 array tasks")
  end, 30)
  -- both tasks training: each trial's log has its first line
  local logs = T.wait_for("both trials to start", function()
    local found = {}
    for id in T.sh("ls " .. q(dir)):gmatch("sgd%-seed%d%-%x+") do
      if (T.slurp(dir .. "/" .. id .. "/log") or ""):find("gradus trial") then found[#found + 1] = id end
    end
    return #found == 2 and found
  end, 60)
  os.execute("sleep 1")
  os.execute("kill -INT " .. pid)
  local rc = tonumber(T.wait_for("the sweep to end", function() return T.slurp(base .. ".rc") end, 90))
  local err = T.slurp(base .. ".err")
  T.close_number("exit status", rc, 128 + 2, 0)
  assert(err:find("gradus: gd.compare: sweep sweeps/cancelled interrupted by SIGINT: slurm job " .. job
    .. " cancelled; 0 of 2 trials done, the others keep their checkpoints; resume them with the same "
    .. "command: ", 1, true), err)
  assert(err:find("sweep sweeps/cancelled: cancelling slurm job " .. job .. " (scancel " .. job .. ")", 1, true), err)
  assert(not T.sh("squeue -h -r -j " .. job .. " -o %i"):match("%d"), "the job is still queued")
  for _, id in ipairs(logs) do
    local log = T.slurp(dir .. "/" .. id .. "/log")
    assert(log:find("interrupted by SIGTERM after step %d+"), log)
    assert(T.exists(dir .. "/" .. id .. "/run.ckpt") and not T.exists(dir .. "/" .. id .. "/DONE"), id)
  end
end)

T.run()
os.execute("rm -rf " .. root)
