-- tests/lua/deep_models.lua: a model of 200 layers prints, summarizes,
-- trains, reports and saves (printing one once read the Lua stack under an
-- open string buffer: garbage at 40 layers, a crash in gd.report at 13);
-- a gd.report that fails leaves no lock and no temporary directory.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local root = T.tmpdir()

local function deep(pairs_)
  local layers = {}
  for _ = 1, pairs_ do
    layers[#layers + 1] = gd.layer.dense{ units = 3, init = "he_normal" }
    layers[#layers + 1] = gd.layer.relu{}
  end
  layers[#layers + 1] = gd.layer.dense{ units = 2 }
  return gd.sequential(layers)
end

local net = deep(100)   -- 201 layers
local blobs = gd.data.synthetic.blobs{ n = 40, classes = 2, seed = 1 }
local train, val = blobs:split{ validation = 10, seed = 1 }

T.test("a 201-layer sequential prints every layer", function()
  assert(#net == 201, #net)
  local s = tostring(net)
  assert(s:sub(1, 12) == "sequential{ " and s:sub(-2) == " }", s:sub(1, 40) .. " ... " .. s:sub(-40))
  local _, dense = s:gsub("dense{", "")
  local _, relu = s:gsub("relu{", "")
  assert(dense == 101 and relu == 100, ("%d dense, %d relu in %s"):format(dense, relu, s:sub(1, 200)))
  assert(s == tostring(net), "printing twice differs")
end)

T.test("its summary lists every layer and the total", function()
  local m = net:build{ inputs = 2, seed = 1 }
  local sum = m:summary()
  local text = tostring(sum)
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  assert(#lines == 1 + 201 + 1, #lines .. " lines")
  assert(lines[#lines] == "total parameters: " .. sum.params, lines[#lines])
  -- 2->3 (9), 99 x 3->3 (12), 3->2 (8)
  assert(sum.params == 9 + 99 * 12 + 8, sum.params)
  assert(lines[2]:find("^dense"), lines[2])
end)

T.test("it trains, reports and saves; the saved model loads with every layer", function()
  local res = gd.compare{
    base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = 1,
             batch = 10, monitor = { every = 2 }, quiet_diagnoses = true,
             checkpoint = { path = root .. "/ckpt/run.ckpt" } },
    variants = { { name = "deep", optimizer = gd.optim.sgd{ lr = 0.01 } } }, repeats = 1, progress = false,
  }
  assert(#res.variants[1].runs == 1)
  local saved = io.output()
  io.output(os.tmpname())
  local ok, files = pcall(gd.report, res, { dir = root .. "/rep", plots = false })
  io.output():close()
  io.output(saved)
  assert(ok, files)
  local doc = T.json_decode(T.slurp(root .. "/rep/results.json"))
  assert(doc.variants[1].config.model:find("sequential{ dense", 1, true), tostring(doc.variants[1].config.model))
  local run = gd.train{ model = net, loss = gd.loss.cross_entropy{}, data = train, epochs = 1, batch = 10,
                        optimizer = gd.optim.sgd{ lr = 0.01 }, progress = false, quiet_diagnoses = true }
  run.model:save(root .. "/deep.gdm")
  local back = gd.load_model(root .. "/deep.gdm")
  assert(tostring(back) == tostring(run.model), tostring(back))
  assert(tostring(back):find("^model: 201 layers"), tostring(back))
end)

T.test("a gd.report that fails part way leaves no lock and no temporary directory", function()
  local v = { name = "x", runs = { { seed = 1, status = "ok", metrics = { train_loss = 1 }, history = { epochs = {} } } },
              config = { bad = setmetatable({}, { __tostring = function() error("a broken option") end }) } }
  local res = { variants = { v }, summary = { { name = "x", n = 1, diverged = 0, mean = {}, ci95 = {}, std = {},
                diff = {}, diff_ci95 = {} } } }
  local saved = io.output()
  io.output(os.tmpname())
  local ok, err = pcall(gd.report, res, { dir = root .. "/broken", plots = false })
  io.output():close()
  io.output(saved)
  assert(not ok and tostring(err):find("a broken option", 1, true), tostring(err))
  local left = T.sh("ls -A '" .. root .. "'")
  assert(not left:find("broken"), "left behind: " .. left)
  -- what a killed writer leaves, the next report clears
  T.spit(root .. "/broken.lock", "")
  assert(gd._util.mkdir_p(root .. "/broken.tmp-999999-0/x"))
  v.config = {}
  io.output(os.tmpname())
  ok, err = pcall(gd.report, res, { dir = root .. "/broken", plots = false })
  io.output():close()
  io.output(saved)
  assert(ok, err)
  left = T.sh("ls -A '" .. root .. "'")
  assert(not left:find("broken%.") and left:find("broken\n"), "left behind: " .. left)
end)

T.run()
os.execute("rm -rf '" .. root .. "'")
