-- skip_connections: a 30-layer sigmoid network (width 32, Xavier init) on
-- a Fashion-MNIST subset with SGD, three ways: plain (30 x dense, sigmoid);
-- with the 29 layers after the first as residual blocks (pre-activation,
-- y = x + W sigmoid(x) + b: the same 30 dense layers, the skip around each);
-- and plain with batch norm between each dense layer and its sigmoid.
-- Claims (the lecture: skip connections are the cure for vanishing
-- gradients, batch norm "enables training of very deep networks"): (1) in
-- the plain net the first layer's gradient vanishes, and skip connections
-- keep it; (2) the residual net reaches a higher accuracy after the same
-- budget; (3) batch norm also keeps the first layer's gradient and trains
-- the deep net.
--
--   build/gradus run scripts/skip_connections.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local depth, width = 30, 32
local ntrain, epochs, seeds = L.pick(5000, 1000), L.pick(10, 3), L.pick(3, 2)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))

local function act() return gd.layer.sigmoid{} end
local function dense() return gd.layer.dense{ units = width, init = "xavier_uniform" } end
local function net(kind)
  local layers = { dense() }
  if kind == "bn" then layers[#layers + 1] = gd.layer.batchnorm{} end
  layers[#layers + 1] = act()
  for _ = 2, depth do
    if kind == "residual" then
      layers[#layers + 1] = gd.residual{ act(), dense() }
    else
      layers[#layers + 1] = dense()
      if kind == "bn" then layers[#layers + 1] = gd.layer.batchnorm{} end
      layers[#layers + 1] = act()
    end
  end
  layers[#layers + 1] = gd.layer.dense{ units = 10 }
  return gd.sequential(layers)
end

local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.02 }, data = train,
           validation = val, epochs = epochs, batch = 64, monitor = { every = 10 } },
  variants = {
    { name = "plain", model = net("plain") },
    { name = "residual", model = net("residual") },
    { name = "batchnorm", model = net("bn") },
  },
  repeats = seeds,
}
L.report(results)

-- The first layer's gradient norm: the median over a run's monitored steps,
-- then over its seeds.
local function first_grad(name)
  return L.median(L.each(results, name, function(r) return L.layer_medians(r, "grad_norm").values[1] end))
end
local function acc(name)
  local _, s = L.variant(results, name)
  return s.n > 0 and s.mean.val_accuracy or 0
end
local gp, gr, gb = first_grad("plain"), first_grad("residual"), first_grad("batchnorm")
local ap, ar, ab = acc("plain"), acc("residual"), acc("batchnorm")

-- the plot: gradient norm per dense layer, input first (median over steps and seeds)
local function per_layer(name)
  local per = {}
  for _, r in ipairs(L.variant(results, name).runs) do
    local m = L.layer_medians(r, "grad_norm")
    local k = 0
    for i, n in ipairs(m.names) do
      if n:match("dense%d+$") and i < #m.names then
        k = k + 1
        per[k] = per[k] or {}
        table.insert(per[k], m.values[i])
      end
    end
  end
  local xs, ys = {}, {}
  for k, v in ipairs(per) do xs[k], ys[k] = k, L.median(v) end
  return xs, ys
end
local series = {}
for _, v in ipairs({ { "plain", "plain" }, { "residual", "residual blocks" }, { "batchnorm", "batch norm" } }) do
  local xs, ys = per_layer(v[1])
  series[#series + 1] = { x = xs, y = ys, label = v[2], style = "linespoints" }
end
L.plot{ title = string.format("%d sigmoid layers of %d units, SGD: gradient norm per dense layer (median over steps and seeds)",
    depth, width),
  xlabel = "dense layer (1 = next to the input)", ylabel = "gradient L2 norm", logy = true, series = series }

L.verdict(L.grade(gr >= 1000 * gp, gr >= 10 * gp), "skip connections keep the first layer's gradient that a deep plain net loses",
  string.format("first layer's gradient norm (median over monitored steps and seeds): plain %s, residual %s (%sx; "
    .. "rule: >= 1000x, MIXED >= 10x)", L.fmt(gp), L.fmt(gr), L.fmt(gr / gp)))
local p = L.paired(results, "plain", "residual", "val_accuracy")
L.verdict(L.grade(p.mean + p.ci < 0, p.mean < 0), "the residual net reaches a higher accuracy after the same budget",
  string.format("validation accuracy after %d epochs: plain %.3f, residual %.3f; %s (rule: the 95%% CI below 0)",
    epochs, ap, ar, p.text))
L.verdict(L.grade(gb >= 1000 * gp and ab > ap + 0.1, gb >= 10 * gp and ab > ap), "batch norm also keeps the first layer's gradient and trains the deep net",
  string.format("first layer's gradient norm: plain %s, batch norm %s (%sx); validation accuracy: plain %.3f, "
    .. "batch norm %.3f (rule: >= 1000x and 0.1 higher; MIXED: >= 10x and higher)", L.fmt(gp), L.fmt(gb),
    L.fmt(gb / gp), ap, ab))
