-- tests/lua/honest_results.lua: results that cannot mislead: a NaN or Inf
-- validation loss is a divergence counted as one everywhere, a win rate
-- compares one metric, options are read one way, a finished checkpoint is
-- not replaced silently, an interrupted comparison says what resumes.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local compare = require "gradus.compare"

local root = T.tmpdir()

local function row(v)
  local r = {}
  for i = 1, 16 do r[i] = v end
  return r
end
-- a regression set, and a validation set one of whose samples makes any
-- dense layer's output overflow (Inf, then an Inf or NaN loss)
local train = gd.data.tensor{ x = { row(1), row(0), row(0.5), row(0.2) }, y = { { 1.0 }, { 2.0 }, { 1.5 }, { 0.5 } } }
local good_val = gd.data.tensor{ x = { row(0.3), row(1) }, y = { { 1.0 }, { 2.0 } } }
local bad_val = gd.data.tensor{ x = { row(3e38), row(1) }, y = { { 1.0 }, { 2.0 } } }
local base = { model = gd.sequential{ gd.layer.dense{ units = 1 } }, data = train, loss = gd.loss.mse{},
               optimizer = gd.optim.sgd{ lr = 0.1 }, epochs = 3, batch = 2, progress = false,
               quiet_diagnoses = true }

local with = T.with

T.test("a validation loss that is not finite ends the run as diverged, with its epoch", function()
  local run = gd.train(with(base, { validation = bad_val }))
  assert(run.status == "diverged", run.status)
  local d = run.diverged
  assert(d.epoch == 1 and d.layer == "validation", d.epoch .. " " .. d.layer)
  assert(d.what == "validation loss is infinite after epoch 1" or d.what == "validation loss is NaN after epoch 1", d.what)
  assert(#run.history.epochs == 1, "the epoch is in the history")
  local kinds = {}
  for _, x in ipairs(run.diagnoses) do kinds[x.kind] = x.message end
  assert(kinds.validation_diverged and not kinds.exploding_gradients, next(kinds))
  assert(kinds.validation_diverged:find("^validation diverged: validation loss is"), kinds.validation_diverged)
  assert(gd.train(with(base, { validation = good_val })).status == "ok")
end)

T.test("the epoch that ends in a validation divergence prints its line, then the divergence", function()
  local script = root .. "/val_diverges.lua"
  T.spit(script, [[
local gd = require "gradus"
local row = function(v) local r = {} for i = 1, 16 do r[i] = v end return r end
gd.train{ model = gd.sequential{ gd.layer.dense{ units = 1 } }, loss = gd.loss.mse{},
  data = gd.data.tensor{ x = { row(1), row(0), row(0.5), row(0.2) }, y = { { 1.0 }, { 2.0 }, { 1.5 }, { 0.5 } } },
  validation = gd.data.tensor{ x = { row(3e38), row(1) }, y = { { 1.0 }, { 2.0 } } },
  optimizer = gd.optim.sgd{ lr = 0.1 }, epochs = 3, batch = 2, quiet_diagnoses = true }
]])
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local _, err, code = T.command(("'%s' run '%s'"):format(exe, script))
  assert(code == 0, err)
  local line, div = err:match("(epoch 1/3  train_loss [^\n]*)\n(diverged at step 1 [^\n]*)\n")
  assert(line and div, err)
  assert(line:find("  val_loss %-?[infa]+  lr 0%.1  ") and line:find("train_loss %d%.%d%d%d%d "), line)
  assert(div:find("validation: validation loss is ", 1, true), div)
end)

T.test("gd.compare counts such runs as diverged; they lose every win", function()
  local res = gd.compare{ base = with(base, { validation = good_val }), repeats = 3, progress = false,
    variants = { { name = "good" }, { name = "bad", validation = bad_val } } }
  local g, b = res.summary[1], res.summary[2]
  assert(g.n == 3 and g.diverged == 0, g.n .. " " .. g.diverged)
  assert(b.n == 0 and b.diverged == 3, b.n .. " " .. b.diverged)
  assert(b.win_rate == 0, tostring(b.win_rate))
  for _, r in ipairs(res.variants[2].runs) do assert(r.status == "diverged" and r.diverged.epoch == 1) end
  local report = require "gradus.report"
  local t = report.table(res)
  assert(t:find("bad%s+0 %(%+3 diverged%)"), t)
end)

T.test("an ok run without the compared metric is diverged; no train_loss against val_loss", function()
  -- as an older results.json holds them: 'ok' with a NaN val_loss
  local function run(seed, tl, vl) return { seed = seed, status = "ok", metrics = { train_loss = tl, val_loss = vl,
    val_accuracy = 0 / 0, seconds = 1 } } end
  local ref = { name = "ref", runs = { run(1, 0.5, 1.0), run(2, 0.5, 1.0), run(3, 0.5, 1.0) } }
  -- train_loss 0.1 < ref's val_loss 1.0: a mixed comparison would call these wins
  local other = { name = "other", runs = { run(1, 0.1, 0 / 0), run(2, 0.1, 0.9), run(3, 0.1, 1 / 0) } }
  local s = compare.summarize({ ref, other }, ref)
  assert(s[2].n == 1 and s[2].diverged == 2, s[2].n .. " " .. s[2].diverged)
  T.close_number("win rate", s[2].win_rate, 1 / 3, 1e-12)
  T.close_number("mean val_loss over the finished run only", s[2].mean.val_loss, 0.9, 1e-12)
end)

T.test("integer options are numbers: epochs = \"5\" is refused as batch = \"128\" is", function()
  local function run(extra) return gd.train(with(base, extra)) end
  T.expect_message("gd.train: option 'epochs' must be an integer >= 1, got the string \"5\"", run, { epochs = "5" })
  T.expect_message("gd.train: option 'seed' must be an integer >= 0, got the string \"1\"", run, { seed = "1" })
  T.expect_message("gd.train: monitor: option 'every' must be an integer >= 1, got the string \"3\"", run,
    { monitor = { every = "3" } })
  T.expect_message("gd.train: option 'batch' must be an integer >= 1 or \"full\", got the string \"128\"", run, { batch = "128" })
  T.expect_message("gd.data.synthetic.blobs: option 'n' must be an integer >= 1, got the string \"40\"",
    gd.data.synthetic.blobs, { n = "40" })
  T.expect_error("'validation' must be a sample count or a fraction", train.split, train, { validation = "2" })
  T.expect_message("gd.compare: option 'repeats' must be an integer >= 1, got the string \"3\"", gd.compare,
    { base = base, variants = { { name = "a" } }, repeats = "3" })
  assert(run({ epochs = 2.0 }).status == "ok", "an integral float is an integer")
end)

T.test("cosine{ T } beyond the run is refused, as PLUGINS.md says", function()
  -- 4 samples in batches of 2: 2 updates per epoch, 6 in 3 epochs
  T.expect_error("cosine: T = 100 is beyond the run, which has 6 steps of the schedule", gd.train,
    with(base, { schedule = gd.sched.cosine{ T = 100 } }))
  assert(gd.train(with(base, { schedule = gd.sched.cosine{ T = 6 } })).status == "ok")
  assert(gd.train(with(base, { schedule = gd.sched.cosine{} })).status == "ok")
end)

T.test("gd.plot refuses an unknown option or series key, naming the right ones", function()
  local file = root .. "/p.svg"
  T.expect_message("gd.plot: unknown option 'titel' (did you mean 'title'? options: series, file, title, "
    .. "xlabel, ylabel, logx, logy)", gd.plot, { series = { { y = { 1, 2 } } }, file = file, titel = "x" })
  T.expect_message("gd.plot: series 1: unknown option 'lable' (did you mean 'label'? options: y, x, label, style)", gd.plot,
    { series = { { y = { 1, 2 }, lable = "a" } }, file = file })
  assert(not T.exists(file), "a refused plot wrote its file")
end)

T.test("a finished run's checkpoint is not replaced by a run of another length", function()
  local p = root .. "/ck/run.ckpt"
  local function cfg(epochs, extra)
    return with(base, with({ epochs = epochs, checkpoint = { path = p } }, extra or {}))
  end
  assert(gd.train(cfg(3)).status == "ok")
  local before = T.slurp(p)
  T.expect_message("gd.train: checkpoint: " .. p .. " holds this run, finished after 3 epochs; a run of 2 "
    .. "epochs would replace it: give another path, or checkpoint = { ..., overwrite = true } to replace it",
    gd.train, cfg(2))
  T.expect_message("gd.train: checkpoint: " .. p .. " holds this run, finished after 3 epochs; not starting it "
    .. "over: resume it to train on (gd.resume(\"" .. p .. "\", { epochs = 5 }), or gradus resume " .. p .. " 5), "
    .. "give another path, or checkpoint = { ..., overwrite = true } to replace it", gd.train, cfg(5))
  assert(T.slurp(p) == before, "a refused run changed the checkpoint")
  assert(gd.train(cfg(3)).status == "ok", "the same run again is allowed (it writes the same file)")
  assert(gd.resume(p, { epochs = 5, progress = false, data = train }).epochs == 5, "resuming it to more epochs is allowed")
  assert(gd.train(cfg(2, { checkpoint = { path = p, overwrite = true } })).epochs == 2, "overwrite = true replaces it")
end)

T.test("an interrupted serial gd.compare says a sweep is what resumes it", function()
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local script = root .. "/interrupt.lua"
  -- SIGTERM to this gradus (the shell's parent) at the end of run 2's first epoch
  T.spit(script, [[
local gd = require "gradus"
local d = gd.data.synthetic.blobs{ n = 40, classes = 2 }
local n = 0
gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } }, data = d,
  loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{}, epochs = 2, batch = 10,
  on_epoch = function() n = n + 1; if n == 3 then os.execute("kill -TERM $PPID") end end },
  variants = { { name = "a" }, { name = "b" } }, repeats = 2, progress = false }
print("not reached")
]])
  local out, err, code = T.command(("'%s' run '%s'"):format(exe, script))
  assert(code == 143 and not out:find("not reached"), code .. " " .. out)
  assert(err == "gradus: interrupted by SIGTERM in gd.compare's run 2 of 4 (variant 'a', seed 2); a comparison "
    .. "run serially cannot be resumed: run it as a sweep, gd.compare{ ..., run = { backend = \"local\" } } "
    .. "or gradus sweep SCRIPT, which keeps every finished run and resumes an interrupted one from its "
    .. "checkpoint\n", err)
end)

T.test("the lecture scripts write their output under the working directory, never the checkout", function()
  local scripts = arg[0]:match("^(.-)tests/lua/[^/]*$") .. "scripts/"
  local saved = arg
  local function paths(...)
    arg = { [0] = scripts .. "fitting.lua", ... }
    local ok, L = pcall(dofile, scripts .. "lib/lecture.lua")
    arg = saved
    assert(ok, L)
    return L.out, L.plot_file
  end
  local out, plot = paths()
  assert(out == "out/fitting" and plot == "out/plots/fitting.png", out .. " " .. plot)
  out, plot = paths("--quick")
  assert(out == "out/fitting-quick" and plot == "out/fitting-quick/fitting.png", out .. " " .. plot)
  out, plot = paths("--out", "/tmp/elsewhere")
  assert(out == "/tmp/elsewhere/fitting" and plot == "/tmp/elsewhere/plots/fitting.png", out .. " " .. plot)
  out, plot = paths("--plots", "scripts/plots")
  assert(out == "out/fitting" and plot == "scripts/plots/fitting.png", out .. " " .. plot)
end)

T.run()
os.execute("rm -rf '" .. root .. "'")
