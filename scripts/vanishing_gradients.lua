-- vanishing_gradients: 8 sigmoid layers against 8 ReLU layers, with and
-- without batch normalization, on Fashion-MNIST. The report's diagnoses name
-- the vanishing gradients; grad_norms.png shows them layer by layer.
--
--   build/gradus run scripts/vanishing_gradients.lua [epochs]
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 3
local train, val = gd.data.fashion_mnist{ split = "train", limit = 15000 }:split{ validation = 3000, seed = 1 }

local function net(act, init, bn)
  local layers = {}
  for _ = 1, 8 do
    layers[#layers + 1] = gd.layer.dense{ units = 64, init = init }
    if bn then layers[#layers + 1] = gd.layer.batchnorm{} end
    layers[#layers + 1] = act
  end
  layers[#layers + 1] = gd.layer.dense{ units = 10 }
  return gd.sequential(layers)
end

local results = gd.compare{
  base = { loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{ lr = 0.05 }, data = train,
           validation = val, epochs = epochs, batch = 64, monitor = { every = 25 } },
  variants = {
    { name = "sigmoid", model = net(gd.layer.sigmoid{}, "xavier_uniform", false) },
    { name = "sigmoid+bn", model = net(gd.layer.sigmoid{}, "xavier_uniform", true) },
    { name = "relu_he", model = net(gd.layer.relu{}, "he_normal", false) },
  },
  repeats = 2,
}
gd.report(results, { dir = "out/vanishing_gradients" })
