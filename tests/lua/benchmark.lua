-- tests/lua/benchmark.lua: gradus benchmark's parts (issue 30): AlgoPerf's
-- profiles and score against hand-computed cases, quadratic_deep against
-- its definition, the optimizer argument parsed as data, and the cell
-- cache (reused, rerun when the problem file changes, resumed after an
-- interruption) with tuning seeds apart from the evaluation seeds.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local profile = require "gradus.profile"
local bench = require "gradus.benchmark"
local inf = math.huge

local function near(what, got, want)
  assert(math.abs(got - want) < 1e-12, ("%s: got %.15g, want %.15g"):format(what, got, want))
end

T.test("profile_ties_share_the_best", function()
  -- problem 1: both 10 s (a tie: both ratio 1); problem 2: 20 s and 40 s
  local r = profile.ratios({ { 10, 20 }, { 10, 40 } }, 2)
  near("tie a", r[1][1], 1); near("tie b", r[2][1], 1); near("ratio", r[2][2], 2)
  near("score a", profile.score(r[1], 2), 1)
  -- (3/3 + (4 - 2)/3) / 2
  near("score b", profile.score(r[2], 2), (1 + 2 / 3) / 2)
  near("rho b at 1.5", profile.rho(r[2], 1.5, 2), 0.5)
  near("rho b at 2", profile.rho(r[2], 2, 2), 1)
end)

T.test("profile_misses_count_as_infinite", function()
  -- a target not reached (inf, nil or NaN) is a miss
  local r = profile.ratios({ { inf, 5 }, { 3, nil }, { 0 / 0, 10 } }, 2)
  assert(r[1][1] == inf and r[2][2] == inf and r[3][1] == inf)
  near("a", profile.score(r[1], 2), 0.5)
  near("b", profile.score(r[2], 2), 0.5)
  near("c: ratio 2 on one problem", profile.score(r[3], 2), (2 / 3) / 2)
  -- a problem nobody solved is a miss for all
  local all = profile.ratios({ { inf }, { inf } }, 1)
  assert(all[1][1] == inf and all[2][1] == inf)
  near("nobody", profile.score(all[1], 1), 0)
end)

T.test("profile_single_optimizer", function()
  local r = profile.ratios({ { 7, inf, 2 } }, 3)
  near("ratio", r[1][1], 1)
  near("score", profile.score(r[1], 3), 2 / 3)
  near("rho at 1", profile.rho(r[1], 1, 3), 2 / 3)
end)

T.test("profile_beyond_four_times_is_a_miss", function()
  local r = profile.ratios({ { 1, 1 }, { 5, 4 } }, 2)
  assert(r[2][1] == inf, "5x the best is a miss")
  near("4x counts, adding nothing to the integral", r[2][2], 4)
  near("score", profile.score(r[2], 2), 0)
  near("rho at 4", profile.rho(r[2], 4, 2), 0.5)
  near("3x", profile.score(profile.ratios({ { 1 }, { 3 } }, 1)[2], 1), 1 / 3)
  -- the plotted steps: from tau = 1 to 4, stepping up at each ratio
  local st = profile.steps({ 1, 2.5, inf }, 3)
  assert(#st == 4, #st)
  near("step 1", st[1][2], 1 / 3); near("step at 2.5", st[3][2], 2 / 3); near("end", st[4][1], 4)
end)

T.test("quadratic_deep_is_deepobs_definition", function()
  -- the problem's sets are gd.data.synthetic.quadratic_deep sets, one Q
  -- (problem 42) and their own samples, each with a recipe a worker rebuilds
  local prob = bench.load_problem(gd, "quadratic_deep")
  local train, val, test = prob.data("smoke")
  for i, s in ipairs({ train, val, test }) do
    local r = s:recipe()
    assert(r.source == "synthetic.quadratic_deep" and r.problem == 42 and r.noise == 0.6 and r.seed == 1000 + i)
  end
  local ds = gd.data.synthetic.quadratic_deep{ n = 200, seed = 7 }
  local x, y = ds:tensors()
  local tx = train:tensors()
  -- every sample's input is the operator A of Q (A[h][k] at x[(k - 1) * 100 + h]), the same in every set
  for i = 1, 10000, 37 do assert(x[i] == x[199 * 10000 + i] and x[i] == tx[i], i) end
  -- A = √50 · D^½ R with R a rotation, so A Aᵀ = 50 D: the eigenvalues of
  -- Q = RᵀDR are the rows' squared norms / 50, and R = D^-½ A / √50
  local eig, R = {}, {}
  for h = 1, 100 do
    local s = 0
    for k = 1, 100 do s = s + x[(k - 1) * 100 + h] ^ 2 end
    eig[h] = s / 50
    R[h] = {}
    for k = 1, 100 do R[h][k] = x[(k - 1) * 100 + h] / math.sqrt(s) end
  end
  for i, e in ipairs(eig) do
    if i <= 90 then assert(e >= 0 and e <= 1, e) else assert(e >= 30 and e <= 60, e) end
  end
  -- the 90 small ones are uniform on [0, 1], the 10 large on [30, 60]: means within 4 standard errors
  local m, ml = 0, 0
  for i = 1, 90 do m = m + eig[i] / 90 end
  for i = 91, 100 do ml = ml + eig[i] / 10 end
  assert(math.abs(m - 0.5) < 4 * math.sqrt(1 / 12 / 90), m)
  assert(math.abs(ml - 45) < 4 * 30 * math.sqrt(1 / 12 / 10), ml)
  -- R is a rotation: R Rᵀ = I (to float precision: A is stored as floats)
  local worst = 0
  for i = 1, 100 do
    for j = 1, 100 do
      local d = 0
      for k = 1, 100 do d = d + R[i][k] * R[j][k] end
      worst = math.max(worst, math.abs(d - (i == j and 1 or 0)))
    end
  end
  assert(worst < 1e-5, worst)
  -- the data: targets y = A x, so x = Rᵀ D^-½ y / √50 ~ N(0, 0.6² I); 200 samples x 100 coordinates
  local xs = {}
  for s = 0, 199 do
    for k = 1, 100 do
      local v = 0
      for h = 1, 100 do v = v + R[h][k] * y[s * 100 + h] / math.sqrt(50 * eig[h]) end
      xs[s * 100 + k] = v
    end
  end
  local n, s1, s2 = #xs, 0, 0
  for _, v in ipairs(xs) do s1 = s1 + v; s2 = s2 + v * v end
  local mean, var = s1 / n, s2 / n - (s1 / n) ^ 2
  assert(n == 20000)
  assert(math.abs(mean) < 4 * 0.6 / math.sqrt(n), mean)
  -- the variance's standard error is σ²·√(2/n)
  assert(math.abs(var - 0.36) < 4 * 0.36 * math.sqrt(2 / n), var)
  -- the model's loss at θ = 1 is DeepOBS's ½ (θ − x)ᵀ Q (θ − x), averaged
  local want = 0
  for s = 0, 199 do
    local q = 0
    for h = 1, 100 do
      local z = 0
      for k = 1, 100 do z = z + R[h][k] * (1 - xs[s * 100 + k]) end
      q = q + eig[h] * z * z
    end
    want = want + 0.5 * q / 200
  end
  local run = gd.train{ model = prob.model, loss = prob.loss, optimizer = gd.optim.sgd{ lr = 0 },
                        data = ds, validation = ds, epochs = 1, batch = 200, progress = false }
  local got = run.history.epochs[1].val_loss
  assert(math.abs(got - want) < 1e-4 * want, ("loss at theta = 1: %.6g, the definition %.6g"):format(got, want))
  -- a worker's rebuild from the recipe is the same set, bit for bit
  local rx, ry = gd.data.rebuild(ds:recipe()):tensors()
  for i = 1, #x, 101 do assert(rx[i] == x[i], i) end
  for i = 1, #y do assert(ry[i] == y[i], i) end
  -- another problem seed, another Q; bad options are refused
  local other = gd.data.synthetic.quadratic_deep{ n = 1, problem = 43 }:tensors()
  assert(other[1] ~= x[1])
  T.expect_error("'n'", gd.data.synthetic.quadratic_deep, { n = 0 })
  T.expect_error("unknown", gd.data.synthetic.quadratic_deep, { dim = 3 })
end)

T.test("optimizer_argument_is_data", function()
  local o = bench.parse_optimizer("lion{beta1=0.95, lr = 1e-4, label=\"x\"}")
  assert(o.name == "lion" and o.options.beta1 == 0.95 and o.options.lr == 1e-4 and o.options.label == "x")
  T.expect_error("is not key=value", bench.parse_optimizer, "lion{beta1=os.exit(3)}")
  T.expect_error("is not a name", bench.parse_optimizer, "os.exit(3)")
  T.expect_error("unknown option 'gamma'", bench.optimizers, gd, { "adam{gamma=1}" })
  T.expect_error("unknown optimizer 'nosuch'", bench.optimizers, gd, { "nosuch" })
  T.expect_error("unknown option 'problem'", gd.benchmark, { optimizers = { "adam" }, out = "x", problem = 1 })
  T.expect_error("'run' must be a table", gd.benchmark, { optimizers = { "adam" }, out = "x", run = "local" })
  T.expect_error("run.dir and run.name are the benchmark's", gd.benchmark,
    { optimizers = { "adam" }, out = "x", run = { jobs = 2, dir = "y" } })
  T.expect_error("run.backend must be", gd.benchmark, { optimizers = { "adam" }, out = "x", run = { backend = "pbs" } })
  T.expect_error("run.jobs must be an integer", gd.benchmark, { optimizers = { "adam" }, out = "x", run = { jobs = 0 } })
  -- names become file names: two that would share one are refused before anything runs
  T.expect_error("would share the file name", gd.benchmark, { optimizers = { "adam{lr=0.1}", "adam{lr = 0.1 }" },
    out = "/nonexistent/x", progress = false })
end)

-- A tiny problem of the user's, by path; its data function counts its calls
-- (a cell that is reused never asks for data) and fails on demand.
local problem_text = [[
local gd = require "gradus"
local d = gd.data.synthetic.blobs{ n = 120, classes = 3, seed = 3 }
local train, val = d:split{ validation = 30, seed = 1 }
return {
  name = "tiny_blobs",
  model = gd.sequential{ gd.layer.dense{ units = 3 } },
  data = function()
    BENCH_CALLS = BENCH_CALLS + 1
    if BENCH_CALLS == BENCH_FAIL_AT then error("interrupted on purpose") end
    return train, val, val
  end,
  loss = gd.loss.cross_entropy{}, batch = 30,
  epochs = { smoke = 2, small = 2, full = 2 },
  metric = "accuracy", target = 0.5,
}
]]

T.test("cells_cached_rerun_and_resumed", function()
  local dir = T.tmpdir()
  local path = dir .. "/tiny.lua"
  T.spit(path, problem_text)
  local spec = { optimizers = { "adagrad" }, problems = { path }, size = "smoke", out = dir .. "/out",
                 progress = false, plots = false }
  BENCH_CALLS = 0
  local doc = gd.benchmark(spec)
  assert(BENCH_CALLS == 4, BENCH_CALLS)   -- a cell asks for its data once
  assert(#doc.cells == 4, #doc.cells)   -- sgd, momentum, adam, adagrad
  local saved = T.json_decode(T.slurp(dir .. "/out/results.json"))
  assert(saved.kind == "gradus benchmark")
  for _, c in ipairs(saved.cells) do
    local eval = {}
    for _, s in ipairs(c.seeds) do eval[s] = true end
    assert(#c.seeds == 2 and #c.tune_seeds >= 1)
    for _, s in ipairs(c.tune_seeds) do assert(not eval[s], "tuning seed " .. s .. " is an evaluation seed") end
    for _, r in ipairs(c.runs) do assert(eval[r.seed]) end
    assert(#c.tuning == 3, "a tuning record per lr")
  end
  -- nothing changed: every cell reused, the same numbers
  local mtime = T.sh("stat -c %Y.%s " .. dir .. "/out/cells/*")
  local again = gd.benchmark(spec)
  assert(BENCH_CALLS == 4, "a cell ran again: " .. BENCH_CALLS)
  assert(T.sh("stat -c %Y.%s " .. dir .. "/out/cells/*") == mtime, "a cell was rewritten")
  for i, c in ipairs(again.cells) do
    assert(c.performance.mean == doc.cells[i].performance.mean)
  end
  -- the problem file changes: every cell runs again; the run is interrupted
  -- in its third cell, after two finished
  T.spit(path, problem_text .. "-- changed\n")
  local before = T.slurp(dir .. "/out/cells/tiny_blobs.sgd.json")
  BENCH_CALLS, BENCH_FAIL_AT = 0, 3
  T.expect_error("interrupted on purpose", gd.benchmark, spec)
  local after = T.json_decode(T.slurp(dir .. "/out/cells/tiny_blobs.sgd.json"))
  assert(T.slurp(dir .. "/out/cells/tiny_blobs.sgd.json") ~= before, "the changed problem's cell was reused")
  assert(after.key.problem:find("^tiny_blobs@"), after.key.problem)
  local keep = T.slurp(dir .. "/out/cells/tiny_blobs.momentum.json")
  -- resumed: the two finished cells are kept, the other two run
  BENCH_CALLS, BENCH_FAIL_AT = 0, nil
  gd.benchmark(spec)
  assert(BENCH_CALLS == 2, BENCH_CALLS)
  assert(T.slurp(dir .. "/out/cells/tiny_blobs.momentum.json") == keep, "a finished cell was redone")
  os.execute("rm -rf '" .. dir .. "'")
end)

-- A problem of the user's built from Lua values (gd.data.tensor): under
-- --jobs its trials cannot be written into trial files, so it runs in the
-- benchmark's process, said once; a metric it does not know is refused.
T.test("tensor_problem_runs_in_process_under_jobs", function()
  local dir = T.tmpdir()
  local q = T.quote
  local text = [[
local gd = require "gradus"
local x, y = {}, {}
for i = 1, 60 do x[i] = { (i % 3) - 1, (i % 5) / 5 }; y[i] = i % 3 + 1 end
local d = gd.data.tensor{ x = x, y = y }
return { name = "tiny_tensor", model = gd.sequential{ gd.layer.dense{ units = 3 } }, data = function() return d, d, d end,
  loss = gd.loss.cross_entropy{}, batch = 20, epochs = { smoke = 1, small = 1, full = 1 }, metric = METRIC, target = 0.5 }
]]
  T.spit(dir .. "/tiny.lua", (text:gsub("METRIC", '"accuracy"')))
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local _, err, code = T.command(("cd %s && %s benchmark --size smoke --problems tiny.lua --jobs 2 --out o adam"):format(
    q(dir), q(exe)))
  assert(code == 0, err)
  local _, notes = err:gsub("tiny_tensor runs in this process: its data has no recipe", "")
  assert(notes == 1, err)
  assert(T.sh("ls -A " .. q(dir .. "/o")):find("sweeps", 1, true) == nil, "a sweep was started")
  assert(#T.json_decode(T.slurp(dir .. "/o/results.json")).cells == 3)
  T.spit(dir .. "/bad.lua", (text:gsub("METRIC", '"perplexity"')))
  _, err, code = T.command(("cd %s && %s benchmark --size smoke --problems bad.lua --out o2 adam"):format(q(dir), q(exe)))
  assert(code ~= 0 and err:find([['metric' must be "accuracy", "loss" or "bpc"]], 1, true), err)
  os.execute("rm -rf " .. q(dir))
end)

T.test("compare_tune_has_seeds_of_its_own_and_warns_at_the_edge", function()
  local d = gd.data.synthetic.blobs{ n = 90, classes = 3, seed = 5 }
  local train, val = d:split{ validation = 30, seed = 1 }
  local base = { model = gd.sequential{ gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
                 data = train, validation = val, epochs = 2, batch = 20, progress = false }
  local res = gd.compare{ base = base, repeats = 2, progress = false,
    variants = { { name = "sgd", optimizer = gd.optim.sgd{}, tune = { lr = { 1e-6, 1e-5 }, seeds = 2 } } } }
  local v = res.variants[1]
  -- the repeats use 1, 2; tuning 3, 4 (after them), never one of theirs
  assert(res.seeds[1] == 1 and res.seeds[2] == 2)
  assert(v.tune_seeds[1] == 3 and v.tune_seeds[2] == 4, table.concat(v.tune_seeds, ","))
  assert(#v.tuning == 2 and v.tuning[1].value and v.tuning[2].value)
  -- such a tiny lr learns nothing: the larger one wins, at the grid's upper edge
  assert(v.lr == 1e-5 and v.tune_warning and v.tune_warning:find("upper edge", 1, true), tostring(v.tune_warning))
  T.expect_error("tuning seed 2 is also a seed of the repeats", gd.compare, { base = base, repeats = 2,
    variants = { { optimizer = gd.optim.sgd{}, tune = { lr = { 0.1 }, seeds = { 7, 2 } } } } })
  T.expect_error("gd.compare: variant 'variant1': tune: unknown option 'seed' (did you mean 'seeds'? "
    .. "options: lr, seeds, metric, validation)", gd.compare, { base = base,
    variants = { { optimizer = gd.optim.sgd{}, tune = { lr = { 0.1 }, seed = 3 } } } })
  T.expect_error("gd.compare: variant 'variant1': tune: option 'metric' must be \"val_loss\", "
    .. "\"val_accuracy\" or \"train_loss\", got the string \"acc\"", gd.compare, { base = base,
    variants = { { optimizer = gd.optim.sgd{}, tune = { lr = { 0.1 }, metric = "acc" } } } })
  -- the report: a metric-versus-lr plot and the edge warning on the page
  local dir = T.tmpdir()
  gd.report(res, { dir = dir })
  local html = T.slurp(dir .. "/index.html")
  assert(html:find("upper edge of the grid", 1, true), "no edge warning on the page")
  if T.exists(dir .. "/loss.svg") then   -- gnuplot installed
    assert(T.exists(dir .. "/tuning.svg"), "no metric-versus-lr plot")
    assert(html:find('id="plot-tuning"', 1, true))
  end
  os.execute("rm -rf '" .. dir .. "'")
end)

T.run()
