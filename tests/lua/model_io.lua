-- tests/lua/model_io.lua: run.model:save(path) and gd.load_model(path).

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local data = gd.data.synthetic.spirals{ n = 300, classes = 3, noise = 0.1, seed = 2 }
local train, val = data:split{ validation = 60, seed = 2 }
local net = gd.sequential{
  gd.layer.dense{ units = 16, init = "he_normal" }, gd.layer.batchnorm{ eps = 1e-3 },
  gd.layer.relu{}, gd.layer.dropout{ rate = 0.2 }, gd.layer.dense{ units = 3 } }

local run = gd.train{ model = net, loss = gd.loss.cross_entropy{},
                      optimizer = gd.optim.adam{ lr = 0.01 }, data = train, validation = val,
                      epochs = 3, batch = 32, seed = 4, progress = false }

-- A fresh path in the temp dir; its files are removed by cleanup().
local base = os.tmpname()
local made = { base }
local function path(name)
  local p = base .. "-" .. name
  made[#made + 1] = p
  return p
end
local function cleanup()
  for _, p in ipairs(made) do os.remove(p); os.remove(p .. ".tmp") end
end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local function same_tensor(what, a, b)
  assert(table.concat(a:shape(), "x") == table.concat(b:shape(), "x"), what .. ": shapes differ")
  for i = 1, #a do
    if a[i] ~= b[i] then
      error(("%s: element %d is %.9g after loading, %.9g before"):format(what, i, b[i], a[i]), 2)
    end
  end
end

T.test("test_model_io_round_trip", function()
  assert(run.status == "ok")
  local p = path("model.gdm")
  run.model:save(p)
  assert(exists(p) and not exists(p .. ".tmp"))
  local m = gd.load_model(p)

  -- evaluation and predictions: exactly the same
  local e1, e2 = run.model:evaluate(val), m:evaluate(val)
  assert(e1.loss == e2.loss, ("loss %.17g after loading, %.17g before"):format(e2.loss, e1.loss))
  assert(e1.accuracy == e2.accuracy)
  local x = data:tensors()
  local c1, c2 = run.model:predict(x), m:predict(x)
  assert(#c1 == 300 and #c2 == 300)
  for i = 1, #c1 do assert(c1[i] == c2[i], "prediction " .. i .. " differs") end
  same_tensor("forward", run.model:forward(x), m:forward(x))

  -- parameters and batchnorm's running statistics
  local p1, p2 = run.model:params(), m:params()
  assert(#p1 == #p2 and #p1 == 6)
  for i = 1, #p1 do
    assert(p1[i].name == p2[i].name and p1[i].role == p2[i].role)
    same_tensor(p1[i].name, p1[i].value, p2[i].value)
  end
  local b1, b2 = run.model:buffers(), m:buffers()
  assert(#b1 == 2 and #b2 == 2 and b2[1].name == "batchnorm1.running_mean")
  for i = 1, #b1 do same_tensor(b1[i].name, b1[i].value, b2[i].value) end

  -- the layers and their options
  local s1, s2 = run.model:summary(), m:summary()
  assert(s1.params == s2.params and #s1.layers == #s2.layers)
  for i = 1, #s1.layers do assert(s1.layers[i].spec == s2.layers[i].spec, s2.layers[i].spec) end
  assert(s2.layers[1].spec:find("init=he_normal{}", 1, true), s2.layers[1].spec)
  assert(s2.layers[2].spec:find("eps=0.001", 1, true), s2.layers[2].spec)
  assert(s2.layers[4].spec:find("rate=0.2", 1, true), s2.layers[4].spec)
  assert(tostring(m) == tostring(run.model))
end)

T.test("test_model_io_loaded_model_trains", function()
  local p = path("again.gdm")
  run.model:save(p)
  local m = gd.load_model(p)
  local before = m:evaluate(train).loss
  local r = gd.train{ model = m, loss = gd.loss.cross_entropy{},
                      optimizer = gd.optim.adam{ lr = 0.01 }, data = train, epochs = 2,
                      batch = 32, seed = 1, progress = false }
  assert(r.status == "ok" and r.model:evaluate(train).loss < before)
end)

T.test("test_model_io_errors", function()
  local missing = path("missing.gdm")
  T.expect_error(missing .. ": cannot open: No such file or directory", gd.load_model, missing)
  local text = path("text.gdm")
  local f = assert(io.open(text, "wb"))
  f:write("return {}\n")
  f:close()
  T.expect_error(text .. ": not a gradus model (bad magic)", gd.load_model, text)

  -- a short copy of a good file
  local good = path("good.gdm")
  run.model:save(good)
  f = assert(io.open(good, "rb"))
  local bytes = f:read("a")
  f:close()
  local cut = path("cut.gdm")
  f = assert(io.open(cut, "wb"))
  f:write(bytes:sub(1, #bytes // 2))
  f:close()
  T.expect_error(cut .. ": truncated", gd.load_model, cut)

  -- saving below a regular file fails and leaves nothing
  local below = text .. "/model.gdm"
  local msg = T.expect_error(below .. ": cannot create", function() run.model:save(below) end)
  assert(msg:find("Not a directory", 1, true), msg)
  assert(msg:find("model_io.lua:%d+:"), "the message carries the caller's position: " .. msg)
  T.expect_error("bad argument #1 to 'save' (string expected, got no value)",
                 function() run.model:save() end)
  T.expect_error("load_model' (string expected, got no value)", function() gd.load_model() end)
end)

-- A CSV whose class column says 7, 3 and -1: classes 1..3 are -1, 3, 7.
local function labelled_csv()
  local p = path("labels.csv")
  local f = assert(io.open(p, "w"))
  f:write("a,b,label\n")
  for i = 0, 89 do
    local c = i % 3
    f:write(("%g,%g,%d\n"):format(c * 4 + (i % 5) * 0.1, (i % 7) * 0.1 - c, ({ 7, 3, -1 })[c + 1]))
  end
  f:close()
  return gd.data.csv{ path = p, target = "label", classes = true }
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

T.test("test_model_io_csv_labels_kept_by_data_model_file_and_checkpoint", function()
  local d = labelled_csv()
  local k, labels = d:classes()
  assert(k == 3 and same_list(labels, { -1, 3, 7 }), "classes: " .. k)
  assert(math.type(labels[2]) == "integer", "labels come back as written (integers)")
  local tr, va = d:split{ validation = 30, seed = 1 }
  assert(same_list(select(2, tr:classes()), labels) and same_list(select(2, va:classes()), labels))
  assert(same_list(select(2, va:standardize(tr):classes()), labels), "standardize keeps labels")
  assert(select("#", train:classes()) == 1, "a set without labels gives the count only")

  local ck = path("labels.ckpt")
  local r = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } },
                      loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.05 },
                      data = tr, epochs = 2, batch = 20, seed = 1, progress = false,
                      checkpoint = { path = ck, every = { epochs = 1 } } }
  local x = va:tensors()
  local cls, lab = r.model:predict(x), r.model:predict(x, { labels = true })
  assert(#lab == 30)
  for i = 1, #cls do
    assert(lab[i] == labels[cls[i]], ("sample %d: label %s for class %d"):format(i, lab[i], cls[i]))
  end
  local p = path("labels.gdm")
  r.model:save(p)
  for what, m in pairs({ file = gd.load_model(p), checkpoint = gd.load_model(ck) }) do
    assert(same_list(m:predict(x, { labels = true }), lab), "labels lost by the " .. what)
  end
  local resumed = gd.resume(ck, { epochs = 3, progress = false }).model
  cls, lab = resumed:predict(x), resumed:predict(x, { labels = true })
  for i = 1, #cls do assert(lab[i] == labels[cls[i]], "labels lost by gd.resume") end
  T.expect_error("model:predict: the model has no class labels (they come from training on "
                 .. "gd.data.csv{ classes = true } data)", run.model.predict, run.model, x,
                 { labels = true })
end)

T.test("test_model_io_loaded_model_evaluates_with_its_loss", function()
  -- Trained with mse; evaluated on class data, whose usual loss would be
  -- cross_entropy (which refuses one output): the file's loss decides.
  local reg = gd.data.synthetic.regression{ n = 60, features = 2, seed = 1 }
  local r = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 1 } }, loss = gd.loss.mse{},
                      optimizer = gd.optim.sgd{}, data = reg, progress = false }
  local classes = gd.data.tensor{ x = { { 0, 1 }, { 1, 0 }, { 2, 2 } }, y = { 1, 2, 2 } }
  local p = path("mse.gdm")
  r.model:save(p)
  local want = r.model:evaluate(classes).loss
  local got = gd.load_model(p):evaluate(classes).loss
  assert(got == want, ("loaded model's loss %s, the trained one's %s"):format(got, want))
end)

local ok, err = pcall(T.run)
cleanup()
if not ok then error(err, 0) end
