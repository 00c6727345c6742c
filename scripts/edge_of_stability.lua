-- edge_of_stability: full-batch gradient descent on a few thousand
-- Fashion-MNIST images, a tanh MLP as in Cohen et al. (2021), several
-- learning rates. Claim: the sharpness (the top eigenvalue of the training
-- loss' Hessian) rises until it reaches 2/lr, the largest curvature that
-- gradient descent is stable on for a quadratic, and then hovers there
-- ("the edge of stability") while the loss keeps falling, though no longer
-- monotonically.
--
--   build/gradus run scripts/edge_of_stability.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

-- lr = 2/edge for these edges: above the initial sharpness (about 20), so
-- that the sharpness has to rise to them
local n, steps, every = L.pick(1000, 300), L.pick(800, 200), 10
local edges = L.pick({ 40, 30, 25 }, { 25 })
local lrs = {}
for i, e in ipairs(edges) do lrs[i] = 2 / e end
local train = gd.data.fashion_mnist{ split = "train", limit = n }
local net = gd.sequential{ gd.layer.dense{ units = 200 }, gd.layer.tanh{},
                           gd.layer.dense{ units = 200 }, gd.layer.tanh{},
                           gd.layer.dense{ units = 10 } }

local variants = {}
for _, lr in ipairs(lrs) do
  variants[#variants + 1] = { name = string.format("lr %.3g", lr), optimizer = gd.optim.sgd{ lr = lr } }
end
local results = gd.compare{
  base = { model = net, loss = gd.loss.cross_entropy{}, data = train, batch = "full",
           epochs = steps, seed = 1, monitor = { every = 1, probes = {
             sharpness = { every = every, samples = n, iters = 20, tol = 1e-3 } } } },
  variants = variants,
}
L.report(results)

-- Per lr: the sharpness over steps, the step it first came within 10 % of
-- 2/lr, where it stayed after that, and the loss after that step.
local series, verdicts = {}, {}
for i, v in ipairs(results.variants) do
  local lr, run = lrs[i], v.runs[1]
  local edge = 2 / lr
  local xs, ys, reached = {}, {}, nil
  for _, p in ipairs(run.history.probes) do
    if p.sharpness then
      xs[#xs + 1], ys[#ys + 1] = p.step, p.sharpness
      if not reached and p.sharpness >= 0.9 * edge then reached = p.step end
    end
  end
  series[#series + 1] = { x = xs, y = ys, label = v.name }
  series[#series + 1] = { x = { 0, steps }, y = { edge, edge }, label = string.format("2/lr = %g", edge) }
  local after, losses, ups = {}, {}, 0
  if reached then
    for k, x in ipairs(xs) do if x >= reached then after[#after + 1] = ys[k] / edge end end
    for _, s in ipairs(run.history.steps) do
      if s.step >= reached then losses[#losses + 1] = s.loss end
    end
    for k = 2, #losses do if losses[k] > losses[k - 1] then ups = ups + 1 end end
  end
  local ratio = #after > 0 and L.median(after) or 0 / 0
  local first, last = losses[1], losses[#losses]
  verdicts[#verdicts + 1] = {
    holds = reached ~= nil and ratio >= 0.9 and ratio <= 1.1 and last ~= nil and last < first and ups > 0,
    partly = reached ~= nil,
    text = string.format("%s: sharpness %s at step 0, first within 10%% of 2/lr = %s at step %s; "
      .. "after it median sharpness/(2/lr) %s; loss %s -> %s with %d rises in %d steps "
      .. "(rule: reached, median in [0.9, 1.1], loss lower at the end, some rises)",
      v.name, L.fmt(ys[1] or 0 / 0), L.fmt(edge), reached and tostring(reached) or "never",
      L.fmt(ratio), L.fmt(first or 0 / 0), L.fmt(last or 0 / 0), ups, #losses),
  }
end
L.plot{ title = string.format("full-batch GD, tanh MLP 784-200-200-10, %d Fashion-MNIST images: sharpness", n),
  xlabel = "step", ylabel = "top Hessian eigenvalue", series = series }

for _, v in ipairs(verdicts) do
  L.verdict(L.grade(v.holds, v.partly), "sharpness rises to 2/lr and stays there while the loss falls non-monotonically",
    v.text)
end
