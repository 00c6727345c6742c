-- critical_batch: the gradient noise scale predicts the critical batch
-- size (McCandlish et al., 2018). For each batch size B, SGD with the lr
-- tuned on a small grid needs S(B) steps to reach a target training loss.
-- Claim: below the simple noise scale B_simple = tr(Σ)/|G|², measured
-- early in training, doubling the batch nearly halves the steps (perfect
-- scaling); well above it, doubling barely helps, since the gradient is
-- then already nearly exact. Their model, S = S_min (1 + B_crit / B), puts
-- the turn at a critical batch B_crit of about B_simple.
--
--   build/gradus run scripts/critical_batch.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local n, eval_n = L.pick(10000, 2000), L.pick(1000, 300)
local batches = L.pick({ 8, 16, 32, 64, 128, 256, 512, 1024 }, { 8, 32, 128, 512 })
-- lrs a factor sqrt(2) apart (quick: 2)
local lrs = L.pick({ 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.57, 0.8 }, { 0.1, 0.2, 0.4, 0.8 })
local target, max_steps = L.pick(0.6, 0.8), L.pick(4000, 1000)
local ref_batch = L.pick(64, 32)
local train = gd.data.fashion_mnist{ split = "train", limit = n }
local net = L.mlp{ depth = 1, width = 64 }
local loss = gd.loss.cross_entropy{}

-- Steps of SGD at (batch, lr) until the loss on a fixed set of eval_n
-- training images is at most the target, checked at steps 5 % apart (so
-- S is at most 5 % late, alike for every batch); nil when not reached in
-- max_steps or diverged. monitor: passed to gd.train (the probes leave
-- the run bit-identical, so S is the same with or without them).
local function steps_to_target(batch, lr, monitor)
  local m = net:build{ inputs = 784, seed = 1 }
  local p = gd.probe{ model = m, data = train, samples = eval_n, seed = 2, batch = 500 }
  local hit, check, last = nil, 1, 0
  local run = gd.train{ model = m, data = train, loss = loss, batch = batch, drop_last = true,
    optimizer = gd.optim.sgd{ lr = lr }, epochs = math.ceil(max_steps / (n // batch)) + 1, seed = 1,
    progress = false, quiet_diagnoses = true, monitor = monitor,
    on_step = function(s)
      last = s.step
      if not hit and s.step >= check then
        if p:loss() <= target then hit = s.step end
        check = math.max(s.step + 1, math.ceil(s.step * 1.05))
      end
    end,
    on_epoch = function() return hit == nil and last < max_steps end }
  return hit, run
end

-- S(B): the fewest steps over the lr grid, and the lr that gave them.
local S, best_lr = {}, {}
for i, b in ipairs(batches) do
  for _, lr in ipairs(lrs) do
    local s = steps_to_target(b, lr)
    if s and (not S[i] or s < S[i]) then S[i], best_lr[i] = s, lr end
  end
  io.stdout:write(string.format("batch %4d: %s steps to loss %g (lr %s)\n", b,
    S[i] and tostring(S[i]) or "never", target, best_lr[i] and L.fmt(best_lr[i]) or "-"))
end

-- B_simple from monitor.probes.noise_scale on the reference batch's best
-- run, every S/8 steps from its start to the target; their median is the
-- measure (one reading scatters widely; over long runs it grows as the
-- loss falls, McCandlish et al. find).
local ref_i
for i, b in ipairs(batches) do if b == ref_batch then ref_i = i end end
assert(S[ref_i], "critical_batch: the reference batch never reached the target loss")
local probe_every = math.max(1, S[ref_i] // 8)
local s_again, ref_run = steps_to_target(ref_batch, best_lr[ref_i], { every = 1000000, probes = {
  noise_scale = { every = probe_every, samples = 2048, small = 16, big = 1024, repeats = 16 } } })
-- the probes leave the run bit-identical: the same S with them
assert(s_again == S[ref_i], "critical_batch: the probed run reached the target at a different step")
local scales, at = {}, {}
for _, p in ipairs(ref_run.history.probes) do
  if p.noise_scale and p.step <= S[ref_i] then
    scales[#scales + 1], at[#at + 1] = p.noise_scale, p.step
  end
end
local b_simple = L.median(scales)

-- S = S_min + S_min B_crit / B: least squares of S on 1/B over the batches
-- that reached the target
local sx, sy, sxx, sxy, k = 0, 0, 0, 0, 0
for i, b in ipairs(batches) do
  if S[i] then
    local x = 1 / b
    sx, sy, sxx, sxy, k = sx + x, sy + S[i], sxx + x * x, sxy + x * S[i], k + 1
  end
end
local slope = (k * sxy - sx * sy) / (k * sxx - sx * sx)
local s_min = (sy - slope * sx) / k
local b_crit = slope / s_min

-- per doubling of the batch between neighbouring sizes b1 < b2:
-- (S(b2)/S(b1))^(1 / log2(b2/b1)), below B_simple (b2 <= B_simple) and
-- well above it (b1 >= 2 B_simple). The model gives (1 + Bc/2B)/(1 + Bc/B):
-- at most 2/3 when 2B <= Bc, at least 5/6 when B >= 2 Bc.
local below, above, pairs_text = {}, {}, {}
for i = 1, #batches - 1 do
  local b1, b2 = batches[i], batches[i + 1]
  if S[i] and S[i + 1] then
    local r = (S[i + 1] / S[i]) ^ (1 / (math.log(b2 / b1) / math.log(2)))
    if b2 <= b_simple then below[#below + 1] = r elseif b1 >= 2 * b_simple then above[#above + 1] = r end
    pairs_text[#pairs_text + 1] = string.format("%d->%d %.2f", b1, b2, r)
  end
end

local xs, ys, fit, ideal = {}, {}, {}, {}
for i, b in ipairs(batches) do
  if S[i] then xs[#xs + 1], ys[#ys + 1] = b, S[i] end
  fit[i] = s_min * (1 + b_crit / b)
  ideal[i] = S[1] and S[1] * batches[1] / b or 0 / 0
  if ideal[i] < s_min / 2 then ideal[i] = 0 / 0 end   -- (gd.plot leaves it out)
end
local top = math.max(table.unpack(ys))
L.plot{ title = string.format("SGD, MLP 784-64-10, %d Fashion-MNIST images: steps to training loss %g", n, target),
  xlabel = "batch size", ylabel = "steps", logx = true, logy = true, series = {
    { x = xs, y = ys, label = "steps (best lr of the grid)", style = "linespoints" },
    { x = batches, y = fit, label = string.format("S_min (1 + B_crit/B), B_crit = %s", L.fmt(b_crit)) },
    { x = batches, y = ideal, label = "perfect scaling (halves per doubling)" },
    { x = { b_simple, b_simple }, y = { s_min / 2, top * 2 }, label = string.format("B_simple = %s", L.fmt(b_simple)) },
  } }

local function list(t)
  local o = {}
  for i, v in ipairs(t) do o[i] = L.fmt(v) end
  return table.concat(o, ", ")
end
local mb, ma = #below > 0 and L.median(below) or 0 / 0, #above > 0 and L.median(above) or 0 / 0
local halves, flat = #below > 0 and mb <= 0.7, #above > 0 and ma >= 0.8
local scale_text = string.format("B_simple %s (median of %d probes at steps %s of the batch-%d run, which reached the target at step %d: %s)",
  L.fmt(b_simple), #scales, list(at), ref_batch, S[ref_i], list(scales))
L.verdict(L.grade(halves and flat, halves or flat),
  "steps nearly halve per doubling of the batch below B_simple and stop halving well above it",
  string.format("%s; S(2B)/S(B) per doubling: %s; median below B_simple %s (%d pairs of sizes), from 2 B_simple up %s (%d) (rule: below <= 0.7, above >= 0.8; the model gives <= 0.67 and >= 0.83)",
    scale_text, table.concat(pairs_text, ", "), L.fmt(mb), #below, L.fmt(ma), #above))
local factor = math.max(b_crit / b_simple, b_simple / b_crit)
L.verdict(L.grade(factor <= 3, factor <= 10),
  "the noise scale predicts the critical batch size",
  string.format("B_crit %s from S = S_min (1 + B_crit/B) fitted to %d batches (S_min %s), B_simple %s: %s apart (rule: within 3x, MIXED within 10x)",
    L.fmt(b_crit), k, L.fmt(s_min), L.fmt(b_simple), L.fmt(factor) .. "x"))
