-- tests/lua/benchmark_smoke.lua: `gradus benchmark --size smoke` of every
-- shipped problem with a dropped-in optimizer (examples/plugins/lion.c,
-- built as a fixture) beside the baselines; the page and results.json hold
-- every problem and optimizer; gradus report rebuilds the page; --help runs
-- nothing; unknown options are refused.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
local fixtures = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")
local q = T.quote
local bench = require "gradus.benchmark"
local B = dofile(arg[0]:match("^(.-)[^/]*$") .. "browser.lua")

T.test("help_runs_nothing_and_bad_options_are_refused", function()
  local dir = T.tmpdir()
  local out, _, code = T.command(("cd %s && %s benchmark --help adam"):format(q(dir), q(exe)))
  assert(code == 0 and out:find("usage: gradus benchmark", 1, true), out)
  assert(T.sh("ls -A " .. q(dir)) == "", "--help wrote something")
  local _, err, c2 = T.command(("cd %s && %s benchmark --sizes smoke adam"):format(q(dir), q(exe)))
  assert(c2 ~= 0 and err:find("unknown option '--sizes'", 1, true), err)
  _, err, c2 = T.command(("cd %s && %s benchmark --size huge adam"):format(q(dir), q(exe)))
  assert(c2 ~= 0 and err:find("gd.benchmark: option 'size' must be \"smoke\", \"small\" or \"full\", got the string \"huge\"", 1, true), err)
  _, err, c2 = T.command(("cd %s && %s benchmark --grid 1:0.1:3 adam"):format(q(dir), q(exe)))
  assert(c2 ~= 0 and err:find("--grid needs LO:HI:N", 1, true), err)
  _, err, c2 = T.command(("cd %s && %s benchmark --size smoke --problems nosuch adam"):format(q(dir), q(exe)))
  assert(c2 ~= 0 and err:find("unknown problem 'nosuch'", 1, true), err)
  assert(T.sh("ls -A " .. q(dir)) == "", "a refused benchmark wrote something")
  os.execute("rm -rf " .. q(dir))
end)

T.test("smoke_every_problem_with_a_dropped_in_optimizer", function()
  local dir = T.tmpdir()
  local out, err, code = T.command(("cd %s && %s benchmark --size smoke --out rep %s"):format(q(dir), q(exe),
    q(fixtures .. "/lion.so")))
  assert(code == 0, err)
  assert(out:find("lion", 1, true), out)
  local doc = T.json_decode(T.slurp(dir .. "/rep/results.json"))
  local html = T.slurp(dir .. "/rep/index.html")
  assert(#doc.problems == #bench.shipped, #doc.problems)
  local names = { "sgd", "momentum", "adam", "lion" }
  assert(#doc.optimizers == 4 and #doc.cells == 4 * #bench.shipped)
  for i, n in ipairs(names) do
    assert(doc.optimizers[i].name == n, doc.optimizers[i].name)
    assert(html:find("<bdi>" .. n .. "</bdi>", 1, true), n .. " missing from the page")
    assert(type(doc.optimizers[i].score) == "number")
  end
  for _, p in ipairs(bench.shipped) do
    assert(html:find("<bdi>" .. p .. "</bdi>", 1, true), p .. " missing from the page")
    local sub = T.slurp(dir .. "/rep/problems/" .. p .. "/index.html")
    assert(sub and sub:find("<bdi>lion</bdi>", 1, true), p .. ": no problem page with lion")
    for _, n in ipairs(names) do
      local c = bench.cell_of(doc, p, n)
      assert(c, p .. " x " .. n)
      local eval = {}
      for _, s in ipairs(c.seeds) do eval[s] = true end
      for _, s in ipairs(c.tune_seeds) do assert(not eval[s], "tuning seed " .. s .. " is an evaluation seed") end
      assert(type(c.lr) == "number" and #c.runs == 2)
    end
  end
  assert(T.slurp(dir .. "/rep/leaderboard.csv"):find("fmnist_2c2d,lion,", 1, true))
  -- kjv_char is judged in bits per character, lower is better, and even
  -- its 8 steps of smoke learn: every optimizer's test bpc is below the
  -- log2(V) bits of a uniform guess over the characters
  local kjv
  for _, p in ipairs(doc.problems) do if p.name == "kjv_char" then kjv = p end end
  assert(kjv and kjv.metric == "bpc" and kjv.target == 2.7, "kjv_char's row")
  assert(html:find("test bpc (lr)", 1, true) and html:find("time to ≤ 2.7", 1, true), "kjv_char's columns")
  local uniform = math.log(#T.gd.data.text{ context = 32 }:vocab(), 2)
  for _, n in ipairs(names) do
    local c = bench.cell_of(doc, "kjv_char", n)
    assert(c.performance.n == 2 and c.performance.mean < uniform,
      string.format("kjv_char x %s: %s bpc, uniform %.3f", n, tostring(c.performance.mean), uniform))
  end
  assert(T.slurp(dir .. "/rep/leaderboard.csv"):find("kjv_char,lion,bpc,", 1, true))
  -- in a real browser: no console error, a leaderboard row per optimizer,
  -- the profiles drawn, the problem pages' tuning plots drawn
  assert(T.gd._util.mkdir_p(dir .. "/browser"))
  local browser = B.open(dir .. "/browser")   -- close() removes its directory
  local ok, err = pcall(function()
    browser:navigate("file://" .. dir .. "/rep/index.html")
    assert(#browser:errors() == 0, table.concat(browser:errors(), "; "))
    assert(browser:eval('document.querySelectorAll("#leaderboard tbody tr").length') == 4)
    if html:find('id="plot-profiles"', 1, true) then
      local r = browser:eval([[(function () { const r = document.querySelector("#plot-profiles").getBoundingClientRect();
        return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height }; })()]])
      assert(r.width > 400 and r.height > 200, r.width .. "x" .. r.height)
      assert(browser:ink(r) > 0.01 * r.width * r.height, "the profiles are not drawn")
    end
    browser:navigate("file://" .. dir .. "/rep/problems/fmnist_mlp/index.html")
    assert(#browser:errors() == 0, table.concat(browser:errors(), "; "))
    assert(browser:eval('document.querySelectorAll("#summary tr.variant").length') == 4)
  end)
  browser:close()
  assert(ok, err)
  -- gradus report rebuilds the page from results.json, running nothing
  os.remove(dir .. "/rep/index.html")
  out, err, code = T.command(("cd %s && %s report rep"):format(q(dir), q(exe)))
  assert(code == 0, err)
  assert(T.slurp(dir .. "/rep/index.html"):find("<bdi>fmnist_resnet</bdi>", 1, true))
  -- a second benchmark reuses every cell and runs nothing
  out, err, code = T.command(("cd %s && %s benchmark --size smoke --out rep --problems quadratic_deep adam"):format(
    q(dir), q(exe)))
  assert(code == 0 and select(2, err:gsub("reused", "")) == 3 and not err:find("tuning"), err)
  os.execute("rm -rf " .. q(dir))
end)

T.test("sigterm_stops_and_the_rerun_resumes", function()
  local dir = T.tmpdir()
  -- gradus itself in the background (its pid, never a pattern), stopped by
  -- SIGTERM once its log shows the fmnist_2c2d cell started (polled, at
  -- most 300 s): fmnist_logreg's cells are finished by then, 2c2d's adam
  -- is not. The benchmark holds a signal that comes while a cell loads its
  -- data until the cell's next training, so the stop always says how to
  -- resume.
  local cmd = ("cd %s && { %s --threads 1 benchmark --size smoke --problems fmnist_logreg,fmnist_2c2d --out rep "
    .. "adam >/dev/null 2>err.log & p=$!; i=0; "
    .. "while ! grep -q 'on fmnist_2c2d: tuning' err.log && kill -0 $p 2>/dev/null && [ $i -lt 3000 ]; do "
    .. "sleep 0.1; i=$((i+1)); done; kill -TERM $p; wait $p; echo rc=$?; }"):format(q(dir), q(exe))
  local out = T.sh(cmd)
  local err = T.slurp(dir .. "/err.log")
  assert(err:find("on fmnist_2c2d: tuning", 1, true), "the fmnist_2c2d cell never started: " .. err)
  assert(out:find("rc=143", 1, true), out .. err)
  assert(err:find("interrupted by SIGTERM in gradus benchmark; the finished cells are kept in rep/cells", 1, true),
    err)
  local kept = {}
  for f in T.sh("cd " .. q(dir) .. " && ls rep/cells"):gmatch("%S+") do
    kept[f] = T.slurp(dir .. "/rep/cells/" .. f)
  end
  -- the three fmnist_logreg cells, and of fmnist_2c2d at most those before adam
  for _, o in ipairs({ "sgd", "momentum", "adam" }) do
    assert(kept["fmnist_logreg." .. o .. ".json"], "fmnist_logreg." .. o .. " was not kept")
  end
  assert(not kept["fmnist_2c2d.adam.json"], "the last cell finished before the signal")
  local _, err2, code = T.command(("cd %s && %s --threads 1 benchmark --size smoke --problems "
    .. "fmnist_logreg,fmnist_2c2d --out rep adam"):format(q(dir), q(exe)))
  assert(code == 0, err2)
  for f, text in pairs(kept) do
    assert(T.slurp(dir .. "/rep/cells/" .. f) == text, f .. " was redone")
    local p, o = f:match("^([^.]+)%.([^.]+)%.json$")
    assert(err2:find(o .. " on " .. p .. ": reused", 1, true), f .. " not reused: " .. err2)
  end
  assert(err2:find("adam on fmnist_2c2d: tuning", 1, true), err2)
  assert(T.slurp(dir .. "/rep/cells/fmnist_2c2d.adam.json"), "the rerun did not finish the interrupted cell")
  os.execute("rm -rf " .. q(dir))
end)

-- --jobs 2: the trials as worker processes (the sweep machinery) give the
-- numbers of the run in this process with the workers' thread count, bit
-- for bit, for quadratic_deep (its generated data rebuilt from its recipe
-- in each worker) and kjv_char (text windows, residual blocks written into
-- the trials); no worker is left.
T.test("jobs_2_runs_trials_as_processes_with_the_same_numbers", function()
  local dir = T.tmpdir()
  local problems = { "quadratic_deep", "kjv_char" }
  local args = "benchmark --size smoke --problems " .. table.concat(problems, ",")
  -- a worker's threads (lua/sweep.lua): sums split over other thread counts round differently
  local threads = math.max(1, T.gd._util.cores() // 2)
  local _, err, code = T.command(("cd %s && %s --threads %d %s --out ser adam"):format(q(dir), q(exe), threads, args))
  assert(code == 0, err)
  local _, perr, pcode = T.command(("cd %s && %s %s --jobs 2 --out par adam"):format(q(dir), q(exe), args))
  assert(pcode == 0, perr)
  assert(not perr:find("runs in this process", 1, true), perr)
  -- no process of the sweep is left: none names a file under dir
  for pid in T.sh("ls /proc"):gmatch("%d+") do
    local cmd = T.slurp("/proc/" .. pid .. "/cmdline")
    assert(not (cmd and cmd:find(dir, 1, true) and cmd:find("trial", 1, true)), "worker " .. pid .. " left behind")
  end
  -- every cell went through a sweep
  local sweeps = T.sh("cd " .. q(dir) .. " && ls par/sweeps")
  for _, p in ipairs(problems) do
    for _, o in ipairs({ "sgd", "momentum", "adam" }) do
      assert(sweeps:find(p .. "." .. o, 1, true), sweeps)
      local done = T.sh(("cd %s && ls par/sweeps/%s.%s/*/DONE | wc -l"):format(q(dir), p, o))
      assert(tonumber(done) == 3 + 2, p .. "." .. o .. ": " .. done .. " trials done, expected 3 tuning + 2 seeds")
    end
  end
  local a = T.json_decode(T.slurp(dir .. "/ser/results.json"))
  local b = T.json_decode(T.slurp(dir .. "/par/results.json"))
  assert(#a.cells == 6 and #b.cells == 6)
  for i, ca in ipairs(a.cells) do
    local cb = b.cells[i]
    local what = ca.problem .. " x " .. ca.optimizer
    assert(ca.problem == cb.problem and ca.optimizer == cb.optimizer, what)
    assert(ca.lr == cb.lr, what .. ": lr " .. tostring(ca.lr) .. " vs " .. tostring(cb.lr))
    for j, t in ipairs(ca.tuning) do   -- judged on the same metric
      assert(t.value == cb.tuning[j].value and t.objective == cb.tuning[j].objective, what .. ": tuning " .. j)
    end
    assert(#ca.runs == 2 and #cb.runs == 2, what)
    for j, r in ipairs(ca.runs) do
      assert(r.seed == cb.runs[j].seed, what)
      for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy" }) do
        assert(r.metrics[k] == cb.runs[j].metrics[k], string.format("%s, seed %d: %s %s vs %s", what, r.seed, k,
          tostring(r.metrics[k]), tostring(cb.runs[j].metrics[k])))
      end
    end
    assert(ca.performance.mean == cb.performance.mean, what)
  end
  os.execute("rm -rf " .. q(dir))
end)

T.run()
