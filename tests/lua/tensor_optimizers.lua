-- tests/lua/tensor_optimizers.lua: the ABI 1.1 optimizers (lars, lamb,
-- adafactor, muon, lookahead, sam) as a user drives them: gd.train on a
-- Fashion-MNIST subset, one gd.compare, SAM's second pass under dropout,
-- batch norm, clipping and L2, the refusals, an ABI 1.0 plugin, and an
-- out-of-tree tensor-aware plugin found through GRADUS_PLUGIN_PATH.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local ok, all = pcall(gd.data.fashion_mnist, { split = "train", limit = 1500 })
if not ok then error("Fashion-MNIST is needed (setup.sh installs dataset-fashion-mnist): " .. tostring(all)) end
local train, val = all:split{ validation = 500, seed = 1 }

local function mlp()
  return gd.sequential{ gd.layer.dense{ units = 64, init = "he_normal" }, gd.layer.relu{},
                        gd.layer.dense{ units = 10 } }
end

local six = {
  lars = gd.optim.lars{ lr = 2.0 },
  lamb = gd.optim.lamb{ lr = 0.01 },
  adafactor = gd.optim.adafactor{ lr = 1e-3 },
  muon = gd.optim.muon{ fallback = gd.optim.adam{ lr = 1e-3 } },
  lookahead = gd.optim.lookahead{ k = 4, inner = gd.optim.adam{ lr = 2e-3 } },
  sam = gd.optim.sam{ base = gd.optim.momentum{ lr = 0.05 } },
}

for _, name in ipairs{ "lars", "lamb", "adafactor", "muon", "lookahead", "sam" } do
  T.test("test_" .. name .. "_trains_an_mlp_on_fashion_mnist", function()
    local run = gd.train{ model = mlp(), loss = gd.loss.cross_entropy{}, optimizer = six[name],
                          data = train, validation = val, epochs = 3, batch = 100, seed = 1,
                          progress = false }
    assert(run.status == "ok", name .. ": " .. run.status)
    local e = run.history.epochs
    for i = 1, 3 do assert(e[i].train_loss == e[i].train_loss and e[i].train_loss < math.huge) end
    assert(e[3].train_loss < 0.8 * e[1].train_loss,
      ("%s: train loss %.4f -> %.4f does not fall"):format(name, e[1].train_loss, e[3].train_loss))
    assert(e[3].val_loss < e[1].val_loss, name .. ": validation loss does not fall")
  end)
end

T.test("test_compare_adam_lamb_lars_muon_sam", function()
  local res = gd.compare{
    base = { model = mlp(), loss = gd.loss.cross_entropy{}, data = train, validation = val,
             epochs = 2, batch = 100, seed = 1 },
    variants = {
      { name = "adam", optimizer = gd.optim.adam{} },
      { name = "lamb", optimizer = six.lamb },
      { name = "lars", optimizer = six.lars },
      { name = "muon", optimizer = six.muon },
      { name = "sam", optimizer = six.sam },
    },
    repeats = 2, progress = false }
  print(("%-6s %10s %10s"):format("name", "val_loss", "val_acc"))
  for i, s in ipairs(res.summary) do
    assert(s.n == 2, s.name .. ": " .. s.n .. " runs")
    assert(s.mean.val_loss > 0 and s.mean.val_loss < 2.3, s.name .. ": val_loss " .. s.mean.val_loss)
    print(("%-6s %10.4f %10.4f"):format(s.name, s.mean.val_loss, s.mean.val_accuracy))
    assert(res.variants[i].name == s.name)
  end
end)

-- SAM with rho = 0 moves nothing, so its second pass must see exactly the
-- first: the same dropout masks, the running statistics updated once, the
-- same clipping and L2. Any difference shows as a different bit.
T.test("test_sam_second_pass_is_the_first_pass_at_rho_0", function()
  local spirals = gd.data.synthetic.spirals{ n = 240, classes = 3, noise = 0.1, seed = 2 }
  local function cfg(opt)
    return { model = gd.sequential{ gd.layer.dense{ units = 16 }, gd.layer.batchnorm{},
                                    gd.layer.relu{}, gd.layer.dropout{ rate = 0.3 },
                                    gd.layer.dense{ units = 3 } },
             loss = gd.loss.cross_entropy{}, optimizer = opt, data = spirals, validation = spirals,
             regularizers = { gd.reg.l2{ lambda = 1e-3 } }, clip = { norm = 0.5 },
             epochs = 3, batch = 40, seed = 3, monitor = { every = 1 }, progress = false }
  end
  local base = gd.optim.momentum{ lr = 0.05 }
  local plain = gd.train(cfg(base))
  local sam0 = gd.train(cfg(gd.optim.sam{ rho = 0, base = base }))
  local pa, pb = plain.model:params(), sam0.model:params()
  for i = 1, #pa do
    for j = 1, #pa[i].value do assert(pa[i].value[j] == pb[i].value[j], "parameters differ") end
  end
  local ba, bb = plain.model:buffers(), sam0.model:buffers()
  for i = 1, #ba do
    for j = 1, #ba[i].value do assert(ba[i].value[j] == bb[i].value[j], ba[i].name .. " differs") end
  end
  assert(plain.history.epochs[3].val_loss == sam0.history.epochs[3].val_loss)
  -- with rho > 0 the reported loss of the first step is still L(W), the first pass's
  local sam = gd.train(cfg(gd.optim.sam{ rho = 0.5, base = base }))
  assert(sam.history.steps[1].loss == plain.history.steps[1].loss, "step 1 loss is not L(W)")
  assert(sam.history.steps[2].loss ~= plain.history.steps[2].loss, "rho = 0.5 changed nothing")
end)

T.test("test_lookahead_slow_weights_start_as_the_parameters", function()
  local W, b = gd.tensor({ 1, 2, 3, 4, 5, 6 }, { 2, 3 }), gd.tensor{ 0.5, -0.5 }
  local opt = gd.optim.lookahead{ k = 2 }:build{ W, b }
  local S = opt:slots(1)[1]
  for i = 1, 6 do assert(S[i] == W[i]) end
  local a = gd.optim.adafactor{}:build{ W, b }
  assert(#a:slots(1)[1] == 5, "adafactor keeps r + c numbers for a [2, 3] matrix")
  assert(#a:slots(2)[1] == 2)
end)

-- A fork into a tensor-aware optimizer starts it afresh: t = 1 at its first
-- update and slow weights copied from the weights at the fork point. With
-- alpha = 0 the sync at t = k puts the weights back to exactly those.
T.test("test_a_fork_into_lookahead_starts_it_at_the_fork_point", function()
  local d = gd.data.synthetic.blobs{ n = 120, classes = 3, seed = 4 }
  local dir = T.tmpdir()
  local p = dir .. "/la.ckpt"
  gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
            optimizer = gd.optim.adam{ lr = 0.01 }, data = d, epochs = 2, batch = "full",
            seed = 1, progress = false, checkpoint = { path = p } }
  local at = gd.load_model(p):params()
  local la = gd.optim.lookahead{ k = 3, alpha = 0, inner = gd.optim.sgd{ lr = 0.1 } }
  local function fork(epochs)
    return gd.fork(p, { optimizer = la, epochs = epochs, progress = false, checkpoint = false }):train()
  end
  local two, three = fork(4), fork(5)   -- 2 and 3 updates after the fork
  local moved = false
  for i, q in ipairs(three.model:params()) do
    for j = 1, #q.value do
      assert(q.value[j] == at[i].value[j], "the sync at t = 3 restores the fork point's weights")
      moved = moved or two.model:params()[i].value[j] ~= at[i].value[j]
    end
  end
  assert(moved, "two updates after the fork moved nothing")
  T.sh("rm -rf '" .. dir .. "'")
end)

T.test("test_refusals", function()
  T.expect_error("lookahead: option 'inner' must be an optimizer, got scheduler 'cosine'",
                 gd.optim.lookahead, { inner = gd.sched.cosine{} })
  T.expect_error("lookahead: option 'k' must be >= 1, got 0", gd.optim.lookahead, { k = 0 })
  T.expect_error("muon: option 'fallback': unknown optimizer 'adamm' (did you mean 'adam'?",
                 gd.optim.muon, { fallback = "adamm" })
  local x = gd.tensor{ 1, 2 }
  T.expect_error("sam: needs the whole model (a second gradient) and cannot be the inner "
                 .. "optimizer of lookahead", gd.optim.lookahead{ inner = gd.optim.sam{} }.build,
                 gd.optim.lookahead{ inner = gd.optim.sam{} }, { x })
  local sam = gd.optim.sam{}:build{ x }
  T.expect_error("sam:step: a two-pass optimizer needs { closure = function() return { grads } end }",
                 sam.step, sam, { gd.tensor{ 1, 1 } })
  T.expect_error("sam:step: closure result: entry 1 is not a gradient of the shape of parameter 1",
                 sam.step, sam, { gd.tensor{ 1, 1 } }, { closure = function() return { 3 } end })
  assert(x[1] == 1 and x[2] == 2, "a failed two-pass step puts the parameters back")
  T.expect_error("lamb:build: entry 1: role must be one of weight, bias, scale, shift, embedding, got gain",
                 gd.optim.lamb{}.build, gd.optim.lamb{}, { { value = x, role = "gain" } })
  local lamb = gd.optim.lamb{}:build{ x }
  T.expect_error("lamb:step: gradient 1 has shape [3], expected [2]", lamb.step, lamb,
                 { gd.tensor{ 1, 2, 3 } })
end)

T.test("test_groups_set_options_per_tensor", function()
  local W1, b1 = gd.tensor({ 1, 2 }, { 1, 2 }), gd.tensor{ 1 }
  local W2 = gd.tensor({ 1, 2 }, { 1, 2 })
  local opt = gd.optim.sgd{ lr = 0.1, groups = { { layer = "dense1", lr = 0.01 },
                                                 { role = "bias", lr = 0 } } }
  local o = opt:build{ { value = W1, layer = "dense1" }, { value = b1, layer = "dense1" },
                       { value = W2, layer = "dense2" } }
  o:step{ gd.tensor({ 1, 1 }, { 1, 2 }), gd.tensor{ 1 }, gd.tensor({ 1, 1 }, { 1, 2 }) }
  -- the first matching group wins: b1 is in dense1, so it takes lr = 0.01
  T.close("W1", W1, { 0.99, 1.99 }, 1e-7)
  T.close("b1", b1, { 0.99 }, 1e-7)
  T.close("W2", W2, { 0.9, 1.9 }, 1e-7)
  -- a schedule scales a group's lr by the same factor: lr 0.05 of 0.1 halves 0.01
  o:step({ gd.tensor({ 1, 1 }, { 1, 2 }), gd.tensor{ 1 }, gd.tensor({ 1, 1 }, { 1, 2 }) }, { lr = 0.05 })
  T.close("W1 at half lr", W1, { 0.985, 1.985 }, 1e-7)
  T.close("W2 at half lr", W2, { 0.85, 1.85 }, 1e-7)
  -- under gd.train: biases in a group with lr = 0 never move from their 0
  local d = gd.data.synthetic.blobs{ n = 200, classes = 3, seed = 1 }
  local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{},
                                               gd.layer.dense{ units = 3 } },
    loss = gd.loss.cross_entropy{}, data = d, epochs = 3, batch = 20, progress = false,
    optimizer = gd.optim.lamb{ lr = 0.01, groups = { { role = "bias", lr = 0 } } } }
  assert(run.status == "ok")
  for _, p in ipairs(run.model:params()) do
    if p.role == "bias" then for j = 1, #p.value do assert(p.value[j] == 0, "a bias moved") end end
  end
  T.expect_error("sgd: groups[1] (role any, layer dense9) matches no parameter tensor",
                 gd.train, { model = gd.sequential{ gd.layer.dense{ units = 3 } },
                   loss = gd.loss.cross_entropy{}, data = d, epochs = 1, progress = false,
                   optimizer = gd.optim.sgd{ groups = { { layer = "dense9", lr = 0 } } } })
  T.expect_error("lars: groups[1]: unknown option 'beta1'", gd.optim.lars,
                 { groups = { { role = "bias", beta1 = 0.5 } } })
  T.expect_error("lars: groups[1]: option 'momentum' must be in [0, 1), got 2", gd.optim.lars,
                 { groups = { { role = "bias", momentum = 2 } } })
  T.expect_error("lamb: groups[1] needs a role or a layer", gd.optim.lamb, { groups = { { lr = 1 } } })
  T.expect_error("lamb: groups[1]: role must be one of weight, bias, scale, shift, embedding, got gain",
                 gd.optim.lamb, { groups = { { role = "gain" } } })
  T.expect_error("muon: groups[1]: option 'fallback' cannot be set per group", gd.optim.muon,
                 { groups = { { role = "bias", fallback = "sgd" } } })
  T.expect_error("sgd: groups must be a list of tables", gd.optim.sgd, { groups = 3 })
end)

-- gd.fork{ lr = } and tuning: the base lr is set, every other lr of the
-- tree and of the groups scales by the same factor, as a schedule does.
T.test("test_a_new_base_lr_scales_the_whole_tree", function()
  local la = gd._optim_with_lr(gd.optim.lookahead{ inner = gd.optim.adam{ lr = 1e-3 } }, 0.01)
  assert(la.options.inner.options.lr == 0.01 and la.options.k == 5)
  local mu = gd._optim_with_lr(gd.optim.muon{ lr = 0.02, fallback = gd.optim.adam{ lr = 3e-4 } }, 0.01)
  assert(mu.options.lr == 0.01)
  T.close_number("fallback lr", mu.options.fallback.options.lr, 1.5e-4, 1e-12)
  local sg = gd._optim_with_lr(gd.optim.sgd{ lr = 0.1, groups = { { layer = "d", lr = 0.01 } } }, 0.05)
  local W, V = gd.tensor{ 1 }, gd.tensor{ 1 }
  sg:build{ { value = W, layer = "d" }, V }:step{ gd.tensor{ 1 }, gd.tensor{ 1 } }
  T.close("grouped", W, { 0.995 }, 1e-7)
  T.close("ungrouped", V, { 0.95 }, 1e-7)
  -- three levels deep: lookahead -> sam -> sgd
  local deep = gd._optim_with_lr(gd.optim.lookahead{ inner = gd.optim.sam{ base = gd.optim.sgd{} } }, 0.5)
  assert(deep.options.inner.options.base.options.lr == 0.5)
end)

T.test("test_an_abi_1_0_plugin_loads_and_trains", function()
  local dir = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")
  gd.plugins.load(dir .. "/fixture_abi10.so")
  local found
  for _, c in ipairs(gd.plugins.list("optim")) do if c.name == "abi10_sgd" then found = c end end
  assert(found, "abi10_sgd is not listed")
  local x = gd.tensor{ 1, -2 }
  gd.optim.abi10_sgd{ lr = 0.5 }:build{ x }:step{ gd.tensor{ 0.25, 1 } }
  assert(x[1] == 0.875 and x[2] == -2.5, "W -= lr*g")
  local d = gd.data.synthetic.blobs{ n = 200, classes = 3, seed = 1 }
  local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } },
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.abi10_sgd{ lr = 0.1 }, data = d,
    epochs = 10, batch = 20, progress = false }
  assert(run.status == "ok" and run.model:evaluate(d).accuracy > 0.9)
end)

T.test("test_an_out_of_tree_tensor_optimizer_from_the_plugin_path", function()
  local out, dir = T.plugin_run("normsgd", [[
/* normsgd: per-tensor normalized SGD, W -= lr*G/|G| (nothing when G = 0). */
#include <math.h>
#include <gradus/gradus.h>
static const gd_option_spec options[] = { GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate") };
static void step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    (void)o;
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += (double)t->g[i] * t->g[i];
    if (s == 0)
        return;
    const float k = (float)(ctx->lr / sqrt(s));
    for (int64_t i = 0; i < t->numel; i++)
        t->x[i] -= k * t->g[i];
}
static const gd_optimizer_vtable vt = { .size = sizeof vt, .step_tensor = step };
static const gd_component normsgd = { .size = sizeof normsgd, .kind = GD_KIND_OPTIMIZER,
    .name = "normsgd", .doc = "normalized SGD per tensor", .options = options, .noptions = 1,
    .vt.optimizer = &vt };
static const gd_component *const components[] = { &normsgd };
GD_PLUGIN("normsgd", "1.0", components)
]], [[
local gd = require "gradus"
local W, b = gd.tensor({ 1, 2, 3, 4 }, { 2, 2 }), gd.tensor{ 1, 1 }
local gW, gb = gd.tensor({ 3, 0, 0, 4 }, { 2, 2 }), gd.tensor{ 0, 0 }
assert(gd.optim.normsgd{ lr = 0.5 }:build{ W, b }:step{ gW, gb } == 1)
-- |gW| = 5: W -= 0.5*gW/5 = 0.1*gW; gb = 0 leaves b
local want = { 0.7, 2, 3, 3.6 }
for i = 1, 4 do assert(math.abs(W[i] - want[i]) < 1e-6, "W[" .. i .. "] = " .. W[i]) end
assert(b[1] == 1 and b[2] == 1)
-- a least-squares fit under gd.train: the loss falls
local d = gd.data.synthetic.regression{ n = 200, features = 4, seed = 1 }
local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 1 } }, loss = gd.loss.mse{},
  optimizer = gd.optim.normsgd{ lr = 0.02 }, data = d, epochs = 8, batch = 25, progress = false }
local e = run.history.epochs
assert(run.status == "ok" and e[8].train_loss < 0.5 * e[1].train_loss,
  ("loss %g -> %g"):format(e[1].train_loss, e[8].train_loss))
io.write("fitted ", e[8].train_loss, "\n")
]])
  T.sh("rm -rf '" .. dir .. "'")
  assert(out:find("fitted") and out:find("rc=0"), out)
end)

T.run()
