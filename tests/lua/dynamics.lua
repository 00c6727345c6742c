-- tests/lua/test_dynamics.lua: monitoring, divergence, diagnoses, reports.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local tmpdir = T.tmpdir

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

local function has(diags, kind)
  for _, d in ipairs(diags) do if d.kind == kind then return d end end
  return nil
end

local function kinds(diags)
  local k = {}
  for _, d in ipairs(diags) do k[#k + 1] = d.kind end
  return table.concat(k, ", ")
end

local spirals = gd.data.synthetic.spirals{ n = 400, classes = 2, noise = 0.05, seed = 3 }

local function deep(act, init, depth)
  local layers = {}
  for _ = 1, depth do
    layers[#layers + 1] = gd.layer.dense{ units = 32, init = init }
    layers[#layers + 1] = act
  end
  layers[#layers + 1] = gd.layer.dense{ units = 2 }
  return gd.sequential(layers)
end

T.test("vanishing gradients: 10 sigmoid layers are diagnosed, ReLU/He is not", function()
  local base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.1 },
                 data = spirals, epochs = 2, batch = 32, seed = 1, monitor = { every = 5 },
                 progress = false }
  base.model = deep(gd.layer.sigmoid{}, "xavier_uniform", 10)
  local run = gd.train(base)
  assert(run.status == "ok", run.status)
  assert(has(run.diagnoses, "vanishing_gradients"), "sigmoid net not diagnosed: " .. kinds(run.diagnoses))
  -- the per-layer gradient norms show it: first trained layer far below the last
  local s = run.history.steps[#run.history.steps]
  assert(s.layers[1].name == "dense1" and s.layers[1].grad_norm < 1e-3 * s.layers[#s.layers].grad_norm)
  -- sigmoid layers report saturation, dense layers do not
  assert(type(s.layers[2].saturated) == "number" and s.layers[2].saturated >= 0)
  base.model = deep(gd.layer.relu{}, "he_normal", 10)
  run = gd.train(base)
  assert(run.status == "ok", run.status)
  assert(not has(run.diagnoses, "vanishing_gradients"), "relu net diagnosed: " .. kinds(run.diagnoses))
  assert(type(run.history.steps[1].layers[2].dead) == "number")
end)

T.test("exploding run stops as diverged with the step and the layer", function()
  -- diverge = false: this run's loss explodes long before it is NaN, and
  -- what is tested here is finding the layer where a NaN appears
  local run = gd.train{ model = deep(gd.layer.relu{}, gd.init.normal{ std = 3 }, 6),
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 10 }, data = spirals,
    epochs = 5, batch = 32, seed = 1, monitor = { every = 1 }, progress = false,
    diverge = false }
  assert(run.status == "diverged", "status " .. tostring(run.status))
  assert(type(run.diverged) == "table" and math.type(run.diverged.step) == "integer")
  assert(type(run.diverged.layer) == "string" and #run.diverged.layer > 0)
  assert(type(run.diverged.what) == "string" and run.diverged.what:find("not finite"), run.diverged.what)
  assert(run.steps >= run.diverged.step)
  assert(has(run.diagnoses, "exploding_gradients"), kinds(run.diagnoses))
  -- no NaN slipped into the history
  for _, e in ipairs(run.history.epochs) do assert(e.train_loss == e.train_loss) end
end)

T.test("an over-parameterised net on 200 samples is diagnosed as overfitting", function()
  -- overlapping blobs: no boundary generalizes, so a big net memorizes the noise
  local data = gd.data.synthetic.blobs{ n = 400, classes = 2, features = 2, spread = 3, seed = 5 }
  local train, val = data:split{ validation = 200, seed = 1 }
  local run = gd.train{
    model = gd.sequential{ gd.layer.dense{ units = 256 }, gd.layer.relu{},
                           gd.layer.dense{ units = 256 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } },
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 3e-3 },
    data = train, validation = val, epochs = 60, batch = 32, seed = 1, progress = false }
  assert(run.status == "ok")
  local d = has(run.diagnoses, "overfitting")
  assert(d, "not diagnosed: " .. kinds(run.diagnoses))
  assert(d.value > 0 and d.message:find("validation loss rose"))
end)

T.test("report writes a table, CSV, JSON and plots", function()
  local train, val = spirals:split{ validation = 100, seed = 2 }
  local net = gd.sequential{ gd.layer.dense{ units = 16 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } }
  local res = gd.compare{
    base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val,
             epochs = 3, batch = 32, monitor = { every = 4 } },
    variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
                 { name = "adam", optimizer = gd.optim.adam{ lr = 1e-2 } } },
    repeats = 2, progress = false,
  }
  local dir = tmpdir() .. "/report"
  local files = gd.report(res, { dir = dir })
  -- CSV columns
  local f = assert(io.open(dir .. "/summary.csv"))
  local header = f:read("l")
  local rows = 0
  for line in f:lines() do
    rows = rows + 1
    local _, commas = line:gsub(",", "")
    assert(commas == select(2, header:gsub(",", "")), "summary.csv: ragged row " .. line)
  end
  f:close()
  assert(header:find("^variant,n,diverged,metric,mean,std,ci95"), header)
  assert(rows == 8, rows)
  f = assert(io.open(dir .. "/history.csv"))
  header = f:read("l")
  local epochs, steps = 0, 0
  for line in f:lines() do
    if line:find(",epoch,") then epochs = epochs + 1 elseif line:find(",step,") then steps = steps + 1 end
  end
  f:close()
  assert(header:find("layer_grad_norm") and epochs == 2 * 2 * 3 and steps > 0, header)
  -- JSON parses (decoded here with a strict little reader)
  f = assert(io.open(dir .. "/results.json"))
  local doc = T.json_decode(f:read("a"))
  f:close()
  assert(doc.manifest.gradus_version == gd.version)
  assert(#doc.manifest.plugins > 0 and doc.manifest.plugins[1].sha256:match("^%x+$"))
  assert(doc.manifest.blas:match("^onednn %(oneDNN") or doc.manifest.blas:match("^openblas %(OpenBLAS"))
  assert(#doc.variants == 2 and #doc.variants[1].runs == 2)
  assert(doc.summary[2].name == "adam" and type(doc.summary[2].win_rate) == "number")
  -- PNGs: signature, IHDR size, plausible file size
  local pngs = 0
  for _, name in ipairs({ "loss", "accuracy", "lr", "grad_norms", "update_ratios" }) do
    local p = io.open(dir .. "/" .. name .. ".png", "rb")
    assert(p, name .. ".png missing")
    local data = p:read("a")
    p:close()
    assert(data:sub(1, 8) == "\137PNG\r\n\26\n", name .. ".png: not a PNG")
    local w, h = string.unpack(">I4>I4", data, 17)
    assert(w >= 400 and h >= 300, name .. ".png: " .. w .. "x" .. h)
    assert(#data > 5000, name .. ".png: only " .. #data .. " bytes")
    local svg = assert(io.open(dir .. "/" .. name .. ".svg"))
    assert(svg:read("a"):find("<svg"), name .. ".svg")
    svg:close()
    pngs = pngs + 1
  end
  assert(pngs == 5 and #files >= 13)
  -- no temporary files left
  local ls = io.popen("ls '" .. dir .. "'"):read("a")
  assert(not ls:find("%.tmp"), ls)
  rm_rf(dir:match("^(.*)/report$"))
end)

T.test("a report into a directory that cannot be created fails and writes nothing", function()
  local base = tmpdir()
  local f = assert(io.open(base .. "/file", "w"))
  f:write("x")
  f:close()
  local res = { summary = { { name = "a", n = 1, diverged = 0, mean = {}, std = {}, ci95 = {}, diff = {}, diff_ci95 = {} } },
                variants = { { name = "a", runs = {} } }, repeats = 1, seeds = { 1 } }
  local ok, err = pcall(gd.report, res, { dir = base .. "/file/sub" })
  assert(not ok and tostring(err):find("cannot create directory"), tostring(err))
  local ls = io.popen("ls -A '" .. base .. "'"):read("a")
  assert(ls == "file\n", "left behind: " .. ls)
  rm_rf(base)
end)

T.test("without gnuplot the data files are written and one line says why", function()
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local dir = tmpdir()
  local f = assert(io.open(dir .. "/r.lua", "w"))
  f:write(([[
local gd = require "gradus"
local d = gd.data.synthetic.xor{ n = 64, seed = 1 }
local res = gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } },
  loss = gd.loss.cross_entropy{}, data = d, epochs = 2, batch = 16 }, progress = false,
  variants = { { name = "sgd", optimizer = gd.optim.sgd{} } } }
gd.report(res, { dir = "%s/out" })
]]):format(dir))
  f:close()
  -- an empty PATH hides gnuplot (and everything else) from the child
  local out = io.popen(("PATH=/nonexistent '%s' run '%s/r.lua' 2>&1; echo \"rc=$?\""):format(exe, dir)):read("a")
  assert(out:find("rc=0"), out)
  assert(out:find("no plots: gnuplot is not installed %(Debian package gnuplot%-nox%)"), out)
  for _, name in ipairs({ "summary.csv", "history.csv", "results.json" }) do
    assert(io.open(dir .. "/out/" .. name), name .. " missing")
  end
  assert(not io.open(dir .. "/out/loss.png"), "a plot without gnuplot?")
  rm_rf(dir)
end)

T.test("gd.plot draws a script's own curves", function()
  local dir = tmpdir()
  local out = gd.plot{ series = { { x = { 1, 2, 3 }, y = { 1, 0.1, 0.01 }, label = "decay" } },
                       logy = true, title = "t", file = dir .. "/p.png" }
  local p = assert(io.open(out, "rb"))
  assert(p:read(8) == "\137PNG\r\n\26\n")
  p:close()
  assert(not pcall(gd.plot, { series = {}, file = dir .. "/q.png" }))
  rm_rf(dir)
end)

T.run()
