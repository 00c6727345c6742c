-- benchmarks/kjv_char.lua: a character-level language model of the King
-- James Bible (gd.data.text's default corpus: the first 90 % of the text
-- is train, the next 5 % validation, the last 5 % test; DESIGN §10), a
-- small GPT-style transformer in the spirit of DeepOBS's tolstoi_char_rnn
-- (not a DeepOBS problem: theirs is a 2-layer LSTM on War and Peace).
--
-- The model: embedding, learned positions, `layers` pre-LN blocks
-- (gd.residual{ layer_norm, attention } then gd.residual{ layer_norm,
-- dense 4d, gelu, dense d }), a final layer_norm and a dense readout over
-- the characters; per-position cross-entropy. Its size grows with the
-- benchmark's size:
--   smoke  T = 32, d = 32, 1 block, 2 heads; 256 training windows (8 steps
--          of 32 per epoch), 64 validation and 64 test windows; 1 epoch
--   small  T = 64, d = 64, 2 blocks, 4 heads; 16384 training windows (the
--          first 1,048,576 characters, Genesis to 1 Samuel: 28 % of the
--          training text), 512 validation and 512 test; 2 epochs (1024 steps)
--   full   T = 128, d = 128, 4 blocks, 4 heads (scripts/char_transformer.lua's
--          model); every window of each split (29,094 training windows,
--          909 steps an epoch); 4 epochs
-- batch 32. The optimizers run with a constant lr, no warmup nor clipping:
-- the protocol tunes the lr alone.
--
-- Metric: test bits per character (the cross-entropy in nats / ln 2),
-- lower is better. Target for the speed measure: 2.7 bits per character,
-- well under the training text's unigram entropy (4.36 bits) and the 5.98
-- bits of a uniform guess over its 63 characters: a model that reaches it
-- has learnt more than letter frequencies. Measured at small (one thread):
-- tuned Adam (lr 2.2e-3) reaches 2.64 ± 0.05 test bits at its second
-- epoch (2.82 at its first), momentum 2.97 ± 0.23, SGD 3.31 ± 0.08; the
-- test text (the Bible's last 5 %, from the end of the New Testament) is
-- harder than the validation text, where the same Adam scores 2.51.
local gd = require "gradus"
local L = gd.layer

local sizes = {
  smoke = { T = 32, d = 32, layers = 1, heads = 2, n = { 256, 64, 64 } },
  small = { T = 64, d = 64, layers = 2, heads = 4, n = { 16384, 512, 512 } },
  full = { T = 128, d = 128, layers = 4, heads = 4 },
}
local cache = {}

local function data(size)
  if not cache[size] then
    local s = sizes[size] or error("kjv_char: unknown size " .. tostring(size), 0)
    local sets = {}
    for i, split in ipairs({ "train", "val", "test" }) do
      sets[i] = gd.data.text{ context = s.T, split = split }
      if s.n then sets[i] = sets[i]:subset(s.n[i]) end
    end
    cache[size] = sets
  end
  return table.unpack(cache[size])
end

local function model(size)
  local s = sizes[size]
  local V = #data(size):vocab()
  local parts = { L.embedding{ vocab = V, dim = s.d }, L.positional{ max_len = s.T } }
  for _ = 1, s.layers do
    parts[#parts + 1] = gd.residual{ L.layer_norm{}, L.attention{ heads = s.heads } }
    parts[#parts + 1] = gd.residual{ L.layer_norm{}, L.dense{ units = 4 * s.d }, L.gelu{},
                                     L.dense{ units = s.d } }
  end
  parts[#parts + 1] = L.layer_norm{}
  parts[#parts + 1] = L.dense{ units = V }
  return gd.sequential(parts)
end

return {
  name = "kjv_char",
  model = model,
  data = data,
  loss = gd.loss.cross_entropy{},
  batch = 32,
  epochs = { smoke = 1, small = 2, full = 4 },
  metric = "bpc",
  target = 2.7,
}
