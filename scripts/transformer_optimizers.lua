-- transformer_optimizers: where optimizers differ most. SGD with momentum,
-- AdamW and Muon, each at its own tuned learning rate (gd.compare's tune:
-- a log grid tried on the validation set with seeds of its own), several
-- seeds, the same budget in steps, on two problems: a small character
-- transformer on the King James Bible and a small CNN on Fashion-MNIST.
-- Claims (today's optimizer research, e.g. Zhang et al. 2020 "Why are
-- adaptive methods good for attention models?"): (1) on the transformer the
-- adaptive methods beat tuned SGD with momentum by a wide margin; (2) on
-- the CNN the gap is small; (3) so the gap is far larger on the transformer.
--
--   build/gradus run scripts/transformer_optimizers.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local seeds = L.pick(3, 2)
local grid_points = L.pick(5, 3)

-- The transformer: d 64, 2 pre-LN blocks, 2 heads, context 64.
local T, d = 64, 64
local text = gd.data.text{ context = T }
local text_train = text:subset(L.pick(6000, 1200))
local text_val = gd.data.text{ context = T, split = "val" }:subset(L.pick(600, 150))
local V = #text:vocab()
local function transformer()
  local parts = { gd.layer.embedding{ vocab = V, dim = d }, gd.layer.positional{ max_len = T } }
  for _ = 1, 2 do
    parts[#parts + 1] = gd.residual{ gd.layer.layer_norm{}, gd.layer.attention{ heads = 2 } }
    parts[#parts + 1] = gd.residual{ gd.layer.layer_norm{}, gd.layer.dense{ units = 4 * d },
                                     gd.layer.gelu{}, gd.layer.dense{ units = d } }
  end
  parts[#parts + 1] = gd.layer.layer_norm{}
  parts[#parts + 1] = gd.layer.dense{ units = V }
  return gd.sequential(parts)
end

-- The CNN: conv 16, pool, conv 32, pool, dense 10 on 28 x 28 images.
local images = gd.data.fashion_mnist{ split = "train", limit = L.pick(6000, 3000),
                                      shape = { 1, 28, 28 } }
local img_train, img_val = images:split{ validation = L.pick(1000, 300), seed = 1 }
local function cnn()
  return gd.sequential{
    gd.layer.conv2d{ filters = 16, kernel = 3, padding = 1, activation = "relu" },
    gd.layer.max_pool2d{},
    gd.layer.conv2d{ filters = 32, kernel = 3, padding = 1, activation = "relu" },
    gd.layer.max_pool2d{}, gd.layer.flatten{}, gd.layer.dense{ units = 10 } }
end

local function variants()
  local function tune(lo, hi) return { lr = gd.logspace(lo, hi, grid_points), seeds = 1 } end
  return {
    { name = "sgd+momentum", optimizer = gd.optim.momentum{ lr = 0.01, gamma = 0.9 },
      tune = tune(3e-3, 1) },
    { name = "adamw", optimizer = gd.optim.adamw{ lr = 1e-3 }, tune = tune(3e-4, 1e-2) },
    { name = "muon", optimizer = gd.optim.muon{ lr = 0.02, fallback = gd.optim.adamw{ lr = 2e-3 } },
      tune = tune(3e-3, 1e-1) },
  }
end

local function compare(name, model, train, val, epochs, batch)
  local r = gd.compare{
    base = { model = model, loss = gd.loss.cross_entropy{}, data = train, validation = val,
             epochs = epochs, batch = batch, clip = { norm = 1 } },
    variants = variants(), repeats = seeds }
  gd.report(r, { dir = L.out .. "/" .. name, plots = not L.quick })
  return r
end

local tr = compare("transformer", transformer(), text_train, text_val, L.pick(2, 1), 32)
local cn = compare("cnn", cnn(), img_train, img_val, L.pick(3, 2), 64)

-- The best adaptive method against momentum: mean final val_loss, paired
-- over seeds (adamw and muon each; the better mean counts).
local function gap(r)
  local _, sm = L.variant(r, "sgd+momentum")
  local best, name = math.huge, nil
  for _, v in ipairs({ "adamw", "muon" }) do
    local _, s = L.variant(r, v)
    if s.n > 0 and s.mean.val_loss < best then best, name = s.mean.val_loss, v end
  end
  local p = L.paired(r, name, "sgd+momentum", "val_loss")
  return { momentum = sm.mean.val_loss, best = best, name = name, paired = p,
           rel = (sm.mean.val_loss - best) / sm.mean.val_loss }
end
local gt, gc = gap(tr), gap(cn)
local ln2 = math.log(2)

-- the plot: the transformer's validation bits per character per epoch
local series = {}
for _, v in ipairs({ "sgd+momentum", "adamw", "muon" }) do
  series[#series + 1] = L.epoch_series(tr, v, "val_bpc", v)
end
L.plot{ title = "char transformer, King James Bible: validation bits per character (tuned lr)",
  xlabel = "epoch", ylabel = "bits per character", series = series }

L.verdict(L.grade(gt.momentum - gt.best >= 0.25 * ln2 and gt.paired.mean + gt.paired.ci < 0,
                  gt.best < gt.momentum),
  "on the transformer adaptive methods beat tuned SGD with momentum by a wide margin",
  string.format("val bits per char: sgd+momentum %.3f, best adaptive (%s) %.3f, %.3f bpc lower; "
    .. "%s (rule: >= 0.25 bpc lower and the 95%% CI below 0; MIXED: lower)",
    gt.momentum / ln2, gt.name, gt.best / ln2, (gt.momentum - gt.best) / ln2, gt.paired.text))
L.verdict(L.grade(math.abs(gc.rel) <= 0.10, math.abs(gc.rel) <= 0.25),
  "on the CNN the gap is small",
  string.format("val loss: sgd+momentum %.4f, best adaptive (%s) %.4f, %.1f%% apart (rule: "
    .. "within 10%%; MIXED: within 25%%)", gc.momentum, gc.name, gc.best, 100 * gc.rel))
L.verdict(L.grade(gt.rel >= 3 * math.max(gc.rel, 0.01), gt.rel > gc.rel),
  "the adaptive methods' advantage is far larger on the transformer than on the CNN",
  string.format("relative val-loss gain of the best adaptive method over tuned sgd+momentum: "
    .. "transformer %.1f%%, CNN %.1f%% (rule: >= 3x; MIXED: larger)", 100 * gt.rel,
    100 * gc.rel))
