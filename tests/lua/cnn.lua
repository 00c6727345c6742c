-- tests/lua/cnn.lua: a small CNN (2c2d with few filters) on a Fashion-MNIST
-- subset of images [1, 28, 28]: it learns with sgd, adam, muon and sam; a
-- run cut mid-epoch resumes bit-exactly; a trained model saves and loads;
-- a data set shape that does not fit is refused.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local image = { 1, 28, 28 }
local train = T.fashion_mnist{ split = "train", limit = 384, shape = image }

local function net()
  return gd.sequential{
    gd.layer.conv2d{ filters = 4, kernel = 5, padding = "same", activation = "relu" },
    gd.layer.max_pool2d{},
    gd.layer.conv2d{ filters = 8, kernel = 5, padding = "same", activation = "relu" },
    gd.layer.max_pool2d{},
    gd.layer.flatten{},
    gd.layer.dense{ units = 32, activation = "relu" },
    gd.layer.dense{ units = 10 },
  }
end

local base = os.tmpname()
local made = { base }
local function path(name)
  local p = base .. "-" .. name
  made[#made + 1] = p
  return p
end

T.test("test_cnn_learns_with_each_optimizer", function()
  if not train then return end
  local optimizers = {
    sgd = gd.optim.sgd{ lr = 0.1 },
    adam = gd.optim.adam{ lr = 2e-3 },
    muon = gd.optim.muon{ lr = 0.02, fallback = gd.optim.adam{ lr = 2e-3 } },
    sam = gd.optim.sam{ rho = 0.05, base = gd.optim.momentum{ lr = 0.02 } },
  }
  for name, opt in pairs(optimizers) do
    local model = net():build{ inputs = train:shape(), seed = 1 }
    local before = model:evaluate(train).loss
    local run = gd.train{ model = model, loss = gd.loss.cross_entropy{}, optimizer = opt,
                          data = train, epochs = 3, batch = 32, seed = 1, progress = false }
    local after = run.model:evaluate(train)
    assert(run.status == "ok", name .. ": " .. run.status)
    print(("  %s: loss %.4f -> %.4f, accuracy %.3f"):format(name, before, after.loss, after.accuracy))
    assert(after.loss < 0.85 * before, ("%s: loss %.4f -> %.4f"):format(name, before, after.loss))
    local e = run.history.epochs
    assert(e[3].train_loss < e[1].train_loss,
      ("%s: epoch losses %.4f, %.4f, %.4f"):format(name, e[1].train_loss, e[2].train_loss, e[3].train_loss))
    assert(after.accuracy > 0.2, name .. ": accuracy " .. after.accuracy)
  end
end)

local function same_params(what, a, b)
  local pa, pb = a:params(), b:params()
  assert(#pa == #pb)
  for i = 1, #pa do
    for j = 1, #pa[i].value do
      if pa[i].value[j] ~= pb[i].value[j] then
        error(("%s: %s[%d] %.9g vs %.9g"):format(what, pa[i].name, j, pa[i].value[j], pb[i].value[j]), 2)
      end
    end
  end
end

T.test("test_cnn_resume_mid_epoch_is_exact", function()
  if not train then return end
  local function config(extra)
    local c = { model = net(), loss = gd.loss.cross_entropy{}, data = train, epochs = 2,
                batch = 32, seed = 3, progress = false, monitor = { every = 4 },
                optimizer = gd.optim.adam{ lr = 1e-3 } }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end
  local full = gd.train(config())
  local p = path("cnn.ckpt")
  local cfg = config{ checkpoint = { path = p, every = 5 } }
  cfg.on_step = function(s) if s.step == 17 then error("cut here") end end
  local ok = pcall(gd.train, cfg)
  assert(not ok, "the run was not cut")
  local res = gd.resume(p, { progress = false })
  assert(res.status == "ok" and res.steps == full.steps)
  same_params("resumed", full.model, res.model)
  for e = 1, 2 do
    assert(full.history.epochs[e].train_loss == res.history.epochs[e].train_loss, "epoch " .. e)
  end
  local fk = gd.fork(p, { progress = false, checkpoint = false }):train()
  same_params("forked", full.model, fk.model)
end)

T.test("test_cnn_model_save_load", function()
  if not train then return end
  local run = gd.train{ model = net(), loss = gd.loss.cross_entropy{},
                        optimizer = gd.optim.sgd{ lr = 0.05 }, data = train, epochs = 1,
                        batch = 64, seed = 2, progress = false }
  local p = path("cnn.gdm")
  run.model:save(p)
  local m = gd.load_model(p)
  same_params("loaded", run.model, m)
  local a, b = run.model:evaluate(train), m:evaluate(train)
  assert(a.loss == b.loss and a.accuracy == b.accuracy, "the loaded model predicts the same")
end)

T.test("test_data_shape", function()
  if not train then return end
  assert(table.concat(train:shape(), ",") == "1,28,28")
  assert(table.concat(gd.data.fashion_mnist{ limit = 2 }:shape(), ",") == "784")
  T.expect_error("gd.data.fashion_mnist: shape [1, 28, 29] has 812 elements, a sample has 784 ([784])",
                 gd.data.fashion_mnist, { limit = 2, shape = { 1, 28, 29 } })
  T.expect_error("gd.data.fashion_mnist: a sample has at most 3 dimensions, got 4",
                 gd.data.fashion_mnist, { limit = 2, shape = { 1, 1, 28, 28 } })
  local x = gd.tensor.zeros{ 4, 12 }
  local ds = gd.data.tensor{ x = x, y = { 1, 2, 1, 2 }, shape = { 3, 2, 2 } }
  assert(table.concat(ds:shape(), ",") == "3,2,2")
  local a, b = ds:split{ validation = 2, seed = 1 }
  assert(table.concat(a:shape(), ",") == "3,2,2" and table.concat(b:shape(), ",") == "3,2,2",
         "views keep the shape")
  T.expect_error("gd.data.tensor: shape [5] has 5 elements, a sample has 12",
                 gd.data.tensor, { x = x, y = { 1, 2, 1, 2 }, shape = { 5 } })
  -- a flat model on image data is refused when it is built
  T.expect_error("needs an image input [C, H, W], got [784]", gd.train,
                 { model = gd.sequential{ gd.layer.conv2d{ filters = 2, kernel = 3 } },
                   loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{},
                   data = gd.data.fashion_mnist{ limit = 8 }, epochs = 1, progress = false })
  -- the recipe carries the shape: a rebuilt set has it
  local again = gd.data.rebuild(train:recipe())
  assert(table.concat(again:shape(), ",") == "1,28,28")
end)

T.run()
for _, p in ipairs(made) do os.remove(p); os.remove(p .. ".tmp") end
