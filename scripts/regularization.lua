-- regularization: a wide MLP (784-512-512-10; --quick: 256 wide) on 2,000 Fashion-MNIST
-- images, SGD with momentum, without regularization and with L2, L1 or
-- dropout (0.5 after each hidden layer), paired over seeds. Claims: (1) L2
-- shrinks the weight norm; (2) L1 makes weights sparse (the fraction with
-- |w| < 1e-3); (3) dropout narrows the gap between training and validation
-- loss, both measured in evaluation mode on the final model.
--
--   build/gradus run scripts/regularization.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(2000, 400), L.pick(30, 10), L.pick(3, 2)
local train, val = L.fmnist(ntrain, L.pick(5000, 500))

local width = L.pick(512, 256)
local function net(dropout) return L.mlp{ depth = 2, width = width, init = "he_normal", dropout = dropout } end
local base = { model = net(nil), loss = gd.loss.cross_entropy{}, optimizer = gd.optim.momentum{ lr = 0.01 },
               data = train, validation = val, epochs = epochs, batch = 32 }
local variants = {
  { name = "none" },
  { name = "l2_1e-2", regularizers = { gd.reg.l2{ lambda = 1e-2 } } },
  { name = "l1_1e-3", regularizers = { gd.reg.l1{ lambda = 1e-3 } } },
  { name = "dropout_0.5", model = net(0.5) },
}
L.keep_models(base, variants, seeds)
local results = gd.compare{ base = base, variants = variants, repeats = seeds }
L.report(results)
L.load_models(results)

local function norm(r)
  local s = 0
  for _, w in ipairs(L.weights(r.model)) do s = s + w * w end
  return math.sqrt(s)
end
local function sparsity(r)
  local ws, k = L.weights(r.model), 0
  for _, w in ipairs(ws) do if math.abs(w) < 1e-3 then k = k + 1 end end
  return k / #ws
end
local function gap(r) return r.model:evaluate(val).loss - r.model:evaluate(train).loss end
local neg = function(f) return function(r) return -f(r) end end

-- the share of weights below each magnitude, seed 1's models
local series = {}
for _, v in ipairs(results.variants) do
  local ws = L.weights(v.runs[1].model)
  for i, w in ipairs(ws) do ws[i] = math.abs(w) end
  table.sort(ws)
  local xs, ys, k = {}, {}, 0
  for e = -60, 0 do
    local x = 10 ^ (e / 10)
    while k < #ws and ws[k + 1] < x do k = k + 1 end
    xs[#xs + 1], ys[#ys + 1] = x, k / #ws
  end
  series[#series + 1] = { x = xs, y = ys, label = v.name }
end
L.plot{ title = string.format("784-%d-%d-10 on %d images, SGD+momentum, %d epochs: share of weights with |w| < x (seed 1)",
    width, width, ntrain, epochs),
  xlabel = "x", ylabel = "fraction of weights with |w| < x", logx = true, series = series }

local function mean_of(name, f) return L.mean(L.each(results, name, f)) end
local function sure(p) return p.mean + p.ci < 0 end
local p2 = L.paired(results, "l2_1e-2", "none", norm)
L.verdict(L.grade(sure(p2), p2.mean < 0), "L2 shrinks the weight norm",
  string.format("weight L2 norm: none %.2f, l2 %.2f; %s (rule: the 95%% CI below 0)",
    mean_of("none", norm), mean_of("l2_1e-2", norm), p2.text))
local p1 = L.paired(results, "l1_1e-3", "none", neg(sparsity))
local s0, s1 = mean_of("none", sparsity), mean_of("l1_1e-3", sparsity)
L.verdict(L.grade(p1.wins == p1.seeds and s1 >= 10 * s0, p1.wins > 0), "L1 makes weights sparse",
  string.format("fraction of weights with |w| < 1e-3: none %.3f, l1 %.3f (%.0fx); higher with L1 in %d of %d seeds "
    .. "(rule: higher on every seed and >= 10x)", s0, s1, s1 / s0, p1.wins, p1.seeds))
local pd = L.paired(results, "dropout_0.5", "none", gap)
L.verdict(L.grade(sure(pd), pd.mean < 0), "dropout narrows the train/validation gap",
  string.format("validation loss - training loss (evaluation mode): none %.3f, dropout %.3f; %s (rule: the 95%% CI below 0)",
    mean_of("none", gap), mean_of("dropout_0.5", gap), pd.text))
