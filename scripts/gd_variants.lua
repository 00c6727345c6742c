-- gd_variants: batch gradient descent (batch = "full"), SGD (batch 1) and
-- mini-batch GD (32, 128, 512) for the same number of epochs on a
-- Fashion-MNIST subset (an MLP 784-128-10), over 3 seeds, each batch size
-- at its own lr (gd.compare's tune: the best of 5 on the validation set,
-- seed 1), so that no batch size loses for want of a fitting lr.
-- Claims: (1) SGD's loss is the noisiest per update and it needs the most
-- updates per epoch; (2) mini-batch (32-256) reaches a target validation
-- accuracy first in wall time; (3) batch 512 generalises a little worse
-- than 32-128 at equal epochs.
--
--   build/gradus run scripts/gd_variants.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(10000, 800), L.pick(8, 3), L.pick(3, 2)
local target = L.pick(0.82, 0.7)
local train, val = L.fmnist(ntrain, L.pick(5000, 500))
local batches = { { "b32", 32 }, { "b128", 128 }, { "b512", 512 }, { "sgd_b1", 1 }, { "batch_gd", "full" } }

local variants = {}
for i, b in ipairs(batches) do
  local per_epoch = b[2] == "full" and 1 or math.ceil(ntrain / b[2])
  -- about 40 monitored losses per epoch (each the loss of one batch)
  variants[i] = { name = b[1], batch = b[2], monitor = { every = math.max(1, per_epoch // 40) },
                  tune = { lr = L.pick({ 0.003, 0.01, 0.03, 0.1, 0.3 }, { 0.03, 0.1 }) } }
end
local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
                                  gd.layer.dense{ units = 10 } },
           loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{},
           data = train, validation = val, epochs = epochs },
  variants = variants,
  repeats = seeds,
}
L.report(results)

-- noise per update: median |loss_k - loss_(k-1)| / loss over the monitored
-- batch losses of the last half of the run; updates per epoch from run.steps
local function noise(r)
  local st, d = r.history.steps, {}
  for k = #st // 2 + 2, #st do d[#d + 1] = math.abs(st[k].loss - st[k - 1].loss) / st[k - 1].loss end
  return L.median(d)
end
-- wall time (the epochs' seconds summed) to the end of the first epoch at
-- the target validation accuracy (inf when never reached)
local function time_to(r)
  local t = 0
  for _, e in ipairs(r.history.epochs) do
    t = t + e.seconds
    if e.val_accuracy >= target then return t end
  end
  return math.huge
end
local stat = {}
for _, b in ipairs(batches) do
  local v = L.variant(results, b[1])
  stat[b[1]] = { noise = L.median(L.each(results, b[1], noise)), time = L.median_inf(L.each(results, b[1], time_to)),
                 lr = v.lr,
                 per_epoch = v.runs[1].steps / epochs, acc = L.mean(L.each(results, b[1], function(r) return r.metrics.val_accuracy end)) }
end

local series = {}
for _, b in ipairs(batches) do series[#series + 1] = L.epoch_series(results, b[1], "val_accuracy",
  string.format("batch %s, lr %s (%s updates/epoch)", tostring(b[2]), L.fmt(stat[b[1]].lr), L.fmt(stat[b[1]].per_epoch))) end
L.plot{ title = string.format("SGD on %d images, each batch size at its tuned lr (mean of %d seeds)", ntrain, seeds),
  xlabel = "epoch", ylabel = "validation accuracy", series = series }

local function list(field, f)
  local parts = {}
  for _, b in ipairs(batches) do parts[#parts + 1] = b[1] .. " " .. (f or L.fmt)(stat[b[1]][field]) end
  return table.concat(parts, ", ")
end
local noisiest, most = true, true
for _, b in ipairs(batches) do
  if b[1] ~= "sgd_b1" then
    noisiest = noisiest and stat.sgd_b1.noise > stat[b[1]].noise
    most = most and stat.sgd_b1.per_epoch > stat[b[1]].per_epoch
  end
end
L.verdict(L.grade(noisiest and most, noisiest or most), "SGD's loss is the noisiest per update and it needs the most updates per epoch",
  string.format("median relative change of the batch loss between monitored updates: %s; updates/epoch: %s",
    list("noise"), list("per_epoch")))

local best, best_t = nil, math.huge
for _, b in ipairs(batches) do if stat[b[1]].time < best_t then best, best_t = b[1], stat[b[1]].time end end
local mini = best == "b32" or best == "b128"
L.verdict(L.grade(mini, false), "mini-batch (32-256) reaches the target accuracy first in wall time",
  string.format("seconds to validation accuracy %.2f (median of %d seeds): %s; first: %s",
    target, seeds, list("time", function(x) return x == math.huge and "never" or string.format("%.2f", x) end), tostring(best)))

local acc = function(r) return -r.metrics.val_accuracy end    -- lower is better for L.paired
local p32, p128 = L.paired(results, "b32", "b512", acc), L.paired(results, "b128", "b512", acc)
local sure = p32.mean + p32.ci < 0 and p128.mean + p128.ci < 0
L.verdict(L.grade(sure, p32.mean < 0 and p128.mean < 0), "batch 512 generalises a little worse than 32-128 at equal epochs",
  string.format("tuned lr: %s; final validation accuracy: %s; paired over %d seeds, accuracy of b512 below b32 by %s +- %s (%d/%d seeds), "
    .. "below b128 by %s +- %s (%d/%d) (rule: both 95%% CIs above 0)", list("lr"), list("acc"), seeds, L.fmt(-p32.mean), L.fmt(p32.ci),
    p32.wins, p32.seeds, L.fmt(-p128.mean), L.fmt(p128.ci), p128.wins, p128.seeds))
