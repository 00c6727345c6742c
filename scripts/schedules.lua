-- schedules: constant, step, exponential, cosine and warmup + cosine for
-- SGD with momentum (lr 0.05) on a Fashion-MNIST subset, over seeds. The
-- lr each run applied (run.history.steps[].lr) is checked against the
-- schedule's own formula (gd.sched.X:lr(t, base)), and each decaying
-- schedule's final validation loss is compared with the constant lr's,
-- paired by seed. Claims: (1) the lr curves are the formulas; (2) each
-- decaying schedule ends at a lower validation loss than the constant lr.
--
--   build/gradus run scripts/schedules.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local ntrain, epochs, seeds = L.pick(10000, 1500), L.pick(8, 4), L.pick(3, 3)
local train, val = L.fmnist(ntrain, L.pick(3000, 500))
local batch, base_lr = 128, 0.05
local steps = epochs * math.ceil(ntrain / batch)
local scheds = {
  { "step", gd.sched.step{ size = steps // 4, gamma = 0.3 } },
  { "exponential", gd.sched.exponential{ decay = 3 / steps } },
  { "cosine", gd.sched.cosine{} },
  { "warmup_cosine", gd.sched.warmup{ steps = steps // 10, after = gd.sched.cosine{} } },
}
local variants = { { name = "constant" } }
for _, s in ipairs(scheds) do variants[#variants + 1] = { name = s[1], schedule = s[2] } end
local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
                                  gd.layer.dense{ units = 10 } },
           loss = gd.loss.cross_entropy{}, optimizer = gd.optim.momentum{ lr = base_lr }, data = train,
           validation = val, epochs = epochs, batch = batch, monitor = { every = 5 } },
  variants = variants,
  repeats = seeds,
}
L.report(results)

-- the applied lr against the formula; cosine's T is the run's length
-- (under warmup: the run's length less the warmup), fixed at the start
local formula = {
  constant = function(t) return base_lr end,
  step = function(t) return gd.sched.step{ size = steps // 4, gamma = 0.3 }:lr(t, base_lr) end,
  exponential = function(t) return gd.sched.exponential{ decay = 3 / steps }:lr(t, base_lr) end,
  cosine = function(t) return gd.sched.cosine{ T = steps }:lr(t, base_lr) end,
  warmup_cosine = function(t)
    return gd.sched.warmup{ steps = steps // 10, after = gd.sched.cosine{ T = steps - steps // 10 } }:lr(t, base_lr)
  end,
}
local worst, series = 0, {}
for _, v in ipairs(results.variants) do
  local xs, ys = {}, {}
  for _, r in ipairs(v.runs) do
    for _, s in ipairs(r.history.steps) do
      local want = formula[v.name](s.step)
      worst = math.max(worst, math.abs(s.lr - want) / base_lr)
      if r.seed == results.seeds[1] then xs[#xs + 1], ys[#ys + 1] = s.step, s.lr end
    end
  end
  local p = v.name == "constant" and { mean = 0 } or L.paired(results, v.name, "constant", "val_loss")
  series[#series + 1] = { x = xs, y = ys, label = v.name == "constant" and "constant" or
    string.format("%s (%+.3f)", v.name, p.mean) }
end
L.plot{ title = string.format("lr applied (momentum, lr %g); in brackets: final val loss - constant's (%d seeds)",
    base_lr, seeds),
  xlabel = "step", ylabel = "lr", series = series }

L.verdict(L.grade(worst < 1e-6, worst < 1e-3), "the applied lr of every schedule follows its formula",
  string.format("largest |lr applied - formula| / base lr over all monitored steps of %d schedules x %d seeds: %s (rule: < 1e-6)",
    #results.variants, seeds, L.fmt(worst)))
local _, sc = L.variant(results, "constant")
for _, s in ipairs(scheds) do
  local p = L.paired(results, s[1], "constant", "val_loss")
  local _, ss = L.variant(results, s[1])
  L.verdict(L.grade(p.mean + p.ci < 0, p.mean < 0), s[1] .. " ends at a lower validation loss than the constant lr",
    string.format("val loss: constant %.4f, %s %.4f; %s (rule: the 95%% CI below 0)", sc.mean.val_loss, s[1],
      ss.mean.val_loss, p.text))
end
