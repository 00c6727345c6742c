-- regularization: a wide MLP on 2,000 Fashion-MNIST images overfits; L2,
-- dropout and early stopping each fight it. Compare validation loss and the
-- train/validation gap in loss.png.
--
--   build/gradus run scripts/regularization.lua [epochs]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 30
local train, val = gd.data.fashion_mnist{ split = "train", limit = 7000 }:split{ validation = 5000, seed = 1 }

local function net(dropout)
  return gd.sequential{
    gd.layer.dense{ units = 512, init = "he_normal" }, gd.layer.relu{},
    dropout and gd.layer.dropout{ rate = dropout } or gd.layer.relu{},
    gd.layer.dense{ units = 512, init = "he_normal" }, gd.layer.relu{},
    gd.layer.dense{ units = 10 },
  }
end

local results = gd.compare{
  base = { model = net(nil), loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 1e-3 },
           data = train, validation = val, epochs = epochs, batch = 64 },
  variants = {
    { name = "none" },
    { name = "l2_1e-3", regularizers = { gd.reg.l2{ lambda = 1e-3 } } },
    { name = "dropout_0.5", model = net(0.5) },
    { name = "early_stop", early_stopping = { patience = 3, restore_best = true } },
  },
  repeats = 2,
}
gd.report(results, { dir = "out/regularization" })
