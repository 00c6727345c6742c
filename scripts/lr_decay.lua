-- lr_decay: SGD with batch 1 on a noisy linear regression (10 features,
-- noise std 0.5): a constant lr leaves the weights jittering at a noise
-- floor proportional to lr; lr/(1 + alpha t) shrinks the jitter as it goes.
-- Claim: the decayed run ends at a lower validation loss than the constant
-- one, paired over seeds.
--
--   build/gradus run scripts/lr_decay.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local n, epochs, seeds = L.pick(2000, 600), L.pick(20, 10), L.pick(10, 5)
local data = gd.data.synthetic.regression{ n = n + 1000, features = 10, noise = 0.5, seed = 3 }
local train, val = data:split{ validation = 1000, seed = 1 }
local steps = n * epochs
local alpha = 10 / steps                  -- the lr ends at a 11th of its start

local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 1 } }, loss = gd.loss.mse{},
           optimizer = gd.optim.sgd{ lr = 0.02 }, data = train, validation = val,
           epochs = epochs, batch = 1 },
  variants = {
    { name = "constant" },
    { name = "inverse_time", schedule = gd.sched.inverse_time{ alpha = alpha } },
  },
  repeats = seeds,
}
L.report(results)
L.plot{ title = string.format("SGD (batch 1, lr 0.02) on noisy linear regression: validation loss, mean of %d seeds", seeds),
  xlabel = "epoch", ylabel = "validation MSE (noise floor 0.25)",
  series = { L.epoch_series(results, "constant", "val_loss", "constant lr"),
             L.epoch_series(results, "inverse_time", "val_loss", string.format("lr/(1 + %.3g t)", alpha)) } }

local p = L.paired(results, "inverse_time", "constant", "val_loss")
local _, sc = L.variant(results, "constant")
local _, sd = L.variant(results, "inverse_time")
local holds = p.mean + p.ci < 0
L.verdict(L.grade(holds, p.mean < 0), "SGD with lr/(1+at) ends at a lower loss than constant lr on a noisy problem",
  string.format("final validation MSE: constant %.4f, decayed %.4f; %s (rule: the 95%% CI below 0)",
    sc.mean.val_loss, sd.mean.val_loss, p.text))
