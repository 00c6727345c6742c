-- landscape: the loss landscape around a small-batch and a large-batch
-- solution of the same MLP on Fashion-MNIST. Claims: (1) along the straight
-- line from the initial to the final weights the training loss falls
-- monotonically, with no barrier (Goodfellow et al., 2015); (2) the
-- large-batch solution is sharper: a larger top Hessian eigenvalue, and
-- the loss rises faster around it on a filter-normalized random plane
-- (Keskar et al., 2017; Li et al., 2018, whose filter normalization makes
-- the two comparable). Both are trained to the same training loss (the
-- large batch at a larger lr, √32 times rather than 32 times, which
-- diverges), so neither is compared half-trained.
--
--   build/gradus run scripts/landscape.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, max_epochs, points = L.pick(5000, 1000), L.pick(200, 100), L.pick(21, 7)
local target = L.pick(0.35, 0.5)
local train = gd.data.fashion_mnist{ split = "train", limit = ntrain }
local net = L.mlp{ depth = 2, width = 128 }
local probe_n = L.pick(2000, 500)

local runs = {
  { name = "batch 32", batch = 32, lr = 0.05 },
  { name = "batch 1024", batch = 1024, lr = 0.05 * math.sqrt(32) },
}
local line_t = {}
for i = 0, 14 do line_t[#line_t + 1] = -0.2 + 0.1 * i end   -- t = -0.2 .. 1.2
for _, r in ipairs(runs) do
  local m = net:build{ inputs = 784, seed = 1 }
  local w0 = m:flat_params():copy()
  r.run = gd.train{ model = m, data = train, loss = gd.loss.cross_entropy{}, batch = r.batch,
                    optimizer = gd.optim.sgd{ lr = r.lr }, epochs = max_epochs, seed = 1, progress = false,
                    on_epoch = function(e) return e.train_loss > target end }
  local p = gd.probe{ model = m, data = train, samples = probe_n, seed = 1, batch = 500 }
  r.loss = p:loss()
  r.sharpness = p:eigen{ k = 1, iters = 30 }.values[1]
  -- the line w0 + t (w1 - w0), as w1 + (t - 1) (w1 - w0)
  local alphas = {}
  for k, t in ipairs(line_t) do alphas[k] = t - 1 end
  r.line = p:slice{ direction = m:flat_params():copy():axpy(-1, w0), alphas = alphas }.loss
  -- a filter-normalized random plane: the mean rise of the loss on its border
  local s = p:surface{ points = points, range = 1 }
  local sum, count = 0, 0
  for i = 1, points do
    for j = 1, points do
      if i == 1 or j == 1 or i == points or j == points then
        sum, count = sum + s.loss[i][j] - r.loss, count + 1
      end
    end
  end
  r.rise = sum / count
  -- monotone on [0, 1] up to float noise (1e-4 of the start's loss)
  local worst = 0
  for k = 2, #line_t do
    if line_t[k] > 0 and line_t[k] <= 1 + 1e-9 then
      worst = math.max(worst, r.line[k] - r.line[k - 1])
    end
  end
  r.barrier = worst
end

local series = {}
for _, r in ipairs(runs) do series[#series + 1] = { x = line_t, y = r.line, label = r.name } end
L.plot{ title = string.format("training loss on the line w0 + t (w1 - w0), MLP 784-128-128-10, %d images", ntrain),
  xlabel = "t (0: initial weights, 1: trained)", ylabel = "loss", series = series }

local s, b = runs[1], runs[2]
local mono = s.barrier <= 1e-4 * s.line[3] and b.barrier <= 1e-4 * b.line[3]
L.verdict(L.grade(mono, s.barrier <= 1e-4 * s.line[3] or b.barrier <= 1e-4 * b.line[3]),
  "the loss falls monotonically on the line from the initial to the trained weights",
  string.format("largest rise between neighbouring points on t in [0, 1]: %s %s, %s %s (loss at t = 0: %s; rule: <= 1e-4 of it)",
    s.name, L.fmt(s.barrier), b.name, L.fmt(b.barrier), L.fmt(s.line[3])))
local sharper, rises = b.sharpness > s.sharpness, b.rise > s.rise
L.verdict(L.grade(sharper and rises, sharper or rises), "the large-batch solution is sharper than the small-batch one",
  string.format("top Hessian eigenvalue %s %s, %s %s; mean loss rise on the border of a filter-normalized plane (range 1): %s %s, %s %s; trained to loss %s in %d and %d epochs (probe-set loss %s, %s) (rule: both larger for the large batch)",
    s.name, L.fmt(s.sharpness), b.name, L.fmt(b.sharpness), s.name, L.fmt(s.rise), b.name, L.fmt(b.rise),
    L.fmt(target), s.run.epochs, b.run.epochs, L.fmt(s.loss), L.fmt(b.loss)))
