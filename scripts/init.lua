-- init: the activation spread through deep nets (10 hidden layers of 256)
-- on Fashion-MNIST inputs, at the first step, for the lecture's pairings
-- tanh + Xavier and ReLU + He against the wrong ones: tanh + He (too
-- large), ReLU + Xavier (too small) and either with N(0, 0.01^2). act_std
-- is each activation layer's output std from the monitor; then SGD trains
-- each net a little to show what the start costs. Claims: (1) the std stays
-- stable through tanh + Xavier and through ReLU + He (last/first hidden
-- layer within 2x); (2) the wrong pairings collapse (< 1/10) or grow / saturate.
--
--   build/gradus run scripts/init.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local depth, ntrain, epochs, seeds = 10, L.pick(5000, 1000), L.pick(3, 1), L.pick(2, 1)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))

local function net(act, init) return L.mlp{ depth = depth, width = 256, act = act, init = init } end
local small = gd.init.normal{ std = 0.01 }
local pairs_ = {
  { "tanh_xavier", gd.layer.tanh{}, "xavier_normal" },
  { "relu_he", gd.layer.relu{}, "he_normal" },
  { "tanh_he", gd.layer.tanh{}, "he_normal" },
  { "relu_xavier", gd.layer.relu{}, "xavier_normal" },
  { "tanh_normal_0.01", gd.layer.tanh{}, small },
  { "relu_normal_0.01", gd.layer.relu{}, small },
}
local variants = {}
for i, p in ipairs(pairs_) do variants[i] = { name = p[1], model = net(p[2], p[3]) } end
local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.02 }, data = train, validation = val,
           epochs = epochs, batch = 64, monitor = { every = 20 } },
  variants = variants,
  repeats = seeds,
}
L.report(results)

-- act_std and saturation of the activation layers (the odd-numbered after
-- each dense) at step 0 of seed 1
local function spread(name)
  local s = L.variant(results, name).runs[1].history.steps[1]
  local std, sat = {}, {}
  for _, l in ipairs(s.layers) do
    if not L.finite(l.grad_norm) and L.finite(l.act_std) then std[#std + 1], sat[#sat + 1] = l.act_std, l.saturated end
  end
  return std, sat
end
local series, stat = {}, {}
for _, p in ipairs(pairs_) do
  local std, sat = spread(p[1])
  local xs = {}
  for i = 1, #std do xs[i] = i end
  series[#series + 1] = { x = xs, y = std, label = p[1]:gsub("_", " "), style = "linespoints" }
  stat[p[1]] = { std = std, ratio = std[#std] / std[1], sat = sat[#sat],
                 acc = L.mean(L.each(results, p[1], function(r) return r.metrics.val_accuracy end)) }
end
L.plot{ title = string.format("%d hidden layers of 256: activation std per layer at step 0", depth),
  xlabel = "hidden layer (1 = next to the input)", ylabel = "std of the activations", logy = true, series = series }

local function describe(name)
  local s = stat[name]
  return string.format("%s: std %s -> %s (x%s)%s, val acc %.2f", name, L.fmt(s.std[1]), L.fmt(s.std[#s.std]), L.fmt(s.ratio),
    L.finite(s.sat) and string.format(", %.0f%% saturated", 100 * s.sat) or "", s.acc)
end
for _, name in ipairs{ "tanh_xavier", "relu_he" } do
  local r = stat[name].ratio
  L.verdict(L.grade(r >= 0.5 and r <= 2, r >= 0.1 and r <= 10), name:gsub("_", " + ") .. " keeps the activation variance stable with depth",
    describe(name) .. " (rule: last/first within 2x)")
end
for _, name in ipairs{ "tanh_he", "relu_xavier", "tanh_normal_0.01", "relu_normal_0.01" } do
  local s = stat[name]
  local off = s.ratio < 0.1 or s.ratio > 10 or (L.finite(s.sat) and s.sat > 0.2)
  L.verdict(L.grade(off, s.ratio < 0.5 or s.ratio > 2), "the wrong pairing " .. name:gsub("_", " + ", 1) .. " collapses or grows",
    describe(name) .. " (rule: last/first < 0.1 or > 10, or > 20% saturated)")
end
