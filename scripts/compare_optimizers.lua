-- compare_optimizers: SGD vs momentum vs Adam on Fashion-MNIST, 3 seeds each,
-- with common random numbers; writes a report with plots to out/optimizers.
--
--   build/gradus run scripts/compare_optimizers.lua [epochs] [train_size]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 5
local size = tonumber(arg and arg[2]) or 20000

local all = gd.data.fashion_mnist{ split = "train", limit = size + 5000 }
local train, val = all:split{ validation = 5000, seed = 1 }

local net = gd.sequential{
  gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 10 },
}

local results = gd.compare{
  base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val,
           epochs = epochs, batch = 128, seed = 1, monitor = { every = 50 } },
  variants = {
    { name = "sgd",      optimizer = gd.optim.sgd{ lr = 0.1 } },
    { name = "momentum", optimizer = gd.optim.momentum{ lr = 0.01 } },
    { name = "adam",     optimizer = gd.optim.adam{ lr = 1e-3 } },
  },
  repeats = 3,
}
gd.report(results, { dir = "out/optimizers" })
