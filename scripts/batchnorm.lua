-- batchnorm: a 6-layer ReLU MLP (width 128) on a Fashion-MNIST subset
-- with SGD, with and without batch normalisation after each dense layer.
-- Claims: (1) with batch norm a 10x larger learning rate (0.5 instead of
-- 0.05) still trains (as well as the BN net at 0.05) where the same net
-- without it diverges; (2) the result
-- depends less on the initialisation: the spread of final validation
-- accuracy over He, Xavier, N(0, 0.01^2) and N(0, 0.2^2) at lr 0.05.
--
--   build/gradus run scripts/batchnorm.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(5000, 1000), L.pick(4, 2), L.pick(2, 1)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))
local lr = 0.05

local function net(init, bn) return L.mlp{ depth = 6, width = 128, init = init, bn = bn } end
local inits = { { "he", "he_normal" }, { "xavier", "xavier_normal" },
                { "normal_0.01", gd.init.normal{ std = 0.01 } }, { "normal_0.2", gd.init.normal{ std = 0.2 } } }
local variants = {
  { name = "plain_lr10x", model = net("he_normal", false), optimizer = gd.optim.sgd{ lr = 10 * lr } },
  { name = "bn_lr10x", model = net("he_normal", true), optimizer = gd.optim.sgd{ lr = 10 * lr } },
}
for _, i in ipairs(inits) do
  variants[#variants + 1] = { name = "plain_" .. i[1], model = net(i[2], false) }
  variants[#variants + 1] = { name = "bn_" .. i[1], model = net(i[2], true) }
end
local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = lr }, data = train, validation = val,
           epochs = epochs, batch = 64, monitor = { every = 20 } },
  variants = variants,
  repeats = seeds,
}
L.report(results)

local function acc(name)
  local _, s = L.variant(results, name)
  return s.n > 0 and s.mean.val_accuracy or 0 / 0, s.diverged, s.n + s.diverged
end
local function state(name)
  local a, d, n = acc(name)
  return string.format("%s: %d of %d diverged%s", name, d, n, d < n and string.format(", val acc %.3f", a) or "")
end

local series = {}
for _, tag in ipairs{ "plain", "bn" } do
  local xs, ys = {}, {}
  for k, i in ipairs(inits) do
    local a = acc(tag .. "_" .. i[1])
    xs[#xs + 1], ys[#ys + 1] = k, L.finite(a) and a or 0
  end
  series[#series + 1] = { x = xs, y = ys, style = "linespoints",
    label = tag == "bn" and "with batch norm" or "without" }
end
L.plot{ title = string.format("6 ReLU layers, SGD lr %g, %d epochs: final validation accuracy per init", lr, epochs),
  xlabel = "initialisation: 1 He, 2 Xavier, 3 N(0, 0.01^2), 4 N(0, 0.2^2)", ylabel = "validation accuracy (0: diverged)",
  series = series }

local pa, pd, pn = acc("plain_lr10x")
local ba, bd, bn = acc("bn_lr10x")
local a0 = acc("bn_he")   -- the same BN net at the base lr
local diverged = pd == pn
local trains = bd == 0 and ba > 0.2             -- twice chance
local as_well = trains and ba >= 0.9 * a0
L.verdict(L.grade(diverged and as_well, diverged and trains or as_well), "with batch norm a 10x larger lr still trains where the same net without it diverges",
  string.format("lr %g: %s; %s; with BN at lr %g: val acc %.3f (rule: without BN every seed diverged, with BN none and "
    .. "at least 90%% of its accuracy at lr %g; MIXED when it trains (> 0.2) to less)", 10 * lr, state("plain_lr10x"),
    state("bn_lr10x"), lr, a0, lr))
local function range(tag)
  local lo, hi, parts = math.huge, -math.huge, {}
  for _, i in ipairs(inits) do
    local a = acc(tag .. "_" .. i[1])
    a = L.finite(a) and a or 0
    lo, hi = math.min(lo, a), math.max(hi, a)
    parts[#parts + 1] = string.format("%s %.3f", i[1], a)
  end
  return hi - lo, table.concat(parts, ", ")
end
local rp, tp = range("plain")
local rb, tb = range("bn")
L.verdict(L.grade(rb < 0.5 * rp, rb < rp), "with batch norm the result depends less on the initialisation",
  string.format("final validation accuracy (0 when diverged), without BN: %s (range %.3f); with BN: %s (range %.3f) "
    .. "(rule: range with BN < half the range without)", tp, rp, tb, rb))
