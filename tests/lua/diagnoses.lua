-- tests/lua/diagnoses.lua: the diagnoses that used to mislead. Too large a
-- learning rate (rising, or flat at chance, with large updates) is named
-- as such, never "underfitting: raise the learning rate"; a regularized
-- run is diagnosed on its data loss; a too small model that still learns
-- slowly is underfitting.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local function kinds(ds)
  local out = {}
  for _, d in ipairs(ds) do out[d.kind] = d.message end
  return out
end

local function list(ds)
  local k = {}
  for _, d in ipairs(ds) do k[#k + 1] = d.kind end
  return table.concat(k, ", ")
end

-- A history of epochs { train_loss, val_loss, val_accuracy [, penalty] }
-- and monitored steps whose dense layers have update ratio `ratio`.
local function history(epochs, ratio)
  local ep, steps = {}, {}
  for i, e in ipairs(epochs) do
    ep[i] = { epoch = i, train_loss = e[1], val_loss = e[2], val_accuracy = e[3], lr = 0.1, seconds = 1 }
    if e[4] then ep[i].penalty, ep[i].data_loss = e[4], e[1] - e[4] end
  end
  for i = 1, 8 do
    steps[i] = { step = i * 10, loss = 1, grad_norm = 1, layers = {
      { name = "dense1", grad_norm = 1, update_ratio = ratio },
      { name = "relu1" },
      { name = "dense2", grad_norm = 1, update_ratio = ratio } } }
  end
  return { status = "ok", history = { epochs = ep, steps = steps } }
end

T.test("a rising training loss with large updates: learning rate too large, not underfitting", function()
  -- the issue's numbers: the quickstart MLP at lr 0.316
  local run = history({ { 1.24, 1.20, 0.55 }, { 1.30, 1.27, 0.52 }, { 1.35, 1.33, 0.50 } }, 0.5)
  local k = kinds(gd.diagnose(run))
  assert(k.lr_too_large and not k.underfitting, list(gd.diagnose(run)))
  assert(k.lr_too_large == "learning rate too large: the training loss rose from 1.24 (epoch 1) to 1.35 "
    .. "(epoch 3; rule: >= 5% above its lowest), while updates reached 0.5 times the weights (dense1; rule: "
    .. "update/weight ratio > 1e-1 in a monitored step); lower the learning rate (3 to 10 times) or warm it up",
    k.lr_too_large)
  -- small updates: the rise is not put on the learning rate
  assert(not kinds(gd.diagnose(history({ { 1.24, 1.2, 0.55 }, { 1.30, 1.27, 0.52 }, { 1.35, 1.33, 0.5 } }, 0.01)))
    .lr_too_large)
end)

-- The quickstart's MLP and optimizer, sized small: 784-32-10, Adam.
local all = T.fashion_mnist{ split = "train", limit = 2500 }
local function quick(lr, units, epochs)
  local train, val = all:split{ validation = 500, seed = 1 }
  local layers = { gd.layer.dense{ units = units or 32 } }
  if (units or 32) > 1 then layers[2] = gd.layer.relu{} end
  layers[#layers + 1] = gd.layer.dense{ units = 10 }
  return gd.train{ model = gd.sequential(layers), loss = gd.loss.cross_entropy{},
    optimizer = gd.optim.adam{ lr = lr }, data = train, validation = val, epochs = epochs or 4, batch = 64,
    monitor = { every = 5 }, progress = false, quiet_diagnoses = true }
end

T.test("the quickstart MLP at lr 0.316 and at lr 1 (flat at chance): learning rate too large", function()
  if not all then return end
  for _, lr in ipairs({ 0.316, 1 }) do
    local run = quick(lr)
    local k = kinds(run.diagnoses)
    local acc = run.history.epochs[#run.history.epochs].val_accuracy
    assert(acc < 0.2, lr .. ": accuracy " .. acc .. " is not near chance")
    assert(k.lr_too_large, lr .. ": " .. list(run.diagnoses))
    assert(k.lr_too_large:find("^learning rate too large: the training loss stalled at [%d.]+ with validation "
      .. "accuracy [%d.]+, chance level for 10 classes"), k.lr_too_large)
    assert(not k.underfitting, lr .. ": " .. tostring(k.underfitting))
  end
  local ok = quick(1e-3)
  assert(not kinds(ok.diagnoses).lr_too_large, "lr 1e-3: " .. list(ok.diagnoses))
end)

T.test("a too small model that still learns slowly is underfitting", function()
  if not all then return end
  local run = quick(1e-3, 1, 8)   -- 784-1-10
  local k = kinds(run.diagnoses)
  assert(k.underfitting and k.underfitting:find("^underfitting: after 8 epochs validation accuracy is "),
    list(run.diagnoses) .. " " .. tostring(k.underfitting))
  assert(k.underfitting:find("the model learns too little; use a larger model", 1, true), k.underfitting)
  assert(not kinds(quick(1e-3, 32, 8).diagnoses).underfitting, "a model of 32 units is not underfitting")
end)

T.test("a regularized run records its data loss beside the penalty", function()
  local data = gd.data.synthetic.blobs{ n = 60, classes = 2, seed = 1 }
  local function run(regs)
    return gd.train{ model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } },
      loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 }, data = data, epochs = 2, batch = 20,
      regularizers = regs, progress = false, quiet_diagnoses = true }
  end
  for _, e in ipairs(run({ gd.reg.l1{ lambda = 0.05 } }).history.epochs) do
    assert(e.penalty > 0.01 and e.data_loss > 0, tostring(e.penalty))
    T.close_number("data_loss + penalty", e.data_loss + e.penalty, e.train_loss, 1e-12)
  end
  for _, e in ipairs(run(nil).history.epochs) do
    assert(e.penalty == 0 and e.data_loss == e.train_loss, tostring(e.penalty))
  end
end)

T.test("a regularized run is diagnosed on its data loss", function()
  -- an L1 penalty of 18 in train_loss: the gap to validation is val - data
  local ep = { { 18.9, 0.60, 0.8, 18 }, { 18.6, 0.55, 0.82, 18 }, { 18.4, 0.62, 0.8, 18 },
               { 18.3, 0.66, 0.79, 18 }, { 18.2, 0.70, 0.78, 18 } }
  local k = kinds(gd.diagnose(history(ep, 0.01)))
  assert(k.overfitting == "overfitting: validation loss rose from 0.55 (epoch 2) to 0.7 while training data "
    .. "loss (penalty excluded) fell to 0.2 (gap 0.5); use early stopping, L2, dropout or more data", k.overfitting)
  -- an epoch without its data loss (before a resume): the fitting rules say nothing
  local h = history(ep, 0.01)
  h.history.epochs[1].data_loss, h.history.epochs[1].penalty = nil, nil
  k = kinds(gd.diagnose(h))
  assert(not k.overfitting and not k.underfitting, list(gd.diagnose(h)))
end)

T.test("dead ReLUs that block the gradient are said so, not 'vanishing gradients: try ReLU'", function()
  -- every unit of relu1 dead (dense1's biases at -100): no gradient reaches dense1
  local data = gd.data.synthetic.blobs{ n = 64, classes = 2, seed = 1 }
  local model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } }:build{ inputs = 2 }
  local bias = model:params()[2]
  assert(bias.name == "dense1.bias")
  for i = 1, #bias.value do bias.value[i] = -100 end
  local run = gd.train{ model = model, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.1 }, data = data,
    epochs = 2, batch = 16, monitor = { every = 1 }, progress = false, quiet_diagnoses = true }
  local k = kinds(run.diagnoses)
  assert(k.blocked_gradients and not k.vanishing_gradients and not k.dead_relu, list(run.diagnoses))
  assert(k.blocked_gradients == "gradients blocked by dead ReLUs: the share of units that output 0 for a whole batch "
    .. "(median) is relu1 100% (rule: >= 90%), so no gradient passes: the first layer's gradient norm (dense1) is 0 "
    .. "times the last layer's (dense2) in the median monitored step (rule: < 1e-3); lower the learning rate, use He "
    .. "initialization or leaky_relu", k.blocked_gradients)
  -- a vanishing gradient through live units is still vanishing_gradients
  local h = history({ { 1, 1, 0.5 } }, 0.01)
  for _, s in ipairs(h.history.steps) do s.layers[1].grad_norm, s.layers[2].dead = 1e-5, 0.5 end
  k = kinds(gd.diagnose(h))
  assert(k.vanishing_gradients and not k.blocked_gradients, list(gd.diagnose(h)))
  assert(k.vanishing_gradients:find("(rule: < 1e-3); try ReLU", 1, true), k.vanishing_gradients)
  assert(k.dead_relu, "relu1 at 50% dead is dead_relu's")
  -- the same steps with relu1 90% dead: blocked, and dead_relu does not repeat it
  for _, s in ipairs(h.history.steps) do s.layers[2].dead = 0.9 end
  k = kinds(gd.diagnose(h))
  assert(k.blocked_gradients and not k.vanishing_gradients and not k.dead_relu, list(gd.diagnose(h)))
end)

T.run()
