-- benchmarks/fmnist_mlp.lua: DeepOBS's fmnist_mlp, a 784-1000-500-100-10
-- ReLU network on Fashion-MNIST; batch 128.
local gd = require "gradus"
local bench = require "gradus.benchmark"
local L = gd.layer
return {
  name = "fmnist_mlp",
  model = gd.sequential{
    L.dense{ units = 1000, activation = "relu" }, L.dense{ units = 500, activation = "relu" },
    L.dense{ units = 100, activation = "relu" }, L.dense{ units = 10 },
  },
  data = bench.fashion_mnist,
  loss = gd.loss.cross_entropy{},
  batch = 128,
  epochs = { smoke = 1, small = 3, full = 100 },
  metric = "accuracy",
  target = 0.85,
}
