-- exploding: a 6-layer ReLU MLP (width 128) whose weights start large,
-- N(0, 0.5^2) (He's std here is 0.05-0.13), trained with SGD on a
-- Fashion-MNIST subset. Claims: (1) the gradients explode until the run
-- diverges; (2) each of gradient clipping (norm 1), a proper
-- initialisation (He) and batch normalisation prevents it.
--
--   build/gradus run scripts/exploding.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(5000, 1000), L.pick(3, 2), L.pick(3, 2)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))

local big = gd.init.normal{ std = 0.5 }
local function net(init, bn) return L.mlp{ depth = 6, width = 128, init = init, bn = bn } end
local results = gd.compare{
  base = { model = net(big), loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 },
           data = train, validation = val, epochs = epochs, batch = 64, monitor = { every = 1 } },
  variants = {
    { name = "large_init" },
    { name = "large_init+clip", clip = { norm = 1 } },
    { name = "he_init", model = net("he_normal") },
    { name = "large_init+batchnorm", model = net(big, true) },
  },
  repeats = seeds,
}
L.report(results)

-- the global gradient norm per step of the first seed, until it stopped
local series = {}
for _, v in ipairs(results.variants) do
  local r = v.runs[1]
  local xs, ys = {}, {}
  for _, s in ipairs(r.history.steps) do
    if L.finite(s.grad_norm) and s.step < 150 then xs[#xs + 1], ys[#ys + 1] = s.step + 1, s.grad_norm end
  end
  local tag = r.status == "diverged" and string.format(" (diverged at step %d)", r.diverged.step) or ""
  -- a run stopped after a step or two is a point or two: draw the points
  series[#series + 1] = { x = xs, y = ys, label = v.name .. tag, style = r.status == "diverged" and "linespoints" or nil }
end
L.plot{ title = "6 ReLU layers, SGD lr 0.05: global gradient norm per step (seed 1, first 150 steps)",
  xlabel = "step + 1", ylabel = "gradient L2 norm", logx = true, logy = true, series = series }

local function count(name)
  local v, s = L.variant(results, name)
  local where, peak = {}, 0
  for _, r in ipairs(v.runs) do
    if r.status == "diverged" then where[#where + 1] = tostring(r.diverged.step) end
    for _, st in ipairs(r.history.steps) do if L.finite(st.grad_norm) then peak = math.max(peak, st.grad_norm) end end
  end
  return s.diverged, #v.runs, where, peak, s.mean.val_accuracy
end
local d, n, where, peak = count("large_init")
local g0 = L.variant(results, "large_init").runs[1].history.steps[1].grad_norm
L.verdict(L.grade(d == n, d > 0), "large initial weights make the gradients explode until the run diverges",
  string.format("%d of %d seeds diverged (at steps %s); gradient norm at step 0 %s, largest finite %s",
    d, n, table.concat(where, ", "), L.fmt(g0), L.fmt(peak)))
for _, name in ipairs{ "large_init+clip", "he_init", "large_init+batchnorm" } do
  local dv, nv, _, pk, acc = count(name)
  L.verdict(L.grade(dv == 0 and acc > 0.5, dv < nv), name:gsub("large_init%+", "") .. " prevents the divergence",
    string.format("%d of %d seeds diverged; largest gradient norm %s; validation accuracy %.3f (rule: none diverged, accuracy > 0.5)",
      dv, nv, L.fmt(pk), acc))
end
