-- tests/lua/slurm.lua: the Slurm sweep backend on the real one-node Slurm
-- that tests/slurm.sh starts: a 2-variant x 2-seed sweep through sbatch
-- (packed two trials to an array task) equals the local backend's, and a
-- task that fails is named with its log and done by the rerun.
--
-- Workers run this script again (GRADUS_SWEEP_TRIAL): the sweeps' cases
-- come first, and the directory is found from that variable.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local sweep = require "gradus.sweep"

local root = T.sweep_root()

-- The adam seed-6 trial fails the first time it runs under Slurm.
local failer = T.fault_once("/slurm/adam%-seed6%-", 1, function()
  error("a failure for the test")
end)

local data = gd.data.synthetic.blobs{ n = 64, classes = 3, seed = 2 }
local function spec(run)
  return {
    base = { model = gd.sequential{ gd.layer.dense{ units = 6 }, gd.layer.relu{},
                                    gd.layer.dense{ units = 3 } },
             loss = gd.loss.cross_entropy{}, data = data, epochs = 3, batch = 16, seed = 5,
             progress = false, on_epoch = failer },
    variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
                 { name = "adam", optimizer = gd.optim.adam{ lr = 0.01 } } },
    repeats = 2, progress = false, run = run,
  }
end

local dir = root .. "/sweeps"
local slurm_run = { backend = "slurm", dir = dir, name = "slurm", partition = "debug",
                    time = "5", array_limit = 1 + 1 }
local on_slurm, here

T.test("slurm_failed_task_is_named_and_rerun", function()
  local ok, err = pcall(gd.compare, spec(slurm_run))
  assert(not ok, "the failing trial must fail the sweep")
  assert(tostring(err):find("1 of 4 trials did not finish: adam%-seed6%-%x+ unfinished %(log: "
    .. dir .. "/slurm/adam%-seed6%-%x+/log%)"), err)
  assert(tostring(err):find("; the array tasks' output: " .. dir .. "/slurm/slurm%-%d+_%*%.out$"), err)
  local log = io.open(tostring(err):match("%(log: ([^)]+)%)")):read("a")
  assert(log:find("a failure for the test", 1, true), log)
  on_slurm = gd.compare(spec(slurm_run))
end)

T.test("slurm_equals_local", function()
  here = gd.compare(spec{ backend = "local", jobs = 2, dir = dir, name = "local" })
  for i, v in ipairs(here.variants) do
    for r, run in ipairs(v.runs) do
      local o = on_slurm.variants[i].runs[r]
      T.close_number(v.name .. " train_loss", o.metrics.train_loss, run.metrics.train_loss, 0)
      for e, ep in ipairs(run.history.epochs) do
        T.close_number("epoch loss", o.history.epochs[e].train_loss, ep.train_loss, 0)
      end
    end
  end
end)

T.test("slurm_script_packs_trials_and_passes_options", function()
  local text, tasks = sweep.slurm_script({ name = "x", path = "d/x", partition = "gpu",
    account = "lab", time = "1:00:00", cpus = 2 }, "d/x/list", 5, 2)
  T.close_number("tasks", tasks, 2, 0)
  for _, want in ipairs({ "#SBATCH --array=0-1\n", "#SBATCH --partition=gpu\n",
                          "#SBATCH --account=lab\n", "#SBATCH --time=1:00:00\n",
                          "#SBATCH --cpus-per-task=2\n", "# 5 trials, 3 per array task\n",
                          "#SBATCH --output=d/x/slurm-%A_%a.out\n" }) do
    assert(text:find(want, 1, true), "no " .. want .. " in\n" .. text)
  end
  local logs = io.popen("ls " .. dir .. "/slurm"):read("a")
  assert(logs:find("slurm%-%d+_0%.out") and logs:find("slurm%-%d+_1%.out"), logs)
end)

T.run()
os.execute("rm -rf " .. root)
