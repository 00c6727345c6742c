-- char_transformer: a GPT-style character model of the King James Bible.
-- Four pre-LN blocks, gd.residual{ layer_norm, attention } then
-- gd.residual{ layer_norm, dense 4d, gelu, dense d }, d = 128, 4 heads,
-- context 128, a final layer_norm and a dense readout over the characters;
-- AdamW (no decay on embeddings, biases and norms) with a linear warmup (200
-- steps, a tenth of a shorter run) and a cosine decay. It prints validation
-- bits per character after every epoch and a sample of 300 characters.
--
-- An epoch is (characters - 1) / 128 windows of the training text, one per
-- stretch of 128 characters at a random offset within it (gradus doc
-- data.text): 29,094 windows, 909 steps of 32.
--
--   build/gradus run scripts/char_transformer.lua [epochs] [limit]
--   (limit: train on the first `limit` windows only, for a quick look)
local gd = require "gradus"

local epochs = tonumber(arg and arg[1]) or 2
local limit = tonumber(arg and arg[2])
local T, d, heads, layers, batch = 128, 128, 4, 4, 32

local train = gd.data.text{ context = T, split = "train" }
local val = gd.data.text{ context = T, split = "val" }
if limit then train = train:subset(limit) end
local V = #train:vocab()

local parts = { gd.layer.embedding{ vocab = V, dim = d }, gd.layer.positional{ max_len = T } }
for _ = 1, layers do
  parts[#parts + 1] = gd.residual{ gd.layer.layer_norm{}, gd.layer.attention{ heads = heads } }
  parts[#parts + 1] = gd.residual{ gd.layer.layer_norm{}, gd.layer.dense{ units = 4 * d },
                                   gd.layer.gelu{}, gd.layer.dense{ units = d } }
end
parts[#parts + 1] = gd.layer.layer_norm{}
parts[#parts + 1] = gd.layer.dense{ units = V }
local net = gd.sequential(parts)

local optimizer = gd.optim.adamw{ lr = 2e-3, beta2 = 0.99, weight_decay = 0.1, groups = {
  { role = "embedding", weight_decay = 0 }, { role = "bias", weight_decay = 0 },
  { role = "scale", weight_decay = 0 }, { role = "shift", weight_decay = 0 } } }

-- 200 warmup steps, fewer for a short run (a tenth of it)
local steps = math.ceil(#train / batch) * epochs
local warmup = math.min(200, steps // 10)

local run = gd.train{
  model = net, loss = gd.loss.cross_entropy{}, optimizer = optimizer,
  schedule = gd.sched.warmup{ steps = warmup, after = gd.sched.cosine{ lr_min = 1e-4 } },
  clip = { norm = 1 },
  data = train, validation = val, epochs = epochs, batch = batch, seed = 1,
}

print(run.model:summary())
for _, e in ipairs(run.history.epochs) do
  print(string.format("epoch %d  train %.3f bpc  val %.3f bpc  (%.0f s)", e.epoch, e.train_bpc,
                      e.val_bpc, e.seconds))
end
local last = run.history.epochs[#run.history.epochs]
print(string.format("status %s after %d steps in %.0f s: val %.3f bits per character",
                    run.status, run.steps, run.seconds, last.val_bpc))
print("sample:")
print(run.model:generate{ prompt = "In the beginning", tokens = 300, temperature = 0.8, seed = 1 })
