-- benchmarks/fmnist_2c2d.lua: DeepOBS's fmnist_2c2d: conv 5×5 32 "same"
-- ReLU, max pool 2, conv 5×5 64 "same" ReLU, max pool 2, flatten, dense
-- 1024 ReLU, dense 10; weights N(0, 0.05²) (DeepOBS's truncated normal is
-- a plain normal here); batch 128. What differs: DeepOBS starts the biases
-- at 0.05, gradus layers start them at 0 (they have no bias initializer).
local gd = require "gradus"
local bench = require "gradus.benchmark"
local L = gd.layer
local w = gd.init.normal{ std = 0.05 }
return {
  name = "fmnist_2c2d",
  model = gd.sequential{
    L.conv2d{ filters = 32, kernel = 5, padding = "same", activation = "relu", init = w },
    L.max_pool2d{ size = 2 },
    L.conv2d{ filters = 64, kernel = 5, padding = "same", activation = "relu", init = w },
    L.max_pool2d{ size = 2 },
    L.flatten{},
    L.dense{ units = 1024, activation = "relu", init = w },
    L.dense{ units = 10, init = w },
  },
  data = function(size) return bench.fashion_mnist(size, true) end,
  loss = gd.loss.cross_entropy{},
  batch = 128,
  epochs = { smoke = 1, small = 2, full = 100 },
  metric = "accuracy",
  target = 0.87,
}
