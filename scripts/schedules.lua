-- schedules: constant, step decay, cosine and warmup + cosine for SGD with
-- momentum on Fashion-MNIST; lr.png draws each schedule as it was applied.
--
--   build/gradus run scripts/schedules.lua [epochs]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 6
local train, val = gd.data.fashion_mnist{ split = "train", limit = 25000 }:split{ validation = 5000, seed = 1 }

local net = gd.sequential{
  gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 10 },
}

local results = gd.compare{
  base = { model = net, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.momentum{ lr = 0.05 },
           data = train, validation = val, epochs = epochs, batch = 128, monitor = { every = 20 } },
  variants = {
    { name = "constant" },
    { name = "step", schedule = gd.sched.step{ size = 2, gamma = 0.3, unit = "epoch" } },
    { name = "cosine", schedule = gd.sched.cosine{} },
    { name = "warmup_cosine", schedule = gd.sched.warmup{ steps = 200, after = gd.sched.cosine{} } },
  },
  repeats = 2,
}
gd.report(results, { dir = "out/schedules" })
