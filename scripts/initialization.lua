-- initialization: a 6-layer ReLU MLP on Fashion-MNIST from zeros, a too
-- small normal, Xavier and He initial weights (the lecture's comparison).
-- Watch grad_norms.png: zeros never break the symmetry, the small normal
-- starves the first layers, He keeps every layer's gradient alive.
--
--   build/gradus run scripts/initialization.lua [epochs]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 3
local train, val = gd.data.fashion_mnist{ split = "train", limit = 15000 }:split{ validation = 3000, seed = 1 }

local function net(init)
  local layers = {}
  for _ = 1, 6 do
    layers[#layers + 1] = gd.layer.dense{ units = 128, init = init }
    layers[#layers + 1] = gd.layer.relu{}
  end
  layers[#layers + 1] = gd.layer.dense{ units = 10 }
  return gd.sequential(layers)
end

local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 }, data = train,
           validation = val, epochs = epochs, batch = 64, monitor = { every = 25 } },
  variants = {
    { name = "zeros", model = net("zeros") },
    { name = "normal_0.01", model = net(gd.init.normal{ std = 0.01 }) },
    { name = "xavier", model = net("xavier_uniform") },
    { name = "he", model = net("he_normal") },
  },
  repeats = 2,
}
gd.report(results, { dir = "out/initialization" })
