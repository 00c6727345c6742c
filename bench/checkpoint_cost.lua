-- bench/checkpoint_cost.lua: what a checkpoint of the quickstart model costs.
-- The MLP 784-256-128-10 with Adam (235,146 parameters, two moment slots)
-- trains 100 steps of batch 128, once with a checkpoint after every step
-- and once without; the difference over 100 is one checkpoint's cost.
--
--   gradus --threads 1 run bench/checkpoint_cost.lua [dir]
local gd = require "gradus"

local dir = arg and arg[1] or os.getenv("TMPDIR") or "/tmp"
local data = gd.data.fashion_mnist{ split = "train", limit = 12800 }
local function run(checkpoint)
  local t = gd.train{
    model = gd.sequential{
      gd.layer.dense{ units = 256, init = "he_normal", activation = "relu" },
      gd.layer.dense{ units = 128, init = "he_normal", activation = "relu" },
      gd.layer.dense{ units = 10 } },
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{}, data = data,
    epochs = 1, batch = 128, seed = 1, progress = false, checkpoint = checkpoint }
  return t.seconds
end
local path = dir .. "/gradus-checkpoint-cost.ckpt"
local plain, with = {}, {}
for k = 1, 3 do
  plain[k] = run(false)
  os.remove(path)
  with[k] = run({ path = path, every = 1, overwrite = true })
  os.remove(path)
end
table.sort(plain)
table.sort(with)
print(string.format("100 steps of Adam/128: %.3f s without checkpoints, %.3f s with one after "
  .. "every step (medians of 3): %.1f ms a checkpoint", plain[2], with[2],
  (with[2] - plain[2]) * 10))
