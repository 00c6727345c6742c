-- adaptive: AdaGrad, RMSprop and Adam (and Adam without bias correction;
-- SGD and momentum for comparison) on a long run: an MLP 784-128-10 on a Fashion-MNIST subset for many
-- epochs, each at the usual lr (AdaGrad 0.01, RMSprop and Adam 1e-3),
-- over seeds. Claims: (1) AdaGrad's effective learning rate decays too fast
-- (its update/weight ratio falls by far more than RMSprop's and Adam's) and
-- it stalls where they keep improving (training loss in the second half of
-- the run); (2) Adam's bias correction matters in the first steps: without
-- it the first updates are several times larger.
--
--   build/gradus run scripts/adaptive.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(5000, 800), L.pick(40, 10), L.pick(3, 2)
local train, val = L.fmnist(ntrain, L.pick(2000, 300))
local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
                                  gd.layer.dense{ units = 10 } },
           loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = epochs, batch = 64,
           monitor = { every = 5 } },
  variants = {
    { name = "adagrad", optimizer = gd.optim.adagrad{ lr = 0.01 } },
    { name = "rmsprop", optimizer = gd.optim.rmsprop{ lr = 1e-3 } },
    { name = "adam", optimizer = gd.optim.adam{ lr = 1e-3 } },
    { name = "adam_no_bc", optimizer = gd.optim.adam{ lr = 1e-3, bias_correction = false } },
    -- for comparison, the non-adaptive ones at their usual lr
    { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
    { name = "momentum", optimizer = gd.optim.momentum{ lr = 0.01 } },
  },
  repeats = seeds,
}
L.report(results)

-- the update/weight ratio of the first layer, median over a span of monitored steps
local function ratio(r, i0, i1) return L.layer_medians(r, "update_ratio", i0, i1).values[1] end
-- effective-lr decay: the ratio in the last tenth of the run over the first tenth's
local function decay(r)
  local n = #r.history.steps
  local k = math.max(2, n // 10)
  return ratio(r, n - k + 1, n) / ratio(r, 2, k + 1)
end
-- the training loss's fall over the second half, relative to where it stood
local function late_gain(r)
  local ep = r.history.epochs
  local mid = ep[#ep // 2].train_loss
  return (mid - ep[#ep].train_loss) / mid
end
local names = { "adagrad", "rmsprop", "adam" }
local d, g = {}, {}
for _, n in ipairs(names) do
  d[n] = L.mean(L.each(results, n, decay))
  g[n] = L.mean(L.each(results, n, late_gain))
end

local series = {}
for _, n in ipairs{ "adagrad", "rmsprop", "adam", "sgd", "momentum" } do
  series[#series + 1] = L.epoch_series(results, n, "train_loss")
end
L.plot{ title = string.format("%d Fashion-MNIST images, %d epochs: training loss (mean of %d seeds)", ntrain, epochs, seeds),
  xlabel = "epoch", ylabel = "training loss", logy = true, series = series }

local fast = d.adagrad < 0.5 * d.rmsprop and d.adagrad < 0.5 * d.adam
L.verdict(L.grade(fast, d.adagrad < d.rmsprop and d.adagrad < d.adam), "AdaGrad's effective learning rate decays too fast",
  string.format("first layer's update/weight ratio, last tenth of the run / first tenth (mean of %d seeds): "
    .. "adagrad %s, rmsprop %s, adam %s (rule: adagrad's < half the others')", seeds, L.fmt(d.adagrad), L.fmt(d.rmsprop), L.fmt(d.adam)))
local stall = g.adagrad < 0.5 * g.rmsprop and g.adagrad < 0.5 * g.adam
local pr, pa = L.paired(results, "rmsprop", "adagrad", "train_loss"), L.paired(results, "adam", "adagrad", "train_loss")
L.verdict(L.grade(stall and pr.mean < 0 and pa.mean < 0, stall or (pr.mean < 0 and pa.mean < 0)),
  "AdaGrad stalls on a long run where RMSprop and Adam keep improving",
  string.format("training loss's fall over the second half: adagrad %.0f%%, rmsprop %.0f%%, adam %.0f%%; final training loss "
    .. "%s; %s (rule: adagrad's fall < half the others' and both end lower)", 100 * g.adagrad, 100 * g.rmsprop,
    100 * g.adam, pr.text, pa.text))

-- the first monitored step (step 0) and the next few: update/weight ratio without / with bias correction
local function early(r) return ratio(r, 1, 4) end
local with, without = L.mean(L.each(results, "adam", early)), L.mean(L.each(results, "adam_no_bc", early))
local e1 = function(r) return r.history.epochs[1].train_loss end
local pe = L.paired(results, "adam_no_bc", "adam", e1)
L.verdict(L.grade(without > 2 * with, without > 1.2 * with), "Adam's bias correction matters in the first steps",
  string.format("first layer's update/weight ratio over steps 0-15: with bias correction %s, without %s (%.1fx); "
    .. "first epoch's training loss: %s (rule: > 2x larger steps without)", L.fmt(with), L.fmt(without), without / with, pe.text))
