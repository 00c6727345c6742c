-- benchmarks/fmnist_logreg.lua: DeepOBS's fmnist_logreg, multinomial
-- logistic regression on Fashion-MNIST (784 -> 10), weights and biases
-- started at zero; batch 128.
local gd = require "gradus"
local bench = require "gradus.benchmark"
return {
  name = "fmnist_logreg",
  model = gd.sequential{ gd.layer.dense{ units = 10, init = gd.init.zeros{} } },
  data = bench.fashion_mnist,
  loss = gd.loss.cross_entropy{},
  batch = 128,
  epochs = { smoke = 1, small = 3, full = 20 },
  metric = "accuracy",
  target = 0.80,
}
