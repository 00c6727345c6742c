-- fitting: underfitting against overfitting on Fashion-MNIST, judged by
-- the framework's own diagnoses (run.diagnoses). A too small model (a
-- linear bottleneck of 1 unit: 784-1-10) on 10,000 images, and a large one
-- (784-512-512-10) on 1,000 images trained for many epochs with Adam;
-- both validated on the same 5,000 held-out images, errors = 1 - accuracy
-- measured in evaluation mode on the training and validation sets.
-- Claims: (1) underfitting: both errors high, small gap, diagnosed as
-- underfitting; (2) overfitting: low training error, high validation
-- error, large gap, diagnosed as overfitting.
--
--   build/gradus run scripts/fitting.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local seeds, nval = L.pick(2, 1), L.pick(5000, 500)
local all = gd.data.fashion_mnist{ split = "train", limit = 10000 + nval }
local rest, val = all:split{ validation = nval, seed = 1 }
local big_train = L.quick and rest:split{ validation = 7000, seed = 2 } or rest
local small_train = rest:split{ validation = 10000 - L.pick(1000, 500), seed = 2 }

local base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 1e-3 }, validation = val, batch = 64 }
local variants = {
  { name = "too_small", data = big_train, epochs = L.pick(10, 4),
    model = gd.sequential{ gd.layer.dense{ units = 1 }, gd.layer.dense{ units = 10 } } },
  { name = "too_large", data = small_train, epochs = L.pick(60, 25),
    model = L.mlp{ depth = 2, width = 512, init = "he_normal" } },
}
L.keep_models(base, variants, seeds)
local results = gd.compare{ base = base, variants = variants, repeats = seeds }
L.report(results)
L.load_models(results)

local function errors(name, train)
  local te, ve, diag, n = {}, {}, {}, 0
  for i, r in ipairs(L.variant(results, name).runs) do
    te[i] = 1 - r.model:evaluate(train).accuracy
    ve[i] = 1 - r.model:evaluate(val).accuracy
    n = n + 1
  end
  return L.mean(te), L.mean(ve), n
end
local function diagnosed(name, kind)
  local k = 0
  for _, r in ipairs(L.variant(results, name).runs) do if L.diagnosed(r, kind) then k = k + 1 end end
  return k
end
local ste, sve = errors("too_small", big_train)
local lte, lve, n = errors("too_large", small_train)
local sd, ld = diagnosed("too_small", "underfitting"), diagnosed("too_large", "overfitting")
local sd_other = diagnosed("too_small", "overfitting")

L.plot{ title = "training loss (the mean over each epoch's batches) and validation loss, mean over seeds",
  xlabel = "epoch", ylabel = "loss",
  series = { L.epoch_series(results, "too_small", "train_loss", "784-1-10 on 10,000: training"),
             L.epoch_series(results, "too_small", "val_loss", "784-1-10 on 10,000: validation"),
             L.epoch_series(results, "too_large", "train_loss", "784-512-512-10 on 1,000: training"),
             L.epoch_series(results, "too_large", "val_loss", "784-512-512-10 on 1,000: validation") } }

local under = ste > 0.25 and sve > 0.25 and math.abs(sve - ste) < 0.05
L.verdict(L.grade(under and sd == n, under or sd > 0), "underfitting: a too small model has both errors high and a small gap, and is diagnosed so",
  string.format("784-1-10: training error %.3f, validation error %.3f, gap %.3f; diagnosed underfitting in %d of %d seeds "
    .. "(rule: both errors > 0.25, gap < 0.05, diagnosed every time)", ste, sve, sve - ste, sd, n))
local over = lte < 0.02 and lve > 0.15 and lve - lte > 0.1
L.verdict(L.grade(over and ld == n, over or ld > 0), "overfitting: a large model on 1,000 samples has a low training error, a high validation error and a large gap, and is diagnosed so",
  string.format("784-512-512-10: training error %.3f, validation error %.3f, gap %.3f; diagnosed overfitting in %d of %d seeds "
    .. "(rule: training error < 0.02, validation error > 0.15, gap > 0.1, diagnosed every time)", lte, lve, lve - lte, ld, n))
