-- vanishing: a 10-layer sigmoid MLP (width 64, Xavier init) against the
-- same net with ReLU and He init, SGD on a Fashion-MNIST subset, gradient
-- norms monitored per layer. Claims: (1) in the sigmoid net the gradient
-- norm shrinks layer by layer towards the input, by about the factor
-- sigma' <= 0.25 per layer; (2) its early layers barely move (update/weight
-- ratio of the first layer against the last); (3) with ReLU and He init the
-- layers' gradient norms stay within an order of magnitude of each other.
--
--   build/gradus run scripts/vanishing.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local depth, ntrain, epochs, seeds = 10, L.pick(5000, 1000), L.pick(3, 1), L.pick(2, 1)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))

local function net(act, init) return L.mlp{ depth = depth, width = 64, act = act, init = init } end
local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 }, data = train,
           validation = val, epochs = epochs, batch = 64, monitor = { every = 10 } },
  variants = {
    { name = "sigmoid_xavier", model = net(gd.layer.sigmoid{}, "xavier_uniform") },
    { name = "relu_he", model = net(gd.layer.relu{}, "he_normal") },
  },
  repeats = seeds,
}
L.report(results)

-- per dense layer (input first), the median over all runs and monitored steps
local function medians(name, field)
  local per = {}
  for _, r in ipairs(L.variant(results, name).runs) do
    for i, v in ipairs(L.layer_medians(r, field).values) do per[i] = per[i] or {}; table.insert(per[i], v) end
  end
  local out = {}
  for i, xs in ipairs(per) do out[i] = L.median(xs) end
  return out
end
local sg, rg = medians("sigmoid_xavier", "grad_norm"), medians("relu_he", "grad_norm")
local su = medians("sigmoid_xavier", "update_ratio")
local xs = {}
for i = 1, #sg do xs[i] = i end
L.plot{ title = string.format("%d dense layers, width 64: gradient norm per layer (median over monitored steps)", #sg),
  xlabel = "dense layer (1 = next to the input)", ylabel = "gradient L2 norm", logy = true,
  series = { { x = xs, y = sg, label = "sigmoid, Xavier", style = "linespoints" },
             { x = xs, y = rg, label = "ReLU, He", style = "linespoints" } } }

-- per-layer ratio |g_k| / |g_(k+1)| among the hidden layers (the output layer's
-- gradient has no sigma' in it; the last hidden layer is the first to get one)
local ratios, shrinks = {}, true
for k = 1, #sg - 2 do
  ratios[k] = sg[k] / sg[k + 1]
  shrinks = shrinks and ratios[k] < 1
end
local geo = (sg[1] / sg[#sg - 1]) ^ (1 / (#sg - 2))
local function list(v) local p = {} for i, x in ipairs(v) do p[i] = L.fmt(x) end return table.concat(p, " ") end
L.verdict(L.grade(shrinks and geo <= 0.25 * 1.2, shrinks or geo < 1), "in a 10-layer sigmoid net the gradient norm shrinks layer by layer towards the input",
  string.format("gradient norm per dense layer, input first: %s; ratio to the next layer: %s; geometric mean %.3f "
    .. "against the sigma' bound 0.25 (rule: every ratio < 1 and the mean <= 0.3)", list(sg), list(ratios), geo))
local move = su[1] / su[#su]
L.verdict(L.grade(move < 0.01, move < 0.1), "the sigmoid net's early layers barely move",
  string.format("update/weight ratio: first layer %s, last layer %s (%s of it; rule: < 1%%)", L.fmt(su[1]), L.fmt(su[#su]), L.fmt(move)))
local lo, hi = math.huge, 0
for _, v in ipairs(rg) do lo, hi = math.min(lo, v), math.max(hi, v) end
L.verdict(L.grade(hi / lo <= 10, hi / lo <= 30), "ReLU with He init keeps the layers' gradient norms within an order of magnitude",
  string.format("gradient norm per dense layer, input first: %s; largest / smallest %.1f (rule: <= 10)", list(rg), hi / lo))
