-- tests/lua/blocks.lua: residual blocks and nested sequentials: gradients by
-- finite differences, shape refusals and their messages, path names (summary,
-- params, buffers, parameter groups, telemetry), every optimizer and tool on a
-- model with blocks, and files: save/load, bit-exact resume and fork.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local fixtures = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")

local function rand_tensor(shape, seed, scale)
  local t = gd.tensor.zeros(shape)
  local s = seed
  for i = 1, #t do
    s = (s * 1103515245 + 12345) % 2147483648
    t[i] = (s / 2147483648 * 2 - 1) * (scale or 1)
  end
  return t
end

-- Central differences of L = sum(y .* r) against backward(r), in float32:
-- eps 1e-2 on smooth layers keeps truncation (eps^2) and rounding
-- (1e-7 |L| / eps) both near 1e-4.
local function gradcheck(what, spec, inputs, batch)
  local m = spec:build{ inputs = inputs, seed = 3 }
  local shape = { batch }
  for _, d in ipairs(type(inputs) == "table" and inputs or { inputs }) do shape[#shape + 1] = d end
  local x = rand_tensor(shape, 7)
  local y = m:forward(x, { training = true })
  local r = rand_tensor(y:shape(), 11)
  m:zero_grad()
  local gx = m:backward(r)
  local function loss()
    local out, s = m:forward(x), 0
    for i = 1, #out do s = s + out[i] * r[i] end
    return s
  end
  local eps, checked = 1e-2, 0
  local function compare(name, t, i, analytic)
    local keep = t[i]
    t[i] = keep + eps
    local up = loss()
    t[i] = keep - eps
    local down = loss()
    t[i] = keep
    local fd = (up - down) / (2 * eps)
    if math.abs(fd - analytic) > 2e-3 * math.max(1, math.abs(fd)) then
      error(("%s: d/d %s[%d] is %.6g by backward, %.6g by finite differences"):format(what, name,
        i, analytic, fd), 3)
    end
    checked = checked + 1
  end
  for _, p in ipairs(m:params()) do
    for i = 1, #p.value do compare(p.name, p.value, i, p.grad[i]) end
  end
  for i = 1, #x do compare("x", x, i, gx[i]) end
  return m, checked
end

local L = gd.layer
T.test("test_blocks_gradcheck_identity", function()
  local _, n = gradcheck("identity", gd.residual{ L.dense{ units = 6 }, L.tanh{}, L.dense{ units = 5 } }, 5, 3)
  assert(n == 6 * 5 + 6 + 5 * 6 + 5 + 15)
end)

T.test("test_blocks_gradcheck_projection", function()
  gradcheck("projection", gd.residual{ L.dense{ units = 6 }, L.tanh{}, L.dense{ units = 3 },
                                       shortcut = L.dense{ units = 3 } }, 4, 3)
end)

T.test("test_blocks_gradcheck_nested", function()
  local net = gd.sequential{
    L.dense{ units = 5 },
    gd.residual{ gd.sequential{ L.dense{ units = 5 }, L.tanh{} },
                 gd.residual{ L.dense{ units = 5 }, L.sigmoid{} },
                 shortcut = gd.sequential{ L.dense{ units = 5 }, L.tanh{} } },
    L.tanh{},
    gd.residual{ gd.residual{ L.dense{ units = 5 } } },
    L.dense{ units = 2 } }
  local m = gradcheck("nested", net, 4, 2)
  local names = {}
  for _, p in ipairs(m:params()) do names[#names + 1] = p.name end
  assert(table.concat(names, " ") == "dense1.weight dense1.bias res1.seq1.dense1.weight "
    .. "res1.seq1.dense1.bias res1.res1.dense1.weight res1.res1.dense1.bias "
    .. "res1.shortcut.dense1.weight res1.shortcut.dense1.bias res2.res1.dense1.weight "
    .. "res2.res1.dense1.bias dense2.weight dense2.bias", table.concat(names, " "))
end)

T.test("test_blocks_refusals", function()
  gd.plugins.load(fixtures .. "/fixture_flat.so")
  local flat = gd.layer.fixture_flat{}
  T.expect_error("relu1 gives [2, 3, 3]; fixture_flat1 needs a flat input: put gd.layer.flatten{} "
    .. "between them", function() return gd.sequential{ L.relu{}, flat }:build{ inputs = { 2, 3, 3 } } end)
  T.expect_error("the model's input is [2, 3, 3]; res1.fixture_flat1 needs a flat input",
    function() return gd.sequential{ gd.residual{ flat }, L.relu{} }:build{ inputs = { 2, 3, 3 } } end)
  -- a layer alone has no neighbour to name: its own message as it is
  T.expect_message("fixture_flat: needs a flat input: put gd.layer.flatten{} between them",
    flat.build, flat, { inputs = { 2, 3, 3 } })
  T.expect_error("res1 gives [2, 3, 3]; fixture_flat1 needs a flat input", function()
    return gd.sequential{ gd.residual{ L.relu{} }, flat }:build{ inputs = { 2, 3, 3 } } end)
  T.expect_error("relu1 gives [2, 3, 3]; res1.shortcut needs a flat input", function()
    return gd.sequential{ L.relu{}, gd.residual{ L.relu{}, shortcut = flat } }:build{ inputs = { 2, 3, 3 } } end)
  T.expect_error("res1: the body turns [5] into [3], but a residual block without a shortcut must "
    .. "keep the shape (y = body(x) + x): keep it, or give the block shortcut = gd.layer.dense{ units = 3 }",
    function() return gd.residual{ L.dense{ units = 3 } }:build{ inputs = 5 } end)
  T.expect_error("seq1.res2: the body turns [4] into [2]", function()
    return gd.sequential{ gd.sequential{ gd.residual{ L.relu{} }, gd.residual{ L.dense{ units = 2 } } } }
      :build{ inputs = 4 } end)
  T.expect_error("res1: the body gives [3] and the shortcut [4]: they are added, so they must give "
    .. "the same shape", function()
      return gd.residual{ L.dense{ units = 3 }, shortcut = L.dense{ units = 4 } }:build{ inputs = 5 } end)
  T.expect_error("gd.residual: needs at least one layer", gd.residual, {})
  T.expect_error("gd.residual: entry 2 must be a layer spec, a gd.sequential or a gd.residual, got "
    .. "optimizer spec 'adam'", gd.residual, { L.relu{}, gd.optim.adam{} })
  T.expect_error("gd.residual: shortcut must be a layer spec", gd.residual, { L.relu{}, shortcut = 3 })
  T.expect_error("gd.residual: unknown key 'shortcuts'", gd.residual, { L.relu{}, shortcuts = L.relu{} })
  local r = gd.residual{ L.relu{} }
  T.expect_error("residual:build: unknown option 'input'", r.build, r, { input = 3 })
  T.expect_error("residual:build: option 'inputs' is required", r.build, r, {})
  local deep = L.relu{}
  for _ = 1, 20 do deep = gd.residual{ deep } end
  T.expect_error("blocks nested more than 16 deep", deep.build, deep, { inputs = 2 })
  -- a refused model spec changes nothing: the same parts build afterwards
  assert(gd.residual{ L.dense{ units = 5 } }:build{ inputs = 5 })
end)

local data = gd.data.synthetic.spirals{ n = 200, classes = 3, noise = 0.1, seed = 2 }
local train, val = data:split{ validation = 40, seed = 2 }   -- 160 samples: 5 steps of 32

local function resnet()
  return gd.sequential{
    L.dense{ units = 12, init = "he_normal" },
    gd.residual{ L.dense{ units = 12 }, L.batchnorm{}, L.relu{}, L.dropout{ rate = 0.1 },
                 L.dense{ units = 12 } },
    gd.residual{ L.dense{ units = 8 }, L.tanh{}, shortcut = gd.sequential{ L.dense{ units = 8 } } },
    L.dense{ units = 3 } }
end

local function config(extra)
  local c = { model = resnet(), loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.01 },
              regularizers = { gd.reg.l2{ lambda = 1e-4 } }, data = train, validation = val,
              epochs = 3, batch = 32, seed = 5, monitor = { every = 2 }, progress = false }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

T.test("test_blocks_names", function()
  local m = resnet():build{ inputs = 2 }
  local s = m:summary()
  local rows = {}
  for _, l in ipairs(s.layers) do rows[#rows + 1] = l.name .. ":" .. l.kind .. ":" .. l.depth .. ":" .. l.params end
  assert(table.concat(rows, " ") == "dense1:layer:0:36 res1:residual:0:336 res1.dense1:layer:1:156 "
    .. "res1.batchnorm1:layer:1:24 res1.relu1:layer:1:0 res1.dropout1:layer:1:0 res1.dense2:layer:1:156 "
    .. "res2:residual:0:208 res2.dense1:layer:1:104 res2.tanh1:layer:1:0 res2.shortcut:sequential:1:104 "
    .. "res2.shortcut.dense1:layer:2:104 dense2:layer:0:27", table.concat(rows, " "))
  local text = tostring(s)
  assert(text:find("\n  res1.batchnorm1 ", 1, true) and text:find("\n    res2.shortcut.dense1 ", 1, true), text)
  assert(text:find("total parameters: 607", 1, true), text)
  assert(m:buffers()[1].name == "res1.batchnorm1.running_mean")
  assert(#resnet().leaves == 10 and tostring(resnet()):find("shortcut = sequential{ dense{units=8", 1, true))
end)

T.test("test_blocks_long_summary", function()
  -- 121 rows: longer than a luaL_Buffer's first box (the text is joined safely)
  local parts = {}
  for i = 1, 40 do parts[i] = gd.residual{ L.dense{ units = 4 }, L.tanh{} } end
  local text = tostring(gd.sequential(parts):build{ inputs = 4 }:summary())
  assert(select(2, text:gsub("\n", "")) == 121 and text:find("\n  res40.tanh1 ", 1, true), text)
end)

T.test("test_blocks_groups_and_telemetry", function()
  -- lr 0 for everything in res1 (a glob) and in res2's shortcut (a block path)
  local opt = gd.optim.sgd{ lr = 0.1, groups = { { layer = "res1.*", lr = 0 }, { layer = "res2.shortcut", lr = 0 } } }
  local model = resnet():build{ inputs = 2, seed = 5 }
  local before = {}
  for _, p in ipairs(model:params()) do before[p.name] = p.value:totable() end
  local run = gd.train(config{ model = model, optimizer = opt, regularizers = {} })
  assert(run.status == "ok")
  for _, p in ipairs(model:params()) do
    local moved = false
    for i, v in ipairs(p.value:totable()) do moved = moved or v ~= before[p.name][i] end
    local frozen = p.name:find("^res1%.") or p.name:find("^res2%.shortcut%.")
    assert(moved == not frozen, p.name .. (frozen and " moved" or " did not move"))
  end
  local bad = gd.optim.sgd{ groups = { { layer = "res9.*", lr = 0 } } }
  T.expect_error("groups[1] (role any, layer res9.*) matches no parameter tensor", gd.train,
                 config{ optimizer = bad })
  local names = {}
  for _, l in ipairs(run.history.steps[1].layers) do names[#names + 1] = l.name end
  assert(#names == 10 and names[2] == "res1.dense1" and names[10] == "dense2" and names[9] == "res2.shortcut.dense1",
    table.concat(names, " "))
  assert(run.history.steps[1].layers[2].grad_norm > 0)
end)

T.test("test_blocks_divergence_names_the_path", function()
  local m = gd.sequential{ gd.residual{ L.dense{ units = 2 }, L.tanh{}, L.dense{ units = 2 } },
                           L.dense{ units = 3 } }:build{ inputs = 2 }
  m:params()[3].value[1] = 0 / 0   -- res1.dense2.weight
  local run = gd.train(config{ model = m })
  assert(run.status == "diverged" and run.diverged.layer == "res1.dense2",
    tostring(run.diverged and run.diverged.layer))
  assert(run.diverged.what:find("parameters of res1.dense2.weight is not finite", 1, true),
    run.diverged.what)
end)

T.test("test_blocks_every_optimizer", function()
  -- each trains the residual model without error and lowers the loss; SAM's
  -- second pass and the tensor-aware optimizers see the paths' tensors
  for _, opt in ipairs({ gd.optim.sgd{ lr = 0.1 }, gd.optim.momentum{ lr = 0.05 },
      gd.optim.nesterov{ lr = 0.05 }, gd.optim.adagrad{ lr = 0.05 }, gd.optim.rmsprop{ lr = 0.01 },
      gd.optim.adam{ lr = 0.01 }, gd.optim.adamw{ lr = 0.01 }, gd.optim.lars{ lr = 0.1 },
      gd.optim.lamb{ lr = 0.01 }, gd.optim.adafactor{}, gd.optim.muon{ lr = 0.02 },
      gd.optim.lookahead{ inner = gd.optim.adam{ lr = 0.01 } }, gd.optim.sam{ base = gd.optim.sgd{ lr = 0.1 } } }) do
    local run = gd.train(config{ optimizer = opt, epochs = 4, clip = { norm = 5 } })
    local ep = run.history.epochs
    assert(run.status == "ok" and ep[#ep].train_loss < ep[1].train_loss,
      ("%s: %s, loss %g -> %g"):format(opt.name, run.status, ep[1].train_loss, ep[#ep].train_loss))
  end
end)

local tmp = os.tmpname()
local function path(name) return tmp .. "-" .. name end
local function same_params(what, a, b)
  local pa, pb = a:params(), b:params()
  assert(#pa == #pb, what)
  for i = 1, #pa do
    for j = 1, #pa[i].value do
      if pa[i].value[j] ~= pb[i].value[j] then error(what .. ": " .. pa[i].name .. " differs", 2) end
    end
  end
end

T.test("test_blocks_save_load", function()
  local run = gd.train(config())
  local p = path("res.gdm")
  run.model:save(p)
  local m = gd.load_model(p)
  same_params("loaded", run.model, m)
  assert(tostring(m:summary()) == tostring(run.model:summary()))
  local x = rand_tensor({ 4, 2 }, 5)
  local a, b = run.model:forward(x), m:forward(x)
  for i = 1, #a do assert(a[i] == b[i]) end
  local info = gd._inspect(p)
  assert(info.format_version == 3, "a model with blocks is version 3")
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local out, err, code = T.command(("'%s' inspect '%s'"):format(exe, p))
  assert(code == 0 and out:find("format version 3", 1, true) and
         out:find("\n      res2.shortcut.dense1 ", 1, true), out .. err)
  gd.sequential{ L.dense{ units = 3 } }:build{ inputs = 2 }:save(path("plain.gdm"))
  assert(gd._inspect(path("plain.gdm")).format_version == 2, "a plain model stays version 2")
  os.remove(p); os.remove(path("plain.gdm"))
end)

T.test("test_blocks_resume_and_fork_exact", function()
  local full = gd.train(config())
  local ck = path("res.ckpt")
  local cfg = config{ checkpoint = { path = ck, every = 7 } }
  cfg.on_step = function(s) if s.step == 9 then error("cut here") end end
  assert(not pcall(gd.train, cfg))
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local out = T.command(("'%s' inspect '%s'"):format(exe, ck))
  -- version 4: a regularized run's file (its penalties), with the structure
  assert(out:find("gradus checkpoint, format version 4", 1, true) and
         out:find("\n    res1.batchnorm1 ", 1, true), out)
  local resumed = gd.resume(ck)
  same_params("resumed", full.model, resumed.model)
  assert(resumed.history.steps[#resumed.history.steps].layers[9].name == "res2.shortcut.dense1")
  for e, x in ipairs(full.history.epochs) do
    assert(x.train_loss == resumed.history.epochs[e].train_loss, "epoch " .. e)
  end
  -- a fork with the run's own settings is the run
  local forked = gd.train(gd.fork(ck, {}))
  same_params("forked", full.model, forked.model)
  os.remove(ck)
end)

T.test("test_blocks_old_files_load", function()
  -- written by the main build before blocks (tests/fixtures/files/main_v2_gen.lua)
  local dir = arg[0]:match("^(.-)[^/]*$") .. "../fixtures/files/"
  local want = dofile(dir .. "main_v2.lua")
  assert(gd._inspect(dir .. "main_v2.gdm").format_version == 2)
  local m = gd.load_model(dir .. "main_v2.gdm")
  local y = m:forward(gd.tensor(want.x))
  T.close("outputs of the old model", y, want.y, 1e-6)
  assert(m:summary().layers[2].name == "batchnorm1" and m:params()[3].name == "batchnorm1.gamma")
  -- the old checkpoint resumes to the run's end: the full run's weights
  local ck = path("old.gdc")
  T.spit(ck, T.slurp(dir .. "main_v2.gdc"))
  local run = gd.resume(ck, { progress = false })
  for i, p in ipairs(run.model:params()) do
    assert(p.name == want.params[i].name)
    T.close("resumed " .. p.name, p.value, want.params[i], 1e-6)
  end
  os.remove(ck)
end)

T.test("test_blocks_fused_update_matches_whole", function()
  -- unmonitored steps update each layer right after its backward (a block's
  -- shortcut before its body); monitored ones update the whole arena after
  -- backward: the same numbers, bit for bit, penalties included
  local unmonitored = config()
  unmonitored.monitor = nil
  local fused = gd.train(unmonitored)
  local whole = gd.train(config{ monitor = { every = 1 } })
  same_params("fused", whole.model, fused.model)
  for e, x in ipairs(whole.history.epochs) do
    assert(x.train_loss == fused.history.epochs[e].train_loss, "epoch " .. e)
  end
end)

T.test("test_blocks_compare", function()
  local r = gd.compare{ base = config{ epochs = 2 }, repeats = 2, progress = false,
    variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } }, { name = "adam" } } }
  assert(#r.summary == 2 and r.summary[1].n == 2)
end)

T.run()
