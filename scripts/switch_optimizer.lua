-- switch_optimizer: what if the optimizer changed halfway? SGD trains an
-- MLP on Fashion-MNIST for a few epochs and checkpoints; from that one
-- state, four branches go on: SGD unchanged, SGD with lr / 10, momentum,
-- and Adam (whose moments and bias correction start at the switch). Every
-- branch starts from the identical weights; two seeds each vary only what
-- comes after the switch (batch order, dropout). Report with plots in
-- out/switch_optimizer.
--
--   build/gradus run scripts/switch_optimizer.lua [switch_epoch] [epochs] [train_size]
local gd = require "gradus"

local switch = tonumber(arg and arg[1]) or 3
local epochs = tonumber(arg and arg[2]) or 8
local size = tonumber(arg and arg[3]) or 20000
local dir = "out/switch_optimizer"

local all = gd.data.fashion_mnist{ split = "train", limit = size + 5000 }
local train, val = all:split{ validation = 5000, seed = 1 }

local run = gd.train{
  model = gd.sequential{
    gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
    gd.layer.dropout{ rate = 0.2 },
    gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
    gd.layer.dense{ units = 10 },
  },
  loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 },
  data = train, validation = val, epochs = switch, batch = 128, seed = 1,
  monitor = { every = 50 }, checkpoint = { path = dir .. "/sgd.ckpt" }, name = "sgd",
}
print(string.format("SGD for %d epochs: val_loss %.4f, checkpoint %s", switch,
  run.history.epochs[switch].val_loss, run.checkpoint))

local ck = run.checkpoint
local results = gd.compare{
  base = { epochs = epochs, monitor = { every = 50 } },
  variants = {
    gd.fork(ck, { name = "sgd" }),
    gd.fork(ck, { name = "sgd, lr / 10", lr = 0.005 }),
    gd.fork(ck, { name = "momentum", optimizer = gd.optim.momentum{ lr = 0.005 } }),
    gd.fork(ck, { name = "adam", optimizer = gd.optim.adam{ lr = 1e-3 } }),
  },
  repeats = 2,
}
gd.report(results, { dir = dir })
