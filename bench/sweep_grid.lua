-- bench/sweep_grid.lua: the sweep timing of issue 31: the quickstart MLP
-- (784-256-128-10, ReLU, Adam) on Fashion-MNIST for 2 epochs, 7 lrs x 3
-- seeds, as one gd.compare. Serial or as a sweep, whichever runs it:
--
--   gradus --threads 1 run bench/sweep_grid.lua [train_size]        # serial
--   gradus sweep --jobs 2 --dir /tmp/sw bench/sweep_grid.lua [size]  # 2 workers
--
-- prints every run's final losses (%.17g), so the two
-- can be diffed bit for bit at equal threads per run; time them with time(1).
local gd = require "gradus"

local size = tonumber(arg and arg[1]) or 10000
local all = gd.data.fashion_mnist{ split = "train", limit = size + 2000 }
local train, val = all:split{ validation = 2000, seed = 1 }
local variants = {}
for i, lr in ipairs({ 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1 }) do
  variants[i] = { name = string.format("adam lr %g", lr), optimizer = gd.optim.adam{ lr = lr } }
end
local r = gd.compare{
  base = { model = gd.sequential{
             gd.layer.dense{ units = 256, init = "he_normal" }, gd.layer.relu{},
             gd.layer.dense{ units = 128, init = "he_normal" }, gd.layer.relu{},
             gd.layer.dense{ units = 10 } },
           loss = gd.loss.cross_entropy{}, data = train, validation = val,
           epochs = 2, batch = 128, seed = 1 },
  variants = variants, repeats = 3, progress = false,
}
for _, v in ipairs(r.variants) do
  for s, run in ipairs(v.runs) do
    print(string.format("%s seed %d: train_loss %.17g val_loss %.17g", v.name, s,
      run.metrics.train_loss, run.metrics.val_loss))
  end
end
