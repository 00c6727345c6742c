-- fmnist_2c2d: DeepOBS's Fashion-MNIST test problem (Schneider, Balles &
-- Hennig 2019) exactly: conv 5x5 32 "same" ReLU, max pool 2, conv 5x5 64
-- "same" ReLU, max pool 2, flatten, dense 1024 ReLU, dense 10; weights
-- normal with sigma 0.05, biases 0.05, no weight decay, batch 128, trained
-- with momentum (DeepOBS's baseline optimizer family; lr 0.03, gamma 0.9
-- here, the better of 0.01 and 0.03 in scripts/README.md: gradus's momentum
-- keeps lr inside the velocity, PyTorch's SGD outside, which is the same for
-- a constant lr). Prints the test accuracy after every epoch and at the end.
-- DeepOBS trains 100 epochs; 10 reach its target region here.
--
--   build/gradus run scripts/fmnist_2c2d.lua [epochs [lr]]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 10
local lr = tonumber(arg and arg[2]) or 0.03

local image = { shape = { 1, 28, 28 } }
local train = gd.data.fashion_mnist{ split = "train", shape = image.shape }
local test = gd.data.fashion_mnist{ split = "test", shape = image.shape }

local w = gd.init.normal{ std = 0.05 }
local net = gd.sequential{
  gd.layer.conv2d{ filters = 32, kernel = 5, padding = "same", activation = "relu", init = w },
  gd.layer.max_pool2d{ size = 2 },
  gd.layer.conv2d{ filters = 64, kernel = 5, padding = "same", activation = "relu", init = w },
  gd.layer.max_pool2d{ size = 2 },
  gd.layer.flatten{},
  gd.layer.dense{ units = 1024, activation = "relu", init = w },
  gd.layer.dense{ units = 10, init = w },
}
local model = net:build{ inputs = train:shape(), seed = 1 }
for _, p in ipairs(model:params()) do
  if p.role == "bias" then
    for i = 1, #p.value do p.value[i] = 0.05 end
  end
end
print(model:summary())

local run = gd.train{
  model = model, loss = gd.loss.cross_entropy{},
  optimizer = gd.optim.momentum{ lr = lr, gamma = 0.9 },
  data = train, validation = test,   -- DeepOBS reports the test set every epoch
  epochs = epochs, batch = 128, seed = 1,
}

local result = run.model:evaluate(test)
print(string.format("status %s after %d steps in %.1f s (%.0f samples/s)", run.status, run.steps,
                    run.seconds, run.steps * 128 / run.seconds))
print(string.format("test loss %.4f  test accuracy %.4f", result.loss, result.accuracy))
