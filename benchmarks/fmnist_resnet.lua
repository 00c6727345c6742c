-- benchmarks/fmnist_resnet.lua: a small residual network on Fashion-MNIST
-- (not a DeepOBS problem): a 3×3 stem of 16 channels, two residual blocks
-- of two 3×3 convolutions each with a pool between, global average pool,
-- dense 10; batch 128.
local gd = require "gradus"
local bench = require "gradus.benchmark"
local L = gd.layer
local function block(c)
  return gd.residual{ L.conv2d{ filters = c, kernel = 3, padding = 1, activation = "relu" },
                      L.conv2d{ filters = c, kernel = 3, padding = 1 } }
end
return {
  name = "fmnist_resnet",
  model = gd.sequential{
    L.conv2d{ filters = 16, kernel = 3, padding = 1, activation = "relu" },
    block(16), L.relu{}, L.max_pool2d{ size = 2 },
    block(16), L.relu{}, L.max_pool2d{ size = 2 },
    L.global_avg_pool{}, L.dense{ units = 10 },
  },
  data = function(size) return bench.fashion_mnist(size, true) end,
  loss = gd.loss.cross_entropy{},
  batch = 128,
  epochs = { smoke = 1, small = 2, full = 30 },
  metric = "accuracy",
  target = 0.85,
}
