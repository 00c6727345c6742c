-- tests/lua/api.lua: the Lua API's option tables (lua/lapi.c) as users
-- meet them: unknown keys refused with messages generated from the tables,
-- the pages of gradus doc / gd.doc checked against the tables and against
-- the tables gradus returns, and the diverge check ("loss exploded")
-- through checkpoints, resume and fork.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")

local tmp = os.tmpname()
local made = { tmp }
local function path(name)
  made[#made + 1] = tmp .. "-" .. name
  return made[#made]
end

-- One weight w = 1, x = 1, y = 0, mse: the loss is w^2, and sgd with
-- lr = 1.5 makes w -> -2w, so the loss is 4^k at step k, exactly: it
-- passes 1000 x the first step's loss at step 5 (1024), still finite.
local one = gd.data.tensor{ x = { { 1 } }, y = gd.tensor{ { 0 } } }
local function growing(extra)
  local c = { model = gd.sequential{ gd.layer.dense{ units = 1, bias = false,
                init = gd.init.constant{ value = 1 } } },
              loss = gd.loss.mse{}, optimizer = gd.optim.sgd{ lr = 1.5 }, data = one,
              epochs = 10, batch = 1, progress = false }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
local exploded = "loss exploded: 1024 at step 5 is more than 1000 times the first step's loss (1)"

local train_options = T.train_options

T.test("test_train_loss_exploded_ends_the_run_as_diverged", function()
  local run = gd.train(growing())
  assert(run.status == "diverged", run.status)
  assert(run.diverged.what == exploded, run.diverged.what)
  assert(run.diverged.reason == "loss exploded" and run.diverged.step == 5, run.diverged.reason)
  assert(run.diverged.layer == "loss" and run.diverged.epoch == 6)
  assert(run.steps == 5 and #run.history.epochs == 5 and run.history.epochs[5].train_loss == 256)
  -- a NaN says so
  local nan = gd.train(growing{ optimizer = gd.optim.sgd{ lr = 1e30 }, diverge = false })
  assert(nan.diverged.reason == "not finite", nan.diverged.reason)
end)

T.test("test_train_diverge_factor_and_off", function()
  local run = gd.train(growing{ diverge = { factor = 10 } })   -- 16 > 10 at step 2
  assert(run.diverged.what == "loss exploded: 16 at step 2 is more than 10 times the first "
    .. "step's loss (1)", run.diverged.what)
  run = gd.train(growing{ diverge = false })
  assert(run.status == "ok" and run.steps == 10 and run.history.epochs[10].train_loss == 4 ^ 9)
  run = gd.train(growing{ diverge = true })
  assert(run.diverged.what == exploded)
end)

T.test("test_train_diverge_refused", function()
  T.expect_message("gd.train: diverge: option 'factor' must be a number > 1, got 0.5", gd.train,
    growing{ diverge = { factor = 0.5 } })
  T.expect_message("gd.train: diverge: unknown option 'facter' (did you mean 'factor'? "
    .. "options: factor)", gd.train, growing{ diverge = { facter = 2 } })
  T.expect_message("gd.train: option 'diverge' must be { factor = f } or false, got number", gd.train,
    growing{ diverge = 3 })
end)

T.test("test_train_diverge_survives_checkpoint_resume_and_fork", function()
  local p = path("grow.ckpt")
  -- two epochs, a checkpoint, then on: the reference stays step 0's loss
  -- (from step 2 it would explode at step 7)
  local first = gd.train(growing{ epochs = 2, checkpoint = { path = p },
                                  diverge = { factor = 100 } })
  assert(first.status == "ok")
  local ck = gd._checkpoint_load(p)
  assert(ck:info().first_loss == 1 and ck:info().diverge_factor == 100)
  local cfg = ck:config()
  assert(cfg.diverge.factor == 100)
  -- a fork may change it
  local run = gd.train(gd.fork(p, { diverge = false, epochs = 6, data = one }))
  assert(run.status == "ok" and run.steps == 6, run.status)
  run = gd.train(gd.fork(p, { diverge = { factor = 20 }, epochs = 6, data = one }))
  assert(run.diverged.what == "loss exploded: 64 at step 3 is more than 20 times the first "
    .. "step's loss (1)", run.diverged.what)
  -- (the resumed run writes its checkpoints over p: last)
  run = gd.resume(p, { epochs = 10, data = one })
  assert(run.status == "diverged" and run.diverged.what == "loss exploded: 256 at step 4 is "
    .. "more than 100 times the first step's loss (1)", run.diverged.what)
  -- resume keeps the run's own setting
  T.expect_message("gd.resume: cannot set 'diverge' (a change like that makes a new branch: "
    .. "use gd.fork); it takes epochs, data, validation, on_epoch, on_step, progress, "
    .. "checkpoint, name, quiet_diagnoses", gd.resume, p, { diverge = false })
end)

T.test("test_spec_messages_say_what_to_write", function()
  local function train(opt) return gd.train(growing{ optimizer = opt }) end
  T.expect_message("gd.train: 'optimizer' must be an optimizer spec, got the constructor "
    .. "gd.optim.adam (call it: gd.optim.adam{})", train, gd.optim.adam)
  T.expect_message("gd.train: 'schedule' must be a scheduler spec, got the constructor "
    .. "gd.sched.cosine (call it: gd.sched.cosine{})", gd.train,
    growing{ schedule = gd.sched.cosine })
  T.expect_message("gd.train: 'optimizer' must be an optimizer spec, got the string \"adam\" "
    .. "(write gd.optim.adam{})", train, "adam")
  local names = {}
  for _, c in ipairs(gd.plugins.list("optimizer")) do names[#names + 1] = c.name end
  local where = "if a plugin provides it, load it: gradus -l FILE.so, gd.plugins.load(FILE) or "
    .. "a directory in GRADUS_PLUGIN_PATH)"
  -- (yogi: no built-in is within the did-you-mean distance of it; lion is now, of muon)
  T.expect_message("gd.train: 'optimizer' must be an optimizer spec, got the string \"yogi\": "
    .. "unknown optimizer 'yogi' (available: " .. table.concat(names, ", ") .. "; " .. where,
    train, "yogi")
  T.expect_message("unknown optimizer 'yogi' (available: " .. table.concat(names, ", ") .. "; "
    .. where, function() return gd.optim.yogi{} end)
end)

T.test("test_train_refuses_internal_keys", function()
  for _, k in ipairs({ "_resume", "_fork", "_path", "_epochs_given" }) do
    T.expect_message("gd.train: unknown option '" .. k .. "' (options: " .. train_options .. ")",
      gd.train, growing{ [k] = true })
  end
end)

T.test("test_compare_and_report_refuse_unknown_keys", function()
  local spec = { base = growing{ epochs = 1 }, variants = { { name = "sgd" } }, repeatz = 2,
                 progress = false }
  T.expect_message("gd.compare: unknown option 'repeatz' (did you mean 'repeats'? options: "
    .. "base, variants, repeats, progress, run)", gd.compare, spec)
  spec.repeatz = nil
  local results = gd.compare(spec)
  local dir = path("report")
  T.expect_message("gd.report: unknown option 'dri' (did you mean 'dir'? options: dir, plots)",
    gd.report, results, { dri = dir })
  assert(io.open(dir .. "/summary.csv") == nil, "gd.report wrote despite the bad option")
end)

-- The rows of one section of a page: name -> the rest of the line.
local function rows(page, title)
  local out, inside, header = {}, false, false
  for line in (page .. "\n"):gmatch("(.-)\n") do
    if line == title then
      inside, header = true, true
    elseif header then
      header = false   -- name  type  default  meaning
    elseif inside and line == "" then
      break
    elseif inside then
      local name, rest = line:match("^  (%S+)%s+(.*)$")
      if name then out[name] = rest end
    end
  end
  return out
end

T.test("test_doc_pages_list_every_key_of_their_tables", function()
  for _, page in ipairs({ "train", "compare", "report", "resume", "data.csv" }) do
    local text = gd.doc(page)
    local listed = rows(text, "options")
    local n = 0
    for _, k in ipairs(gd._keys(page)) do
      assert(listed[k], "gd.doc('" .. page .. "') lacks '" .. k .. "'")
      n = n + 1
    end
    local m = 0
    for _ in pairs(listed) do m = m + 1 end
    assert(n == m and n > 0, page .. ": " .. n .. " keys, " .. m .. " rows")
  end
  -- the fork takes its own keys and gd.resume's, in two sections
  local fork = gd.doc("fork")
  local own, shared = rows(fork, "options"), rows(fork, "and those of gd.resume")
  for _, k in ipairs(gd._keys("fork")) do assert(own[k] or shared[k], "fork lacks " .. k) end
  assert(#gd._keys("fork") == #gd._keys("resume") + 9)
  -- a row: type, default, meaning
  assert(rows(gd.doc("train"), "options").diverge:match("^table | false%s+{ factor = 1000 }%s+"
    .. "\"diverged\" %(loss exploded%)"))
  -- the data page holds the keys its constructors check
  local data = gd.doc("data")
  assert(rows(data, "gd.data.fashion_mnist{ ... }").limit and rows(data, "ds:split{ ... }").seed)
  -- the synthetic generators: what each takes (its recipe holds every
  -- option, defaults written out) is its section, with those defaults
  for name, make in pairs(gd.data.synthetic) do
    local listed, n = rows(data, "gd.data.synthetic." .. name .. "{ ... }"), 0
    for k, v in pairs(make{}:recipe()) do
      if k ~= "source" then
        n = n + 1
        assert(listed[k], name .. ": gd.doc('data') lacks '" .. k .. "'")
        local ty = math.type(v) == "integer" and "integer" or "number"
        assert(listed[k]:match("^" .. ty .. " >= %d+%s+" .. string.format("%g", v) .. "%s+%S")
          or listed[k]:match("^" .. ty .. " in %d+..%d+%s+" .. string.format("%g", v) .. "%s+%S"),
          name .. "." .. k .. ": " .. listed[k])
      end
    end
    local m = 0
    for _ in pairs(listed) do m = m + 1 end
    assert(n == m and n >= 3, name .. ": " .. n .. " options, " .. m .. " rows")
  end
  T.expect_message("gd.data.fashion_mnist: unknown option 'limt' (did you mean 'limit'? "
    .. "options: split, limit, dir, shape)", gd.data.fashion_mnist, { limt = 3 })
  T.expect_message("gd.data.csv: unknown option 'heder' (did you mean 'header'? options: "
    .. "path, target, header, classes, shape)", gd.data.csv, { path = "x.csv", heder = true })
  T.expect_message("bad argument #1 to 'gradus.doc' (no page 'trian' (pages: train, compare, benchmark, "
    .. "report, plot, resume, fork, model, data, data.text, data.csv, history, results, probe, tensor; "
    .. "for a component: gradus doc NAME))",
    gd.doc, "trian")
end)

-- Every field of a table gradus returns is on its page.
local function documented(tbl, page, title)
  local listed = rows(gd.doc(page), title)
  for k in pairs(tbl) do
    assert(listed[k], ("%s has '%s', which gradus doc %s does not list under '%s'"):format(
      title, k, page, title))
  end
end

T.test("test_doc_pages_match_what_gradus_returns", function()
  local spirals = gd.data.synthetic.spirals{ n = 60, classes = 3, seed = 1 }
  local tr, va = spirals:split{ validation = 20, seed = 1 }
  local c = { model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{},
                gd.layer.dense{ units = 3 } },
              loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{}, data = tr,
              validation = va, epochs = 2, batch = 20, monitor = { every = 1 },
              early_stopping = { patience = 5 }, checkpoint = { path = path("doc.ckpt") },
              progress = false }
  local run = gd.train(c)
  documented(run, "train", "the run it returns")
  documented(run.history.epochs[1], "history", "history.epochs[e]")
  documented(run.history.steps[1], "history", "history.steps[i]")
  documented(run.history.steps[1].layers[1], "history", "history.steps[i].layers[j]")
  documented(gd.resume(path("doc.ckpt"), { epochs = 3 }), "train", "the run it returns")
  documented(gd.train(growing()).diverged and gd.train(growing()), "train", "the run it returns")
  c.checkpoint = nil
  local results = gd.compare{ base = c, variants = { { name = "adam" },
    { name = "sgd", optimizer = gd.optim.sgd{}, tune = { lr = { 0.1 } } } }, repeats = 2,
    progress = false }
  documented(results, "results", "results")
  documented(results.summary[2], "results", "results.summary[i]")
  documented(results.variants[1].runs[1], "results", "results.variants[i].runs[r]")
end)

T.test("test_gradus_doc_prints_the_pages", function()
  for _, page in ipairs({ "train", "compare", "report", "resume", "fork", "data", "data.csv",
                          "history", "results" }) do
    local f = io.popen(exe .. " doc " .. page .. " 2>&1; echo \"status=$?\"")
    local out = f:read("a")
    f:close()
    assert(out == gd.doc(page) .. "status=0\n", "gradus doc " .. page .. ":\n" .. out)
  end
  -- the README's stock lua5.4 line (one thread: issue 13's exit crash is
  -- another branch's)
  local cpath = exe:match("^(.*)/[^/]*$") .. "/lua/?.so;;"
  local preload = os.getenv("GRADUS_TEST_PRELOAD")   -- the sanitizer build's runtimes
  local f = io.popen(("%sGRADUS_THREADS=1 LUA_CPATH='%s' lua5.4 -e 'local gd = require "
    .. "\"gradus\"; io.write(gd.doc(\"history\"))' 2>&1; echo \"status=$?\""):format(
    preload and ("LD_PRELOAD='" .. preload .. "' ") or "", cpath))
  local out = f:read("a")
  f:close()
  assert(out == gd.doc("history") .. "status=0\n", "stock lua5.4:\n" .. out)
end)

-- Every option table the one reader reads (gd._option_tables(): by the
-- name its messages give it), reached through the call a user makes, with
-- a misspelled key: refused in the one wording, naming the key meant and
-- every option there is. A table added without a call here fails.
T.test("test_every_option_table_refuses_a_misspelled_key", function()
  local ckpt = path("walk.ckpt")
  assert(gd.train(growing{ epochs = 1, checkpoint = { path = ckpt } }).status == "ok")
  local results = gd.compare{ base = growing{ epochs = 1, diverge = false },
                              variants = { { name = "a" } }, progress = false }
  local probe_model = gd.sequential{ gd.layer.dense{ units = 1 } }:build{ inputs = 1 }
  local two = gd.data.tensor{ x = { { 1 }, { 2 } }, y = gd.tensor{ { 0 }, { 1 } } }
  local probe = gd.probe{ model = probe_model, data = two }
  local problem = path("problem.lua")
  local with = T.with
  local function train(o) return gd.train(growing(o)) end
  local function probes(name) return function(t) train{ monitor = { probes = { [name] = t } } } end end
  local xs = { { 1 }, { 2 }, { 3 }, { 4 } }
  -- each call puts t (the misspelled key) where its table goes
  local calls = {
    ["gd.train"] = function(t) train(t) end,
    ["gd.train: clip"] = function(t) train{ clip = t } end,
    ["gd.train: monitor"] = function(t) train{ monitor = t } end,
    ["gd.train: monitor.probes"] = function(t) train{ monitor = { probes = t } } end,
    ["gd.train: monitor.probes.sharpness"] = probes("sharpness"),
    ["gd.train: monitor.probes.trace"] = probes("trace"),
    ["gd.train: monitor.probes.noise_scale"] = probes("noise_scale"),
    ["gd.train: monitor.probes.distance"] = probes("distance"),
    ["gd.train: monitor.probes.alpha"] = probes("alpha"),
    ["gd.train: early_stopping"] = function(t) train{ early_stopping = t } end,
    ["gd.train: diverge"] = function(t) train{ diverge = t } end,
    ["gd.train: checkpoint"] = function(t) train{ checkpoint = t } end,
    ["gd.train: checkpoint.every"] = function(t)
      train{ checkpoint = { path = path("every.ckpt"), every = t } }
    end,
    ["gd.compare"] = function(t)
      gd.compare(with({ base = growing(), variants = { {} }, progress = false }, t))
    end,
    ["gd.compare: tune"] = function(t)
      gd.compare{ base = growing(), variants = { { tune = with({ lr = { 0.1 } }, t) } }, progress = false }
    end,
    ["gd.compare: run"] = function(t)
      gd.compare{ base = growing(), variants = { {} }, progress = false, run = t }
    end,
    ["gd.report"] = function(t) gd.report(results, t) end,
    ["gd.plot"] = function(t) gd.plot(with({ series = { { y = { 1 } } }, file = path("p.svg") }, t)) end,
    ["gd.plot: series"] = function(t)
      gd.plot{ series = { with({ y = { 1 } }, t) }, file = path("p.svg") }
    end,
    ["gd.resume"] = function(t) gd.resume(ckpt, with({ progress = false }, t)) end,
    ["gd.fork"] = function(t) gd.fork(ckpt, t) end,
    ["gd.benchmark"] = function(t) gd.benchmark(with({ optimizers = { "adam" }, out = path("b") }, t)) end,
    ["benchmark: problem"] = function(t)
      local f = assert(io.open(problem, "w"))
      f:write("return { ", next(t), " = 1 }\n")
      f:close()
      require("gradus.benchmark").load_problem(gd, problem)
    end,
    ["gd.data.fashion_mnist"] = function(t) gd.data.fashion_mnist(t) end,
    ["gd.data.csv"] = function(t) gd.data.csv(with({ path = "x.csv" }, t)) end,
    ["gd.data.text"] = function(t) gd.data.text(t) end,
    ["gd.data.tensor"] = function(t) gd.data.tensor(with({ x = xs, y = { 1, 2, 1, 2 } }, t)) end,
    ["split"] = function(t) gd.data.tensor{ x = xs, y = { 1, 2, 1, 2 } }:split(with({ validation = 1 }, t)) end,
    ["gd.data.synthetic.spirals"] = function(t) gd.data.synthetic.spirals(t) end,
    ["gd.data.synthetic.blobs"] = function(t) gd.data.synthetic.blobs(t) end,
    ["gd.data.synthetic.xor"] = function(t) gd.data.synthetic.xor(t) end,
    ["gd.data.synthetic.regression"] = function(t) gd.data.synthetic.regression(t) end,
    ["gd.data.synthetic.quadratic_deep"] = function(t) gd.data.synthetic.quadratic_deep(t) end,
    ["gd.probe"] = function(t) gd.probe(with({ model = probe_model, data = two }, t)) end,
    ["probe:eigen"] = function(t) probe:eigen(t) end,
    ["probe:trace"] = function(t) probe:trace(t) end,
    ["probe:noise_scale"] = function(t) probe:noise_scale(t) end,
    ["probe:slice"] = function(t) probe:slice(t) end,
    ["probe:surface"] = function(t) probe:surface(t) end,
    ["model:generate"] = function(t) probe_model:generate(t) end,
    ["sequential:build"] = function(t) gd.sequential{ gd.layer.dense{ units = 1 } }:build(t) end,
    ["residual:build"] = function(t) gd.residual{ gd.layer.relu{} }:build(t) end,
  }
  -- the name a message gives where it says more than the table's
  local shown_as = { ["gd.compare: tune"] = "gd.compare: variant 'variant1': tune",
                     ["gd.plot: series"] = "gd.plot: series 1",
                     ["benchmark: problem"] = "benchmark: problem " .. problem }
  local seen = 0
  for _, name in ipairs(gd._option_tables()) do
    local call = assert(calls[name], "no call reaches the option table '" .. name .. "'")
    seen = seen + 1
    local keys = gd._keys(name)
    assert(#keys > 0, name)
    for _, key in ipairs(keys) do
      local typo = key .. "z"
      local ok, msg = pcall(call, { [typo] = 1 })
      assert(not ok, name .. ": '" .. typo .. "' was accepted")
      msg = tostring(msg):gsub("^[^\n]-:%d+: ", "", 1)
      local want = (shown_as[name] or name) .. ": unknown option '" .. typo .. "' (did you mean '"
        .. key .. "'? options: " .. table.concat(keys, ", ") .. ")"
      assert(msg == want, "\n  " .. msg .. "\nis not\n  " .. want)
    end
  end
  local n = 0
  for _ in pairs(calls) do n = n + 1 end
  assert(seen == n, seen .. " tables, " .. n .. " calls")
end)

local ok, err = pcall(T.run)
for _, p in ipairs(made) do
  os.remove(p)
  os.execute("rm -rf '" .. p .. "'")
end
if not ok then error(err, 0) end
