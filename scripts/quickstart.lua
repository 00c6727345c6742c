-- quickstart: an MLP 784-256-128-10 (ReLU, He init) trained with Adam on
-- Fashion-MNIST, validated on 5,000 held-out images, tested on the test set.
-- It checkpoints every epoch to out/quickstart.ckpt: interrupted (Ctrl-C),
-- it says how to go on (`build/gradus resume out/quickstart.ckpt`), and
-- `build/gradus inspect out/quickstart.ckpt` shows what the file holds.
--
--   build/gradus run scripts/quickstart.lua [epochs]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 12

local train, val = gd.data.fashion_mnist{ split = "train" }:split{ validation = 5000, seed = 1 }
local test = gd.data.fashion_mnist{ split = "test" }

local net = gd.sequential{
  gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 10 },
}

local run = gd.train{
  model = net, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 1e-3 },
  schedule = gd.sched.cosine{},
  data = train, validation = val,
  epochs = epochs, batch = 128, seed = 1,
  checkpoint = { path = "out/quickstart.ckpt" },
}

local result = run.model:evaluate(test)
print(string.format("status %s after %d steps in %.1f s", run.status, run.steps, run.seconds))
print(string.format("test loss %.4f  test accuracy %.4f", result.loss, result.accuracy))
