-- tests/lua/experiments.lua: whole experiments as a user writes them:
-- gd.compare against runs made alone, a dropped-in plugin found through
-- GRADUS_PLUGIN_PATH, and a run on real Fashion-MNIST data.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end


local data = gd.data.synthetic.spirals{ n = 300, classes = 3, noise = 0.1, seed = 4 }
local train, val = data:split{ validation = 60, seed = 1 }
local net = gd.sequential{ gd.layer.dense{ units = 24 }, gd.layer.relu{}, gd.layer.dense{ units = 3 } }
local base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val,
               epochs = 4, batch = 16, seed = 7, progress = false }

T.test("compare: summaries equal the statistics of runs made alone", function()
  local variants = {
    { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
    { name = "momentum", optimizer = gd.optim.momentum{ lr = 0.05 } },
    { name = "adam", optimizer = gd.optim.adam{ lr = 1e-2 } },
  }
  local res = gd.compare{ base = base, variants = variants, repeats = 3, progress = false }
  assert(#res.summary == 3 and res.summary[1].name == "sgd")
  local alone = {}
  for vi, v in ipairs(variants) do
    alone[vi] = {}
    for r = 1, 3 do
      local cfg = {}
      for k, x in pairs(base) do cfg[k] = x end
      cfg.optimizer, cfg.seed = v.optimizer, base.seed + r - 1
      local run = gd.train(cfg)
      alone[vi][r] = run.history.epochs[#run.history.epochs].val_loss
      -- bit for bit: the same seed gives the same run inside and outside compare
      assert(res.variants[vi].runs[r].metrics.val_loss == alone[vi][r],
        ("%s seed %d: %.17g vs %.17g"):format(v.name, cfg.seed, res.variants[vi].runs[r].metrics.val_loss, alone[vi][r]))
    end
  end
  for vi = 1, 3 do
    local s, xs = res.summary[vi], alone[vi]
    local mean = (xs[1] + xs[2] + xs[3]) / 3
    local sd = math.sqrt(((xs[1] - mean) ^ 2 + (xs[2] - mean) ^ 2 + (xs[3] - mean) ^ 2) / 2)
    T.close_number("mean", s.mean.val_loss, mean, 1e-12)
    T.close_number("std", s.std.val_loss, sd, 1e-12)
    T.close_number("ci95", s.ci95.val_loss, 4.303 * sd / math.sqrt(3), 1e-12)  -- t(0.975, 2)
    if vi > 1 then
      local d, wins = {}, 0
      for r = 1, 3 do
        d[r] = xs[r] - alone[1][r]
        wins = wins + (xs[r] < alone[1][r] and 1 or (xs[r] == alone[1][r] and 0.5 or 0))
      end
      T.close_number("diff", s.diff.val_loss, (d[1] + d[2] + d[3]) / 3, 1e-9)
      T.close_number("win rate", s.win_rate, wins / 3, 1e-12)
    end
  end
end)

T.test("compare: common random numbers give every variant the same initial weights", function()
  local res = gd.compare{ base = base, repeats = 1, progress = false, variants = {
    { name = "a", optimizer = gd.optim.sgd{ lr = 0 }, epochs = 1 },
    { name = "b", optimizer = gd.optim.adam{ lr = 0 }, epochs = 1 } } }
  -- with lr = 0 nothing moves, so both see the same loss on the same batches
  local a, b = res.variants[1].runs[1].metrics, res.variants[2].runs[1].metrics
  assert(a.train_loss == b.train_loss and a.val_loss == b.val_loss, "initial weights differ")
end)

T.test("compare: tune picks each variant's lr on the validation set", function()
  local res = gd.compare{ base = base, repeats = 1, progress = false, variants = {
    { name = "sgd", optimizer = gd.optim.sgd{}, tune = { lr = { 1e-4, 0.3 } } } } }
  assert(res.summary[1].lr == 0.3, "tuned lr " .. tostring(res.summary[1].lr))
  assert(#res.variants[1].tuning == 2)
  T.expect_error("tune.lr must be a non-empty list", gd.compare, { base = base, variants = {
    { name = "x", optimizer = gd.optim.sgd{}, tune = { lr = {} } } } , progress = false })
end)

T.test("compare: a diverged variant is reported and the others go on", function()
  local res = gd.compare{ base = base, repeats = 2, progress = false, variants = {
    { name = "ok", optimizer = gd.optim.sgd{ lr = 0.1 } },
    { name = "boom", optimizer = gd.optim.sgd{ lr = 1e30 } } } }
  assert(res.summary[1].n == 2 and res.summary[1].diverged == 0)
  assert(res.summary[2].n == 0 and res.summary[2].diverged == 2)
  assert(res.variants[2].runs[1].status == "diverged")
  assert(res.summary[2].win_rate == 0)
end)

T.test("a plugin compiled out of tree and put on GRADUS_PLUGIN_PATH appears and trains", function()
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local out, dir = T.plugin_run("signsgd", [[
#include <gradus/gradus.h>
static const gd_option_spec options[] = { GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate") };
static void step(const gd_options *o, const gd_optim_state *st, const gd_optim_span *sp)
{
    (void)o;
    for (int64_t i = 0; i < sp->n; i++)
        sp->x[i] -= (float)st->lr * (float)((sp->g[i] > 0) - (sp->g[i] < 0));
}
static const gd_optimizer_vtable vt = { .size = sizeof vt, .step = step };
static const gd_component signsgd = { .size = sizeof signsgd, .kind = GD_KIND_OPTIMIZER,
    .name = "signsgd", .doc = "sign descent", .options = options, .noptions = 1,
    .vt.optimizer = &vt };
static const gd_component *const components[] = { &signsgd };
GD_PLUGIN("signsgd", "1.0", components)
]], [[
local gd = require "gradus"
assert(gd.optim.signsgd, "signsgd not in gd.optim")
local found
for _, c in ipairs(gd.plugins.list("optim")) do if c.name == "signsgd" then found = c end end
assert(found and found.file:find("signsgd.so"), "not listed with its file")
local d = gd.data.synthetic.blobs{ n = 200, classes = 3, seed = 1 }
local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
  optimizer = gd.optim.signsgd{ lr = 0.01 }, data = d, epochs = 20, batch = 20, progress = false }
local acc = run.model:evaluate(d).accuracy
assert(run.status == "ok" and acc > 0.9, "accuracy " .. acc)
io.write("trained ", acc, "\n")
]])
  assert(out:find("trained") and out:find("rc=0"), out)
  -- without the path it is not there, and the message says what is
  out = io.popen(("GRADUS_PLUGIN_PATH= '%s' run '%s/use.lua' 2>&1; echo \"rc=$?\""):format(exe, dir)):read("a")
  assert(out:find("unknown optimizer 'signsgd'") and not out:find("rc=0"), out)
  sh("rm -rf '" .. dir .. "'")
end)

T.test("examples/plugins/lion.c builds, loads and trains as it is", function()
  local dir = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")
  gd.plugins.load(dir .. "/lion.so")
  local x = gd.tensor{ 1.0, -2.0 }
  local opt = gd.optim.lion{ lr = 0.1, weight_decay = 0.5 }:build{ x }
  opt:step{ gd.tensor{ 0.3, 0.0 } }
  -- c = 0.1*g -> sign(c) = {1, 0}; W -= lr*(sign + wd*W)
  T.close_number("x1", x[1], T.f32(1.0 - 0.1 * (1 + 0.5 * 1.0)), 1e-6)
  T.close_number("x2", x[2], T.f32(-2.0 - 0.1 * (0 + 0.5 * -2.0)), 1e-6)
  local d = gd.data.synthetic.blobs{ n = 200, classes = 3, seed = 2 }
  local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
    optimizer = gd.optim.lion{ lr = 0.01 }, data = d, epochs = 10, batch = 20, progress = false }
  assert(run.status == "ok" and run.model:evaluate(d).accuracy > 0.9)
end)

T.test("Fashion-MNIST: 2,000 images train an MLP to >= 0.75 test accuracy", function()
  local all = T.fashion_mnist{ split = "train", limit = 2000 }
  if not all then return end
  local test = gd.data.fashion_mnist{ split = "test", limit = 2000 }
  assert(all:size() == 2000 and all:features() == 784 and all:classes() == 10)
  local run = gd.train{
    model = gd.sequential{ gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
                           gd.layer.dense{ units = 10 } },
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 1e-3 },
    data = all, epochs = 10, batch = 64, seed = 1, progress = false }
  local r = run.model:evaluate(test)
  print(("fashion-mnist 2k: test accuracy %.4f, loss %.4f"):format(r.accuracy, r.loss))
  assert(r.accuracy >= 0.75, "accuracy " .. r.accuracy)
end)

T.run()
