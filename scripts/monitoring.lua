-- monitoring: the monitor's telemetry for a good and a too-large lr. An
-- MLP 784-256-256-10 (ReLU, He) on a Fashion-MNIST subset with SGD at lr
-- 0.01 .. 3. Good lrs are those that end within 0.05 of the best
-- validation accuracy; too large ones diverge or end below half the best.
-- Claims: (1) the update/weight ratio sits near
-- 1e-3..1e-2 (within 2x: 5e-4..2e-2) for good lrs and far above (> 1e-1)
-- for too large ones; (2) the fraction of dead ReLUs (units that output 0 for the
-- whole batch) rises with a too-large lr. Ratios and dead fractions are
-- medians over the layers and the second half of the monitored steps (every
-- step) after step 0, which comes before any update.
--
--   build/gradus run scripts/monitoring.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(5000, 1000), L.pick(4, 2), L.pick(2, 1)
local train, val = L.fmnist(ntrain, L.pick(2000, 500))
local lrs = { 0.01, 0.03, 0.1, 0.3, 1.0, 3.0 }
local variants = {}
for i, lr in ipairs(lrs) do variants[i] = { name = "lr_" .. lr, optimizer = gd.optim.sgd{ lr = lr } } end
local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
                                  gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
                                  gd.layer.dense{ units = 10 } },
           loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = epochs, batch = 64,
           monitor = { every = 1 } },
  variants = variants,
  repeats = seeds,
}
L.report(results)

-- median over layers and runs of a per-layer field's median over the second
-- half of the monitored steps after step 0 (which comes before any update);
-- NaN when a run stopped before a second monitored step
local function telemetry(name, field)
  local xs = {}
  for _, r in ipairs(L.variant(results, name).runs) do
    local n = #r.history.steps
    for _, l in ipairs(r.history.steps[1].layers) do
      local vals = {}
      for i = math.max(2, n // 2 + 1), n do
        for _, x in ipairs(r.history.steps[i].layers) do if x.name == l.name then vals[#vals + 1] = x[field] end end
      end
      local m = L.median(vals)
      if L.finite(m) then xs[#xs + 1] = m end
    end
  end
  return L.median(xs)
end
local stat = {}
for _, lr in ipairs(lrs) do
  local name = "lr_" .. lr
  local _, s = L.variant(results, name)
  stat[lr] = { ratio = telemetry(name, "update_ratio"), dead = telemetry(name, "dead"), diverged = s.diverged,
               acc = s.n > 0 and s.mean.val_accuracy or 0 }
end
local top = 0
for _, lr in ipairs(lrs) do top = math.max(top, stat[lr].acc) end
local good, large = {}, {}
for _, lr in ipairs(lrs) do
  if stat[lr].acc >= top - 0.05 then good[#good + 1] = lr
  elseif stat[lr].diverged > 0 or stat[lr].acc < top / 2 then large[#large + 1] = lr end
end
local xs, ratio, dead, zero = {}, {}, {}, ""
for i, lr in ipairs(lrs) do
  xs[i], ratio[i], dead[i] = lr, stat[lr].ratio, stat[lr].dead
  if ratio[i] <= 0 then zero = zero .. string.format(", 0 at lr %g", lr) end
end
L.plot{ title = "SGD on Fashion-MNIST: median update/weight ratio and dead-ReLU fraction against the lr",
  xlabel = "learning rate", ylabel = "update/weight ratio; fraction of dead ReLUs", logx = true, logy = true,
  series = { { x = xs, y = ratio, label = "update/weight ratio" .. zero, style = "linespoints" },
             { x = xs, y = dead, label = "fraction of dead ReLUs", style = "linespoints" } } }

local function list(field, f)
  local parts = {}
  for _, lr in ipairs(lrs) do
    local s = stat[lr]
    parts[#parts + 1] = string.format("lr %g %s", lr, (f or L.fmt)(s[field]))
  end
  return table.concat(parts, ", ")
end
local band, above, rises, clearly = true, #large > 0, #large > 0, #large > 0
local most_dead = 0
for _, lr in ipairs(good) do
  band = band and stat[lr].ratio >= 5e-4 and stat[lr].ratio <= 2e-2
  most_dead = math.max(most_dead, stat[lr].dead)
end
for _, lr in ipairs(large) do   -- NaN (no update monitored) counts against the claim
  above = above and stat[lr].ratio > 1e-1
  rises = rises and stat[lr].dead > most_dead
  clearly = clearly and stat[lr].dead > 0.1 and stat[lr].dead > 3 * most_dead
end
local function names(ls) local p = {} for i, x in ipairs(ls) do p[i] = string.format("%g", x) end return table.concat(p, ", ") end
L.verdict(L.grade(band and above, band or above), "the update/weight ratio is near 1e-3..1e-2 for a good lr and far above for a too-large one",
  string.format("median update/weight ratio: %s; validation accuracy (0: diverged): %s; good lrs %s, too large %s "
    .. "(rule: every good lr's in 5e-4..2e-2, every too large one's > 1e-1)", list("ratio"),
    list("acc", function(x) return string.format("%.3f", x) end), names(good), names(large)))
L.verdict(L.grade(clearly, rises), "the dead-ReLU fraction rises with a too-large lr",
  string.format("median fraction of dead ReLUs: %s; seeds diverged: %s (rule: every too large lr's above every good lr's, > 10%% and > 3x)",
    list("dead", function(x) return string.format("%.3f", x) end), list("diverged", function(x) return tostring(x) end)))
