-- tests/lua/sweep_script.lua: under a sweep the user's script runs once
-- (lua/sweep.lua: trials are data, workers never run it): its side effects,
-- a serial comparison before the sweep's, --dir and --name, the advised
-- --resume, and scripts/switch_optimizer.lua (forks of a baseline the
-- script trains) under gradus sweep --jobs 2.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local root = T.sweep_root()
local exe = os.getenv("GRADUS_EXE")
local exists = T.exists

local q = T.quote

-- The user's script runs once: its side effects, a serial comparison
-- before the sweep's, and --dir / --name.
T.spit(root .. "/twice.lua", [[
local gd = require "gradus"
local f = io.open("side-effects.txt", "a"); f:write("ran\n"); f:close()
local d = gd.data.synthetic.blobs{ n = 64, classes = 2, seed = 1 }
local base = { model = gd.sequential{ gd.layer.dense{ units = 2 } }, loss = gd.loss.cross_entropy{},
               data = d, epochs = 2, batch = 16, progress = false }
local variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
                   { name = "adam", optimizer = gd.optim.adam{ lr = 0.01 } } }
local a = gd.compare{ base = base, variants = variants, repeats = 1, progress = false }
local b = gd.compare{ base = base, variants = variants, repeats = 2, progress = false,
                      run = { jobs = 2 } }
print(string.format("%.17g %.17g", a.summary[2].mean.train_loss, b.summary[2].mean.train_loss))
]])

T.test("sweep_runs_the_script_once", function()
  local function count() return select(2, (T.slurp(root .. "/side-effects.txt") or ""):gsub("ran\n", "")) end
  local serial = T.sh(string.format("cd %s && GRADUS_THREADS=1 %s run twice.lua 2>/dev/null", q(root), q(exe)))
  os.execute("rm -rf " .. q(root .. "/sweeps/twice"))
  T.spit(root .. "/side-effects.txt", "")
  local swept = T.sh(string.format("cd %s && %s run twice.lua", q(root), q(exe)))
  assert(swept == serial, swept .. " vs " .. serial)
  T.close_number("side effects under gradus run", count(), 1, 0)
  T.spit(root .. "/side-effects.txt", "")
  local odd = "d i'r"
  swept = T.sh(string.format("cd %s && %s sweep --jobs 2 --dir %s --name N twice.lua 2>/dev/null",
    q(root), q(exe), q(odd)))
  assert(swept == serial, swept .. " vs " .. serial)
  T.close_number("side effects under gradus sweep", count(), 1, 0)
  assert(exists(root .. "/" .. odd .. "/N/sweep.json") and exists(root .. "/" .. odd .. "/N-2/sweep.json"))
  local again = T.sh(string.format("cd %s && %s sweep --resume --dir %s --name N twice.lua 2>/dev/null",
    q(root), q(exe), q(odd)))
  assert(again == serial, again)
  local none = T.sh(string.format("cd %s && %s sweep --resume --dir elsewhere twice.lua", q(root), q(exe)))
  assert(none:find("gd.compare: sweep --resume: no sweep at elsewhere/twice to resume", 1, true), none)
end)

-- A plugin given with -l: the workers get it with -l too (a trial file
-- names its plugins but never makes a worker load one).
T.test("sweep_workers_load_the_sweeps_plugins", function()
  local fix = os.getenv("GRADUS_FIXTURE_DIR") .. "/fixture_good.so"
  T.spit(root .. "/plug.lua", [[
local gd = require "gradus"
local d = gd.data.synthetic.blobs{ n = 64, classes = 2, seed = 1 }
local r = gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } },
  loss = gd.loss.cross_entropy{}, data = d, epochs = 2, batch = 16, progress = false },
  variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
               { name = "fixture", optimizer = gd.optim.fixture_opt{ lr = 0.1, scale = 0.5 } } },
  repeats = 2, progress = false }
print(string.format("%.17g", r.summary[2].mean.train_loss))
]])
  local serial = T.sh(string.format("cd %s && %s -l %s --threads 1 run plug.lua", q(root), q(exe), q(fix)))
  local swept = T.sh(string.format("cd %s && %s -l %s sweep --jobs 2 plug.lua 2>&1", q(root), q(exe), q(fix)))
  assert(swept:find(serial, 1, true) and serial:match("^%d"), swept .. " vs " .. serial)
  -- by hand, without the plugin: refused by name, nothing loaded
  local files = T.sh(string.format("ls %s/sweeps/plug/*/trial.json", q(root)))
  local one = files:match("[^\n]+fixture[^\n]+")
  assert(one, files)
  os.remove(one:match("^(.*)/trial.json$") .. "/DONE")
  local out = T.sh(string.format("%s trial %s; echo \"exit $?\"", q(exe), q(one)))
  assert(out:find("the trial needs the plugin " .. gd._util.realpath(fix) .. ", which this gradus has not loaded", 1, true)
    and out:find("exit 1", 1, true), out)
end)

-- scripts/switch_optimizer.lua: a baseline trained by the script, then
-- forks of its checkpoint compared; under gradus sweep --jobs 2 the
-- baseline is trained once, by the script, and the forks are trials.
T.test("sweep_switch_optimizer_script", function()
  local script = gd._util.realpath(arg[0]:match("^(.-)[^/]*$") .. "../../scripts/switch_optimizer.lua")
  local data = T.fashion_mnist{ split = "train", limit = 10 }
  if not data then return end
  local out = T.sh(string.format("cd %s && %s sweep --jobs 2 %s 1 2 300; echo \"exit $?\"", q(root), q(exe),
    q(script)))
  assert(out:find("exit 0\n", 1, true), out)
  local _, n = out:gsub("SGD for 1 epochs", "")
  T.close_number("baselines trained", n, 1, 0)
  assert(exists(root .. "/out/switch_optimizer/index.html"), out)
end)

T.run()
os.execute("rm -rf " .. q(root))
