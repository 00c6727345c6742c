-- tests/lua/train.lua: gd.sequential, model instances and gd.train.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local data = gd.data.synthetic.spirals{ n = 240, classes = 3, noise = 0.1, seed = 1 }
local train, val = data:split{ validation = 60, seed = 1 }
local net = gd.sequential{ gd.layer.dense{ units = 16 }, gd.layer.relu{},
                           gd.layer.dense{ units = 3 } }

local function base(extra)
  local cfg = { model = net, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.01 },
                data = train, validation = val, epochs = 3, batch = 32, seed = 1, progress = false }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

T.test("test_sequential_spec", function()
  assert(net.kind == "model" and #net == 3 and #net.layers == 3)
  assert(tostring(net):find("sequential{ dense{units=16", 1, true))
  T.expect_error("gd.sequential: entry 2 must be a layer spec, a gd.sequential or a gd.residual, got optimizer spec 'adam'",
                 gd.sequential, { gd.layer.relu{}, gd.optim.adam{} })
  T.expect_error("needs at least one layer spec", gd.sequential, {})
end)

T.test("test_model_instance", function()
  local m = net:build{ inputs = 2, seed = 3 }
  local m2 = net:build{ inputs = 2, seed = 3 }
  local p, p2 = m:params(), m2:params()
  assert(#p == 4 and p[1].name == "dense1.weight" and p[1].role == "weight")
  assert(p[1].value[1] == p2[1].value[1], "same seed, same weights")
  local y = m:forward(gd.tensor.zeros{ 5, 2 })
  assert(table.concat(y:shape(), ",") == "5,3")
  local cls = m:predict(gd.tensor{ { 1, 2 }, { -1, 0.5 } })
  assert(#cls == 2 and cls[1] >= 1 and cls[1] <= 3)
  local s = m:summary()
  assert(s.params == 2 * 16 + 16 + 16 * 3 + 3 and #s.layers == 3 and s.layers[1].name == "dense1")
  assert(tostring(s):find("total parameters: 99", 1, true))
  local ev = m:evaluate(val)
  assert(ev.loss > 0 and ev.accuracy >= 0 and ev.accuracy <= 1)
  T.expect_error("model:forward: input has shape [5, 3], expected [batch, 2]", m.forward, m,
                 gd.tensor.zeros{ 5, 3 })
  T.expect_error("data set expected, got number", m.evaluate, m, 3)
end)

T.test("test_model_hand_loop", function()
  -- forward / loss / backward / step by hand lowers the loss
  local m = net:build{ inputs = 2, seed = 1 }
  local x, y = train:tensors()
  local loss = gd.loss.cross_entropy{}:build{}
  local opt = gd.optim.sgd{ lr = 0.5 }:build(m:params())
  local first, last
  for i = 1, 30 do
    m:zero_grad()
    local l = loss:forward(m:forward(x, { training = true }), y)
    m:backward(loss:backward())
    opt:step()
    first, last = first or l, l
  end
  assert(last < first, ("%g -> %g"):format(first, last))
end)

T.test("test_model_backward_uses_the_training_input", function()
  -- One dense unit, W = {1, 2}, b = 0: dL/dW = dy * x of the training forward.
  local m = gd.sequential{ gd.layer.dense{ units = 1 } }:build{ inputs = 2, seed = 1 }
  local W = m:params()[1].value
  W[1], W[2] = 1, 2
  local function grads() local g = m:params()[1].grad; return { g[1], g[2] } end
  m:forward(gd.tensor({ 3, 5 }, { 1, 2 }), { training = true })
  collectgarbage()   -- the caller's input may be gone: the model kept a copy
  m:zero_grad()
  m:backward(gd.tensor({ 1 }, { 1, 1 }))
  local g = grads()
  assert(g[1] == 3 and g[2] == 5, ("gradient %g, %g, expected 3, 5"):format(g[1], g[2]))
  -- An evaluation forward in between replaces the activations: refused.
  m:forward(gd.tensor({ 3, 5 }, { 1, 2 }), { training = true })
  m:forward(gd.tensor({ 30, 50 }, { 1, 2 }))
  m:zero_grad()
  T.expect_error("model:backward: the last forward was not a training one (call "
                 .. "forward(x, { training = true }) right before backward)",
                 m.backward, m, gd.tensor({ 1 }, { 1, 1 }))
  g = grads()
  assert(g[1] == 0 and g[2] == 0, "a refused backward changed the gradients")
  m:predict(gd.tensor({ 30, 50 }, { 1, 2 }))
  T.expect_error("the last forward was not a training one", m.backward, m,
                 gd.tensor({ 1 }, { 1, 1 }))
end)

T.test("test_train_run", function()
  local epochs = {}
  local run = gd.train(base{ monitor = { every = 5 }, schedule = gd.sched.cosine{},
                             regularizers = { gd.reg.l2{ lambda = 1e-4 } }, clip = { norm = 5 },
                             on_epoch = function(e) epochs[#epochs + 1] = e.epoch end })
  assert(run.status == "ok", run.status)
  assert(run.steps == 3 * 6)
  local epoch_seconds = 0
  for _, ep in ipairs(run.history.epochs) do epoch_seconds = epoch_seconds + ep.seconds end
  assert(run.seconds > 0 and run.seconds >= epoch_seconds,
         ("run.seconds %g, its epochs %g"):format(run.seconds, epoch_seconds))
  assert(#run.history.epochs == 3 and #epochs == 3 and epochs[3] == 3)
  local e = run.history.epochs[3]
  assert(e.epoch == 3 and e.train_loss > 0 and e.val_loss > 0 and e.val_accuracy and e.lr >= 0
         and e.seconds >= 0)
  local s = run.history.steps[1]
  assert(s.step == 0 and s.loss > 0 and s.lr > 0 and s.grad_norm > 0)
  assert(#s.layers == 3 and s.layers[1].name == "dense1" and s.layers[1].grad_norm > 0)
  assert(s.layers[2].dead ~= nil and s.layers[1].dead == nil)
  assert(#run.history.steps == 18 // 5 + 1, #run.history.steps)
  -- 3 epochs of adam at 0.01 leave the spirals underfitted, and nothing else
  assert(#run.diagnoses == 1 and run.diagnoses[1].kind == "underfitting",
         "diagnoses: " .. (run.diagnoses[1] and run.diagnoses[1].kind or "none"))
  -- on the data loss: the L2 penalty is not part of the fit
  assert(run.diagnoses[1].message:find("^underfitting: training data loss %(penalty excluded%) went only from 1%.08 to "),
         run.diagnoses[1].message)
  local ev = run.model:evaluate(val)
  T.close_number("evaluate = last val_loss", ev.loss, e.val_loss, 1e-9)
end)

T.test("test_train_deterministic", function()
  local a = gd.train(base{})
  local b = gd.train(base{})
  local c = gd.train(base{ seed = 2 })
  for i = 1, 3 do
    assert(a.history.epochs[i].train_loss == b.history.epochs[i].train_loss)
  end
  assert(a.history.epochs[3].train_loss ~= c.history.epochs[3].train_loss)
end)

T.test("test_train_batch_modes_and_on_step", function()
  local run = gd.train(base{ batch = "full", epochs = 4 })
  assert(run.steps == 4)
  local calls = 0
  run = gd.train(base{ batch = 1, epochs = 1, on_step = function(s) calls = calls + 1 end })
  assert(calls == 180 and run.steps == 180)
  run = gd.train(base{ epochs = 5, on_epoch = function(e) return e.epoch < 2 end })
  assert(#run.history.epochs == 2, "on_epoch returning false stops the run")
end)

T.test("test_train_early_stopping", function()
  local run = gd.train(base{ optimizer = gd.optim.sgd{ lr = 0 }, epochs = 10,
                             early_stopping = { patience = 2, restore_best = true } })
  assert(run.stopped_early == true and #run.history.epochs == 3 and run.best_epoch == 1)
end)

T.test("test_train_diverged", function()
  local reg = gd.data.synthetic.regression{ n = 64, features = 4, seed = 2 }
  local function diverged(extra)
    local cfg = { model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.tanh{},
                                         gd.layer.dense{ units = 1 } },
                  loss = gd.loss.mse{}, optimizer = gd.optim.sgd{ lr = 10 }, data = reg,
                  epochs = 20, batch = 8, progress = false }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    local run = gd.train(cfg)
    assert(run.status == "diverged", run.status)
    local kinds = {}
    for _, g in ipairs(run.diagnoses) do kinds[g.kind] = g.message end
    return run.diverged, kinds.exploding_gradients or "no exploding_gradients diagnosis"
  end
  -- sgd at lr 10: the loss is 1000 times the first step's at step 2 ...
  local d, diag = diverged()
  assert(d.step == 2 and d.epoch == 1 and d.layer == "loss" and d.reason == "loss exploded",
         ("diverged at step %s, epoch %s, layer %s (%s)"):format(d.step, d.epoch, d.layer,
                                                                 d.reason))
  assert(d.what:find("^loss exploded: 6%.44%de%+04 at step 2 is more than 1000 times the "
                     .. "first step's loss %(1%.96%d%)$"), d.what)
  assert(diag:find("the run diverged at step 2 (loss exploded", 1, true), diag)
  -- ... and without that check, blows dense1's weights up to Inf at step 14
  d, diag = diverged{ diverge = false }
  assert(d.step == 14 and d.epoch == 2 and d.layer == "dense1",
         ("diverged at step %s, epoch %s, layer %s"):format(d.step, d.epoch, d.layer))
  assert(d.what == "loss is NaN: parameters of dense1.weight is not finite", d.what)
  assert(diag:find("the run diverged at step 14 (loss is NaN", 1, true), diag)
end)

T.test("test_train_batchnorm_refuses_a_batch_of_one", function()
  local d = gd.data.synthetic.blobs{ n = 65, classes = 3, features = 2, seed = 1 }
  local bn = gd.sequential{ gd.layer.dense{ units = 4 }, gd.layer.batchnorm{},
                            gd.layer.dense{ units = 3 } }
  local function cfg(extra)
    local c = { model = bn, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.1 },
                data = d, epochs = 2, batch = 32, progress = false }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end
  T.expect_error("train: layer batchnorm1 (batchnorm) cannot train on a batch of one "
                 .. "sample, and 65 samples in batches of 32 leave a last batch of 1: set "
                 .. "drop_last = true, or use another batch size (33 leaves none)", gd.train, cfg())
  T.expect_error("layer batchnorm1 (batchnorm) cannot train on a batch of one sample, and 65 "
                 .. "samples in batches of 1 make every batch one: use a batch of at least 2",
                 gd.train, cfg{ batch = 1, drop_last = true })
  local run = gd.train(cfg{ drop_last = true })
  assert(run.status == "ok" and run.steps == 4, "steps " .. run.steps)
  assert(gd.train(cfg{ batch = 33 }).steps == 4)
  T.expect_error("gd.train: option 'drop_last' must be true or false, got 1", gd.train,
                 cfg{ drop_last = 1 })
end)

T.test("test_train_drop_last_drops_any_partial_batch", function()
  -- 180 samples in batches of 32: 5 whole batches and 20 left over
  assert(gd.train(base{ epochs = 2 }).steps == 12)
  local run = gd.train(base{ epochs = 2, drop_last = true })
  assert(run.steps == 10, "steps " .. run.steps)
  assert(gd.train(base{ epochs = 1, batch = 60, drop_last = true }).steps == 3, "no partial batch")
end)

T.test("test_train_continues_a_model", function()
  local m = net:build{ inputs = 2, seed = 1 }
  local r1 = gd.train(base{ model = m, epochs = 2 })
  local r2 = gd.train(base{ model = m, epochs = 2 })
  assert(r1.model == m and r2.model == m)
  assert(r2.history.epochs[1].train_loss < r1.history.epochs[1].train_loss)
end)

T.test("test_train_errors", function()
  T.expect_error("gd.train: 'optimizer' must be an optimizer spec, got layer spec 'dense'",
                 gd.train, base{ optimizer = gd.layer.dense{ units = 2 } })
  T.expect_error("gd.train: option 'loss' is required", gd.train,
                 { model = net, data = train, optimizer = gd.optim.sgd{} })
  T.expect_message("gd.train: unknown option 'epoch' (did you mean 'epochs'? options: "
    .. T.train_options .. ")", gd.train, base{ epoch = 3 })
  T.expect_error("gd.train: option 'data' must be a data set, got table", gd.train, base{ data = {} })
  T.expect_error("gd.train: 'clip' takes one of", gd.train, base{ clip = { norm = 1, value = 1 } })
  T.expect_error("gd.train: option 'batch' must be an integer >= 1 or \"full\"", gd.train,
                 base{ batch = "all" })
  T.expect_error("gd.train: option 'epochs' must be an integer >= 1, got 0", gd.train, base{ epochs = 0 })
  T.expect_error("regularizers[1] must be a regularizer spec, got optimizer spec 'sgd'",
                 gd.train, base{ regularizers = { gd.optim.sgd{} } })
  T.expect_error("early_stopping watches the validation loss", gd.train,
                 { model = net, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{},
                   data = train, early_stopping = { patience = 1 } })
  T.expect_error("'model' must be gd.sequential{ ... }, gd.residual{ ... } or a model, got layer spec 'dense'",
                 gd.train, base{ model = gd.layer.dense{ units = 3 } })
  T.expect_error("the data has 2 features per sample, the model takes 5", gd.train,
                 base{ model = net:build{ inputs = 5 } })
end)

-- A dense layer cuts its passes over the pool itself (the forward by
-- columns, bias and ReLU included, or by rows for a readout of few units;
-- the weight gradient and its update by whole slices of rows). On oneDNN,
-- which computes an element of a product
-- the same way in any block, the trained weights are the same bits on 1
-- and 2 threads, with the update streamed slice by slice (the default) and
-- over the whole arena after backward (clipping); OpenBLAS rounds a cut
-- product differently, so there they agree to rounding only.
T.test("test_dense_on_two_threads_trains_as_on_one", function()
  local fm = T.fashion_mnist{ split = "train", limit = 512 }
  if not fm then return end
  local mlp = gd.sequential{ gd.layer.dense{ units = 300, activation = "relu" },
    gd.layer.dense{ units = 1024, bias = false }, gd.layer.relu{}, gd.layer.dense{ units = 10 } }
  local function weights(threads, extra)
    local was = gd.threads()
    gd.threads(threads)
    local run = gd.train{ model = mlp, loss = gd.loss.cross_entropy{}, data = fm, epochs = 1,
      optimizer = gd.optim.adam{ lr = 1e-3 }, batch = 64, seed = 3, progress = false,
      clip = extra.clip }
    gd.threads(was)
    assert(run.status == "ok", run.status)
    return run.model:flat_params()
  end
  local exact = gd._util.blas():match("^onednn") ~= nil
  for _, extra in ipairs({ {}, { clip = { norm = 1e9 } } }) do
    local one, two = weights(1, extra), weights(2, extra)
    assert(#one == #two and #one == 784 * 300 + 300 + 300 * 1024 + 1024 * 10 + 10)
    local differ, worst = 0, 0
    for i = 1, #one do
      if one[i] ~= two[i] then differ = differ + 1 end
      worst = math.max(worst, math.abs(one[i] - two[i]))
    end
    local what = extra.clip and "accumulated" or "streamed"
    if exact then
      assert(differ == 0, string.format("%s: %d of %d weights differ on 2 threads (worst %g)",
        what, differ, #one, worst))
    else
      assert(worst < 1e-4, string.format("%s: weights differ by %g on 2 threads", what, worst))
    end
  end
end)

-- layer_norm cuts its rows over the pool and sums its parameters'
-- gradients by columns, each over the rows in order: the same bits on 1
-- and 2 threads (above its threshold: batch 128 x 256 values).
T.test("test_layer_norm_on_two_threads_trains_as_on_one", function()
  local data = gd.data.synthetic.blobs{ n = 512, classes = 4, features = 16, seed = 7 }
  local net = gd.sequential{ gd.layer.dense{ units = 256 }, gd.layer.layer_norm{},
    gd.layer.relu{}, gd.layer.dense{ units = 4 } }
  local function weights(threads)
    local was = gd.threads()
    gd.threads(threads)
    local run = gd.train{ model = net, loss = gd.loss.cross_entropy{}, data = data, epochs = 2,
      optimizer = gd.optim.adam{ lr = 1e-3 }, batch = 128, seed = 5, progress = false }
    gd.threads(was)
    assert(run.status == "ok", run.status)
    return run.model:flat_params()
  end
  local one, two = weights(1), weights(2)
  local exact = gd._util.blas():match("^onednn") ~= nil
  local differ, worst = 0, 0
  for i = 1, #one do
    if one[i] ~= two[i] then differ = differ + 1 end
    worst = math.max(worst, math.abs(one[i] - two[i]))
  end
  if exact then
    assert(differ == 0, string.format("%d of %d parameters differ on 2 threads (worst %g)",
      differ, #one, worst))
  else
    assert(worst < 1e-4, string.format("parameters differ by %g on 2 threads", worst))
  end
end)

-- Without the MPI build distributed = true is refused (with it, tests/lua/mpi.lua
-- runs under mpirun); alone, distributed = false trains as ever.
T.test("test_train_distributed_without_mpi", function()
  if gd.dist.available then
    T.close_number("ranks alone", gd.dist.size(), 1, 0)
  else
    T.expect_error("gd.train: distributed training needs gradus built with MPI "
      .. "(meson configure build -Dmpi=enabled; Debian: libopenmpi-dev openmpi-bin)",
      gd.train, base{ distributed = true })
  end
  T.close_number("status ok", gd.train(base{ distributed = false }).status == "ok" and 1 or 0, 1, 0)
end)

T.run()
