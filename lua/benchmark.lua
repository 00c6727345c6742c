-- lua/benchmark.lua: gradus benchmark and gd.benchmark (DESIGN §12).
--
-- Each optimizer meets each problem by the DeepOBS protocol: its lr tuned
-- on a log grid against the validation metric with tuning seeds of its own
-- (gd.compare's tune: one implementation for both), the best lr rerun with
-- fresh evaluation seeds on the test set; then performance (final test
-- metric, mean ± 95 % CI), speed (first epoch and seconds at which the
-- problem's target is reached), tuneability (metric against lr) and
-- AlgoPerf's performance profiles and score (lua/profile.lua).
--
-- A (problem, optimizer) pair is a cell. A finished cell is saved under
-- OUT/cells/ with the key of everything that decides it (gradus version,
-- problem text hash, protocol, size, threads, BLAS, the optimizer and its
-- plugin's SHA-256); a rerun reuses a cell whose key matches, so the
-- baselines SGD, momentum and Adam run once, and an interrupted benchmark
-- redoes only the cells it had not finished.
local compare = require "gradus.compare"
local stats = require "gradus.stats"
local json = require "gradus.json"
local plots = require "gradus.plots"
local page = require "gradus.page"
local profile = require "gradus.profile"

local M = {}

M.shipped = { "quadratic_deep", "fmnist_logreg", "fmnist_mlp", "fmnist_2c2d", "fmnist_resnet", "kjv_char" }
M.baselines = { "sgd", "momentum", "adam" }

-- Tuning seeds are their own: 1001.. never meets an evaluation seed 1..N
-- (gd.compare refuses one that does).
M.tuning_seeds = { 1001 }

function M.protocol(size, seeds, grid)
  local p
  if size == "smoke" then p = { lo = 1e-3, hi = 1e-1, n = 3, seeds = 2 }
  elseif size == "small" then p = { lo = 1e-5, hi = 1e2, n = 13, seeds = 3 }
  elseif size == "full" then p = { lo = 1e-5, hi = 1e2, n = 36, seeds = 10 }
  else error(string.format("benchmark: size must be smoke, small or full, got '%s'", tostring(size)), 0) end
  if grid then p.lo, p.hi, p.n = grid.lo, grid.hi, grid.n end
  if seeds then p.seeds = seeds end
  p.grid = stats.logspace(p.lo, p.hi, p.n)
  p.tuning_seeds = M.tuning_seeds
  p.size = size
  return p
end

-- Fashion-MNIST by size: a few hundred samples at smoke, a fifth of the
-- training set at small, all of it at full (validation split off the
-- training set with seed 1; test from the test split).
local fm_sizes = { smoke = { 256, 64, 64 }, small = { 12000, 2000, 2000 }, full = { 60000, 10000, 10000 } }
local fm_cache = {}
-- image = true: samples shaped [1, 28, 28] for convolutions.
function M.fashion_mnist(size, image)
  local tag = size .. (image and "/image" or "")
  if fm_cache[tag] then return table.unpack(fm_cache[tag]) end
  local gd = require "gradus"
  local n = fm_sizes[size] or error("fashion_mnist: unknown size " .. tostring(size), 0)
  local shape = image and { 1, 28, 28 } or nil
  local all = gd.data.fashion_mnist{ split = "train", limit = n[1], shape = shape }
  local train, val = all:split{ validation = n[2], seed = 1 }
  local test = gd.data.fashion_mnist{ split = "test", limit = n[3], shape = shape }
  fm_cache[tag] = { train, val, test }
  return train, val, test
end

-- ------------------------------------------------------------------------
-- Problems

local function fnv64(s)
  local h = -3750763034362895579
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return string.format("%016x", h)
end
M.fnv64 = fnv64

-- What a problem's metric reads from a run: the field of its final metrics
-- and of each epoch, whether higher is better, and a scale (bits per
-- character: the cross-entropy in nats / ln 2).
local metrics = {
  accuracy = { field = "val_accuracy", higher = true, scale = 1, format = "%.4f" },
  loss = { field = "val_loss", higher = false, scale = 1, format = "%.4g" },
  bpc = { field = "val_loss", higher = false, scale = 1 / math.log(2), format = "%.4f" },
}
M.metrics = metrics

-- why a name is refused (compare.bad_name)
local why_names = "a name goes into results.json, the cells' files and the pages"

local function check_problem(gd, p, where)
  if type(p) ~= "table" then error(where .. ": a problem file must return a table { name, model, data, ... }", 0) end
  gd._options("benchmark: problem", p, where)   -- the table of lua/lapi.c
  local bad = compare.bad_name(p.name)
  if bad then error(string.format("%s: 'name' %s: %s", where, bad, why_names), 0) end
  for _, s in ipairs({ "smoke", "small", "full" }) do
    if not math.tointeger(p.epochs[s]) or p.epochs[s] < 1 then
      error(string.format("%s: epochs.%s must be an integer >= 1", where, s), 0)
    end
  end
  return p
end

-- A shipped name or a path to the user's file; returns the problem and the
-- hash of its text.
function M.load_problem(gd, what)
  local text, chunkname
  if what:find("[/\\]") or what:find("%.lua$") then
    local f, err = io.open(what, "rb")
    if not f then error("benchmark: cannot read problem file " .. tostring(err), 0) end
    text = f:read("a")
    f:close()
    chunkname = "@" .. what
  else
    text = gd._util.embedded("gradus.benchmarks." .. what)
    if not text then
      error(string.format("benchmark: unknown problem '%s' (shipped: %s; or give a path to a .lua file)",
        what, table.concat(M.shipped, ", ")), 0)
    end
    chunkname = "=[gradus] benchmarks/" .. what .. ".lua"
  end
  local chunk, err = load(text, chunkname, "t")
  if not chunk then error("benchmark: " .. err, 0) end
  local ok, p = pcall(chunk)
  if not ok then error("benchmark: problem " .. what .. ": " .. tostring(p), 0) end
  return check_problem(gd, p, "benchmark: problem " .. what), fnv64(text)
end

-- ------------------------------------------------------------------------
-- Optimizers: "adam", "lion{beta1=0.95}" (options read as data, never run)
-- or "path/to/lion.so" (loaded; every optimizer it registers)

local function parse_value(s)
  if s == "true" then return true elseif s == "false" then return false end
  local n = tonumber(s)
  if n and s:match("^[%d%.eE+-]+$") then return math.tointeger(n) or n end
  local q = s:match('^"([^"]*)"$') or s:match("^'([^']*)'$")
  if q then return q end
  return nil
end

function M.parse_optimizer(s)
  local name, body = s:match("^([%a_][%w_]*)%s*(%b{})%s*$")
  if not name then
    name = s:match("^([%a_][%w_]*)$")
    if not name then
      error(string.format("benchmark: optimizer '%s' is not a name, name{key=value,...} or a .so path", s), 0)
    end
    return { name = name, options = {}, label = name }
  end
  local opts = {}
  local inner = body:sub(2, -2)
  for item in (inner .. ","):gmatch("([^,]*),") do
    if item:match("%S") then
      local k, v = item:match("^%s*([%a_][%w_]*)%s*=%s*(.-)%s*$")
      local val = v and parse_value(v)
      if val == nil then
        error(string.format("benchmark: optimizer '%s': '%s' is not key=value with a number, true, false "
          .. "or a quoted string", s, item), 0)
      end
      opts[k] = val
    end
  end
  return { name = name, options = opts, label = s:gsub("%s+", "") }
end

-- OPTIMIZER arguments to optimizer entries; .so files are loaded here.
function M.optimizers(gd, args)
  local out = {}
  for _, a in ipairs(args) do
    if a:match("%.so$") then
      local before = {}
      for _, p in ipairs(gd.plugins.list("optimizer")) do before[p.name] = true end
      gd.plugins.load(a)
      local added = 0
      for _, p in ipairs(gd.plugins.list("optimizer")) do
        if not before[p.name] then
          out[#out + 1] = { name = p.name, options = {}, label = p.name, so = a }
          added = added + 1
        end
      end
      if added == 0 then error("benchmark: " .. a .. " registers no new optimizer", 0) end
    else
      out[#out + 1] = M.parse_optimizer(a)
    end
  end
  for _, o in ipairs(out) do
    if not gd.optim[o.name] then error(string.format("benchmark: unknown optimizer '%s'", o.name), 0) end
    o.spec = gd.optim[o.name](o.options)   -- checks the options now
    -- a quoted option value is part of the label
    local bad = compare.bad_name(o.label)
    if bad then
      error(("benchmark: optimizer %s{...}: its label %s: %s"):format(o.name, bad, why_names), 0)
    end
  end
  return out
end

-- ------------------------------------------------------------------------
-- Cells

local function key_fields(gd, prob_hash, pname, opt, proto, size)
  local grid = {}
  for i, lr in ipairs(proto.grid) do grid[i] = string.format("%a", lr) end
  local opts = {}
  for k, v in pairs(opt.options) do opts[#opts + 1] = k .. "=" .. tostring(v) end
  table.sort(opts)
  return {
    -- the protocol's code is part of what decides a cell
    gradus = tostring(gd.version) .. "+" .. fnv64(gd._util.embedded("gradus.benchmark") or ""), problem = pname .. "@" .. prob_hash,
    protocol = string.format("grid %s; seeds %d; tuning seeds %s", table.concat(grid, ","), proto.seeds,
      table.concat(proto.tuning_seeds, ",")),
    size = size, threads = tostring(gd._util.threads()), blas = tostring(gd._util.blas()),
    optimizer = opt.name .. "{" .. table.concat(opts, ",") .. "}"
      .. (opt.so and (" " .. tostring(gd._util.sha256(opt.so))) or ""),
  }
end

local key_order = { "gradus", "problem", "protocol", "size", "threads", "blas", "optimizer" }

local function key_text(k)
  local parts = {}
  for _, f in ipairs(key_order) do parts[#parts + 1] = f .. "=" .. k[f] end
  return table.concat(parts, "\n")
end

local function slug(s) return (s:gsub("[^%w_.-]+", "_")) end

local function cell_path(dir, pname, label) return dir .. "/cells/" .. slug(pname) .. "." .. slug(label) .. ".json" end

-- A cached cell as data (a regular file, capped, nesting bounded), or nil:
-- a cell that cannot be read is run again.
local function read_json(gd, path)
  local text = gd._util.read_file(path, 64 << 20)
  if not text then return nil end
  local ok, doc = pcall(json.decode, text, nil, 64)
  return ok and type(doc) == "table" and doc or nil
end

local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("benchmark: cannot write " .. tostring(err), 0) end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    error("benchmark: cannot write " .. path .. ": " .. tostring(werr or cerr), 0)
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then error("benchmark: " .. tostring(rerr), 0) end
end

-- Why a saved cell does not fit: the first field of its key that differs.
local function mismatch(saved, key)
  for _, f in ipairs(key_order) do
    if saved[f] ~= key[f] then
      return string.format("%s changed (%s -> %s)", f, tostring(saved[f]), tostring(key[f]))
    end
  end
end

-- Speed: the first epoch at which the mean test metric over the seeds
-- reaches the target, and the mean seconds to the end of that epoch.
local function speed(runs, metric, target)
  local m = metrics[metric]
  local n = math.huge
  for _, r in ipairs(runs) do
    if r.status ~= "ok" then return nil end
    n = math.min(n, #((r.history or {}).epochs or {}))
  end
  if n == math.huge then return nil end
  local clock = {}
  for e = 1, n do
    local sum, secs = 0, 0
    for j, r in ipairs(runs) do
      local ep = r.history.epochs[e]
      sum = sum + (ep[m.field] or 0 / 0) * m.scale
      clock[j] = (clock[j] or 0) + (ep.seconds or 0)
      secs = secs + clock[j]
    end
    local mean = sum / #runs
    if stats.finite(mean) and ((m.higher and mean >= target) or (not m.higher and mean <= target)) then
      return { epoch = e, seconds = secs / #runs }
    end
  end
  return nil
end

-- The final test metric of each finished evaluation run.
local function performance(runs, metric)
  local m = metrics[metric]
  local xs = {}
  for _, r in ipairs(runs) do
    if r.status == "ok" and r.metrics and stats.finite(r.metrics[m.field]) then
      xs[#xs + 1] = r.metrics[m.field] * m.scale
    end
  end
  local mean, std, ci = stats.describe(xs)
  return { mean = mean, std = std, ci95 = ci, n = #xs, of = #runs }
end

-- A data set a trial file can carry: one with a recipe (gd.data.rebuild).
local function has_recipe(ds)
  local ok, r = pcall(function() return ds:recipe() end)
  return ok and r ~= nil
end

-- The one place trials are executed: gd.compare's own path, serial in this
-- process, or with run = { backend, jobs, ... } the sweep machinery
-- (lua/sweep.lua), its directory OUT/sweeps/<problem>.<optimizer>; a sweep
-- resumes the trials an interrupted cell had finished. A problem whose data
-- a trial file cannot hold (no recipe: gd.data.tensor) runs here, said once.
local noted = {}
local function execute(gd, spec, run, where, datasets)
  if run then
    for _, ds in ipairs(datasets) do
      if not has_recipe(ds) then
        if not noted[where.problem] then
          noted[where.problem] = true
          io.stderr:write(string.format("benchmark: %s runs in this process: its data has no recipe a "
            .. "trial file could hold (built from Lua values)\n", where.problem))
        end
        run = nil
        break
      end
    end
  end
  if run then
    local r = {}
    for k, v in pairs(run) do r[k] = v end
    r.dir, r.name = where.out .. "/sweeps", slug(where.problem) .. "." .. slug(where.optimizer)
    run = r
  end
  spec.run = run
  return gd.compare(spec)
end

local function run_cell(gd, prob, opt, proto, size, run, log, out)
  local train, val, test = prob.data(size)
  -- tuned on the metric's field: bpc is val_loss scaled, the same choice
  local metric = metrics[prob.metric].field
  local model = prob.model
  if type(model) == "function" then model = model(size) end
  local res = execute(gd, {
    base = { model = model, loss = prob.loss, data = train, validation = test,
             epochs = prob.epochs[size], batch = prob.batch, seed = 1, progress = false },
    variants = { { name = opt.label, optimizer = opt.spec,
                   tune = { lr = proto.grid, seeds = proto.tuning_seeds, validation = val, metric = metric } } },
    repeats = proto.seeds, progress = false,
  }, run, { out = out, problem = prob.name, optimizer = opt.label }, { train, val, test })
  local v = res.variants[1]
  local runs = {}
  for j, r in ipairs(v.runs) do
    runs[j] = { seed = r.seed, status = r.status, metrics = r.metrics, history = r.history, seconds = r.seconds,
                diverged = r.diverged }
  end
  local cell = { problem = prob.name, optimizer = opt.label, lr = v.lr, tuning = v.tuning,
    tune_seeds = v.tune_seeds, tune_metric = v.tune_metric, tune_warning = v.tune_warning,
    seeds = res.seeds, runs = runs, metric = prob.metric, target = prob.target }
  cell.performance = performance(runs, prob.metric)
  cell.speed = speed(runs, prob.metric, prob.target)
  if log and v.tune_warning then log("benchmark: " .. v.tune_warning) end
  return cell
end

local signal_names = { [2] = "SIGINT", [15] = "SIGTERM" }

-- A signal stops a benchmark between or inside cells: the same error value
-- (gradus exits 128 + signal), its message saying how to resume.
local function interrupted(err, out, kept)
  if type(err) ~= "table" or not err.interrupted then return err end
  local e = setmetatable({}, getmetatable(err))
  for k, v in pairs(err) do e[k] = v end
  e.message = string.format("%s in gradus benchmark; the finished cells are kept in %s/cells: run the same "
    .. "command again to resume (%s)", tostring(err.message):match("^(interrupted by %S+)") or "interrupted", out,
    kept and "the signal came as a cell finished: it is kept too" or "the cell that was running starts again")
  return e
end

-- ------------------------------------------------------------------------
-- gd.benchmark

local function check_spec(gd, spec)
  if type(spec) ~= "table" then error("gd.benchmark: expected a table { optimizers = { ... }, ... }", 0) end
  spec = gd._options("gd.benchmark", spec)   -- the table of lua/lapi.c
  if #spec.optimizers == 0 then
    error("gd.benchmark: 'optimizers' must be a non-empty list of names, \"name{...}\" or .so paths", 0)
  end
  if spec.out == "" then error("gd.benchmark: 'out' must be a directory path", 0) end
  if spec.run ~= nil then
    -- the rest is checked by the sweep (lua/sweep.lua); where it goes is the benchmark's
    if spec.run.dir ~= nil or spec.run.name ~= nil then
      error("gd.benchmark: run.dir and run.name are the benchmark's: its sweeps go to OUT/sweeps", 0)
    end
    -- the two a typo most likely hits, before anything is written
    local b, j = spec.run.backend, spec.run.jobs
    if b ~= nil and b ~= "local" and b ~= "slurm" then
      error("gd.benchmark: run.backend must be \"local\" or \"slurm\", got " .. tostring(b), 0)
    end
    if j ~= nil and (not math.tointeger(j) or j < 1) then
      error("gd.benchmark: run.jobs must be an integer >= 1, got " .. tostring(j), 0)
    end
  end
  return spec
end

function M.benchmark(gd, spec)
  spec = check_spec(gd, spec)
  local size = spec.size or "small"
  local proto = M.protocol(size, spec.seeds and math.tointeger(spec.seeds), spec.grid)
  local log = spec.progress ~= false and function(s) io.stderr:write(s, "\n") end or function() end
  -- the baselines first, then the user's (a name given twice runs once)
  local args, seen = {}, {}
  for _, b in ipairs(M.baselines) do args[#args + 1] = b; seen[b] = true end
  for _, o in ipairs(spec.optimizers) do
    if type(o) ~= "string" then error("gd.benchmark: each optimizer must be a string", 0) end
    if not seen[o] then args[#args + 1] = o; seen[o] = true end
  end
  local opts = M.optimizers(gd, args)
  -- names become file names: two that would share one are refused
  local files = {}
  for _, o in ipairs(opts) do
    local f = slug(o.label)
    if files[f] then
      error(string.format("benchmark: optimizers '%s' and '%s' would share the file name '%s': give "
        .. "names that differ in letters or digits", files[f], o.label, f), 0)
    end
    files[f] = o.label
  end
  local names = spec.problems or M.shipped
  local probs, pfiles = {}, {}
  for i, n in ipairs(names) do
    local p, h = M.load_problem(gd, n)
    local f = slug(p.name)
    if pfiles[f] then
      error(string.format("benchmark: problems '%s' and '%s' would share the file name '%s'", pfiles[f],
        p.name, f), 0)
    end
    pfiles[f] = p.name
    probs[i] = { p = p, hash = h, arg = n }
  end
  local ok, err = gd._util.mkdir_p(spec.out .. "/cells")
  if not ok then error("benchmark: cannot make " .. spec.out .. "/cells: " .. tostring(err), 0) end
  local cells = {}
  for _, pr in ipairs(probs) do
    cells[pr.p.name] = {}
    for _, o in ipairs(opts) do
      local key = key_fields(gd, pr.hash, pr.p.name, o, proto, size)
      local path = cell_path(spec.out, pr.p.name, o.label)
      local saved = read_json(gd, path)
      local cell
      if saved and saved.key and key_text(saved.key) == key_text(key) then
        log(string.format("benchmark: %s on %s: reused (%s)", o.label, pr.p.name, path))
        cell = saved.cell
      else
        if saved and saved.key then
          -- said even when quiet: a cache not used costs time the user should know of
          io.stderr:write(string.format("benchmark: %s on %s: run again, %s\n", o.label, pr.p.name,
            mismatch(saved.key, key)))
        end
        log(string.format("benchmark: %s on %s: tuning %d lrs, then %d seeds", o.label, pr.p.name, #proto.grid,
          proto.seeds))
        local t0 = os.time()
        -- a signal while the cell loads its data waits for its next training (which
        -- then stops with the message below), one after its last, for the cell to be kept
        local ok, res, sig = gd._util.hold_interrupts(function()
          local c = run_cell(gd, pr.p, o, proto, size, spec.run, log, spec.out)
          write_atomic(path, json.encode({ key = key, cell = c }) .. "\n")
          return c
        end)
        if not ok then error(interrupted(res, spec.out), 0) end
        cell = res
        log(string.format("benchmark: %s on %s: done in %d s", o.label, pr.p.name, os.time() - t0))
        if sig then
          error(interrupted({ interrupted = true, signal = sig, message = "interrupted by "
            .. (signal_names[sig] or ("signal " .. sig)) }, spec.out, true), 0)
        end
      end
      cells[pr.p.name][o.label] = cell
    end
  end
  local doc = M.assemble(gd, probs, opts, cells, proto, size)
  M.write(gd, doc, spec.out, spec.plots ~= false)
  return doc
end

-- results.json's document: problems, optimizers, cells, profiles, scores.
function M.assemble(gd, probs, opts, cells, proto, size)
  local doc = { kind = "gradus benchmark", gradus_version = gd.version, size = size,
    protocol = { grid = proto.grid, seeds = proto.seeds, tuning_seeds = proto.tuning_seeds },
    threads = gd._util.threads(), blas = gd._util.blas(), date = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    problems = {}, optimizers = {}, cells = {} }
  for i, pr in ipairs(probs) do
    doc.problems[i] = { name = pr.p.name, source = pr.arg, hash = pr.hash, metric = pr.p.metric,
                        target = pr.p.target, epochs = pr.p.epochs[size], batch = pr.p.batch }
  end
  for i, o in ipairs(opts) do
    local baseline = false
    for _, b in ipairs(M.baselines) do if b == o.label then baseline = true end end
    doc.optimizers[i] = { name = o.label, baseline = baseline, plugin = o.so }
  end
  for _, pr in ipairs(probs) do
    for _, o in ipairs(opts) do doc.cells[#doc.cells + 1] = cells[pr.p.name][o.label] end
  end
  M.score(doc)
  return doc
end

local function cell_of(doc, p, o)
  for _, c in ipairs(doc.cells) do
    if c.problem == p and c.optimizer == o then return c end
  end
end
M.cell_of = cell_of

-- Profiles and scores from the cells' times to target.
function M.score(doc)
  local np = #doc.problems
  local times = {}
  for oi, o in ipairs(doc.optimizers) do
    times[oi] = {}
    for pi, p in ipairs(doc.problems) do
      local c = cell_of(doc, p.name, o.name)
      times[oi][pi] = c and c.speed and c.speed.seconds or math.huge
    end
  end
  local ratios = profile.ratios(times, np)
  for oi, o in ipairs(doc.optimizers) do
    o.ratios = {}
    for pi = 1, np do o.ratios[pi] = ratios[oi][pi] < math.huge and ratios[oi][pi] or nil end
    o.score = profile.score(ratios[oi], np)
    o.profile = profile.steps(ratios[oi], np)
  end
end

-- ------------------------------------------------------------------------
-- Output: index.html, results.json, leaderboard.csv, per-problem pages

local function fmt_metric(perf, metric)
  if not perf or not stats.finite(perf.mean) then return "-" end
  local f = metrics[metric] and metrics[metric].format or "%.4g"
  local s = string.format(f, perf.mean)
  if stats.finite(perf.ci95) then s = s .. " ± " .. string.format(f, perf.ci95) end
  if perf.n < perf.of then s = s .. string.format(" (%d of %d runs)", perf.n, perf.of) end
  return s
end

local function fmt_speed(sp)
  if not sp then return "not reached" end
  return string.format("epoch %d, %.3g s", sp.epoch, sp.seconds)
end

local function csv(fields)
  local out = {}
  for i, f in ipairs(fields) do
    f = tostring(f == nil and "" or f)
    if f:find('[,"\n\r]') or f:match("^[=+@-]") then f = '"' .. f:gsub('"', '""') .. '"' end
    out[i] = f
  end
  return table.concat(out, ",")
end

local function leaderboard_csv(doc)
  local lines = { "problem,optimizer,metric,mean,ci95,n,lr,target,epoch_to_target,seconds_to_target,score" }
  for _, c in ipairs(doc.cells) do
    local o
    for _, x in ipairs(doc.optimizers) do if x.name == c.optimizer then o = x end end
    lines[#lines + 1] = csv({ c.problem, c.optimizer, c.metric, c.performance.mean, c.performance.ci95,
      c.performance.n, c.lr, c.target, c.speed and c.speed.epoch, c.speed and c.speed.seconds, o and o.score })
  end
  return table.concat(lines, "\n") .. "\n"
end

-- A metric JSON could not hold (NaN: a loss-only problem's accuracy) is
-- null there; gd.compare's summary wants it as NaN again.
local function nan_metrics(runs)
  for _, r in ipairs(runs) do
    r.metrics = r.metrics or {}
    for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy", "seconds" }) do
      if r.metrics[k] == nil then r.metrics[k] = 0 / 0 end
    end
  end
end

-- A cell as gd.compare's result, for the per-problem report (gd.report).
local function problem_results(doc, p)
  local variants = {}
  for _, o in ipairs(doc.optimizers) do
    local c = cell_of(doc, p.name, o.name)
    if c then
      nan_metrics(c.runs)
      variants[#variants + 1] = { name = o.name, lr = c.lr, tuning = c.tuning, tune_seeds = c.tune_seeds,
        tune_metric = c.tune_metric, tune_warning = c.tune_warning, runs = c.runs,
        config = { optimizer = o.name, lr = c.lr } }
    end
  end
  local seeds = variants[1] and (cell_of(doc, p.name, variants[1].name).seeds) or {}
  local res = { variants = variants, seeds = seeds, repeats = #seeds }
  res.summary = compare.summarize(variants, variants[1])
  return res
end

local function profile_plot(doc)
  local blocks, elems = {}, {}
  for i, o in ipairs(doc.optimizers) do
    local rows = {}
    for _, pt in ipairs(o.profile or {}) do rows[#rows + 1] = string.format("%.9g %.9g", pt[1], pt[2]) end
    if #rows > 0 then
      blocks[#blocks + 1] = plots.datablock("prof" .. i, rows)
      elems[#elems + 1] = { v = i, key = o.name, cmd = string.format("$prof%d using 1:2 with steps %s", i, plots.style(i)) }
    end
  end
  -- constant text, single-quoted as every string gnuplot reads (plots.quote)
  local head = "set title 'performance profiles (time to target)'\nset xlabel 'tau (time / fastest)'\n"
    .. "set ylabel 'share of problems'\nset xrange [1:4]\nset yrange [-0.02:1.02]\nset grid\n"
  return { name = "profiles", blocks = table.concat(blocks), panels = { { head = head, elems = elems, ys = { 0, 1 } } } }
end

local function figure_svg(p)
  local report = require "gradus.report"
  if not report.gnuplot_available() then return nil end
  local drawn = report.draw({ { terminal = "svg noenhanced size 900,500 dynamic font 'sans,11'",
                                body = plots.script(p, "linear") } })
  return drawn[1] and page.inline_svg(drawn[1], p, "prof")
end

local function index_html(doc, svg)
  local h = page.escape
  local function name(s) return "<bdi>" .. h(s) .. "</bdi>" end
  local out = { "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>gradus benchmark</title>\n<style>\nbody { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; "
    .. "max-width: 1100px; padding: 0 1em; color: #222; } table { border-collapse: collapse; } th, td { padding: "
    .. "0.25em 0.7em; text-align: left; border-bottom: 1px solid #eee; } td.num { text-align: right; "
    .. "font-variant-numeric: tabular-nums; } .caution { background: #fff4d6; padding: 0.4em 0.8em; } "
    .. "figure svg { width: 100%; height: auto; max-width: 900px; } .scroll { overflow-x: auto; }\n</style></head>\n<body>\n",
    "<h1>gradus benchmark</h1>\n" }
  out[#out + 1] = string.format("<p class=\"lead\">size %s; lr tuned on %d points from %.3g to %.3g against the "
    .. "validation metric with tuning seed%s %s; the best lr rerun with %d evaluation seeds (%s) on the test set. "
    .. "gradus %s, %s threads, %s.</p>\n", h(doc.size), #doc.protocol.grid, doc.protocol.grid[1],
    doc.protocol.grid[#doc.protocol.grid], #doc.protocol.tuning_seeds == 1 and "" or "s",
    h(table.concat(doc.protocol.tuning_seeds, ", ")), doc.protocol.seeds, h(tostring(doc.protocol.seeds) == "1"
      and "1" or ("1.." .. doc.protocol.seeds)), h(doc.gradus_version), h(doc.threads), h(doc.blas))
  out[#out + 1] = "<h2>Leaderboard</h2>\n<div class=\"scroll\"><table id=\"leaderboard\"><thead><tr><th>optimizer</th>"
    .. "<th>score</th>"
  for _, p in ipairs(doc.problems) do
    out[#out + 1] = "<th>" .. name(p.name) .. "<br>test " .. h(p.metric) .. " (lr)</th><th>time to "
      .. h((metrics[p.metric] or {}).higher and "≥ " or "≤ ") .. h(string.format("%g", p.target)) .. "</th>"
  end
  out[#out + 1] = "</tr></thead><tbody>\n"
  local order = {}
  for i in ipairs(doc.optimizers) do order[i] = i end
  table.sort(order, function(a, b)
    local sa, sb = doc.optimizers[a].score, doc.optimizers[b].score
    if sa ~= sb then return sa > sb end
    return a < b
  end)
  for _, oi in ipairs(order) do
    local o = doc.optimizers[oi]
    out[#out + 1] = "<tr><td>" .. name(o.name) .. (o.baseline and " (baseline)" or "") .. "</td><td class=\"num\">"
      .. string.format("%.3f", o.score) .. "</td>"
    for _, p in ipairs(doc.problems) do
      local c = cell_of(doc, p.name, o.name)
      out[#out + 1] = "<td class=\"num\">" .. h(fmt_metric(c and c.performance, p.metric))
        .. (c and c.lr and h(string.format(" (%.3g)", c.lr)) or "") .. "</td><td class=\"num\">"
        .. h(fmt_speed(c and c.speed)) .. "</td>"
    end
    out[#out + 1] = "</tr>\n"
  end
  out[#out + 1] = "</tbody></table></div>\n<p class=\"note\">test metric: mean ± 95 % CI over the evaluation seeds "
    .. "(Student t); time to target: the first epoch at which the mean test metric reaches the problem's target, "
    .. "and the mean wall seconds to its end; score: AlgoPerf's ∫₁⁴ ρ(τ) dτ / 3 over the problems (a target not "
    .. "reached, or reached after more than 4× the fastest optimizer's time, counts as a miss).</p>\n"
  local warnings = {}
  for _, c in ipairs(doc.cells) do
    if c.tune_warning then warnings[#warnings + 1] = "<li>" .. h(c.problem .. ": " .. c.tune_warning) .. "</li>" end
  end
  if #warnings > 0 then
    out[#out + 1] = "<div class=\"caution\"><p>caution: the tuning's best lr lies at the edge of its grid:</p><ul>"
      .. table.concat(warnings) .. "</ul></div>\n"
  end
  out[#out + 1] = "<h2>Performance profiles</h2>\n"
  out[#out + 1] = svg and ("<figure id=\"plot-profiles\">" .. svg .. "</figure>\n")
    or "<p>no plot: gnuplot is not installed (Debian package gnuplot-nox)</p>\n"
  out[#out + 1] = "<h2>Problems</h2>\n<p>Each page holds the curves of train and test loss and accuracy with "
    .. "seed bands, the metric against lr of the tuning, and every run's figures.</p>\n<ul>\n"
  for _, p in ipairs(doc.problems) do
    out[#out + 1] = string.format("<li><a href=\"problems/%s/index.html\">%s</a>: %d epochs, batch %s, target "
      .. "%s %s</li>\n", h(slug(p.name)), name(p.name), p.epochs, h(p.batch), h(p.metric), h(string.format("%g", p.target)))
  end
  out[#out + 1] = "</ul>\n</body></html>\n"
  return table.concat(out)
end

function M.write(gd, doc, dir, with_plots)
  local report = require "gradus.report"
  write_atomic(dir .. "/results.json", json.encode(doc) .. "\n")
  write_atomic(dir .. "/leaderboard.csv", leaderboard_csv(doc))
  for _, p in ipairs(doc.problems) do
    local pdir = dir .. "/problems/" .. slug(p.name)
    gd._util.mkdir_p(pdir)
    -- gd.report's files without its table on stdout: the benchmark prints its own
    report.report_quiet(gd, problem_results(doc, p), { dir = pdir, plots = with_plots })
  end
  local svg = with_plots and figure_svg(profile_plot(doc)) or nil
  write_atomic(dir .. "/index.html", index_html(doc, svg))
  io.stdout:write(M.table(doc))
  io.stdout:write("benchmark: " .. dir .. "/index.html\n")
end

-- The leaderboard as text.
function M.table(doc)
  local lines = {}
  for _, o in ipairs(doc.optimizers) do
    local parts = { string.format("%-16s score %.3f", o.name, o.score) }
    for _, p in ipairs(doc.problems) do
      local c = cell_of(doc, p.name, o.name)
      parts[#parts + 1] = string.format("%s %s, %s", p.name, fmt_metric(c and c.performance, p.metric),
        fmt_speed(c and c.speed))
    end
    lines[#lines + 1] = table.concat(parts, " | ")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- gradus report DIR on a benchmark's directory: the pages again from results.json.
function M.rebuild(gd, dir, doc)
  M.score(doc)
  M.write(gd, doc, dir, true)
  return true
end

-- ------------------------------------------------------------------------
-- gradus benchmark [OPTIONS] OPTIMIZER...

M.usage = [[
usage: gradus benchmark [--problems LIST] [--size smoke|small|full] [--seeds N]
                        [--grid LO:HI:N] [--backend local|slurm] [--jobs N]
                        [--out DIR] OPTIMIZER...
  Each OPTIMIZER (a name, a name with options as in "lion{beta1=0.95}", or a
  plugin .so) and the baselines sgd, momentum and adam, on each problem: lr
  tuned on a log grid against the validation metric with tuning seeds of their
  own, the best lr rerun with fresh seeds; the report (index.html, results.json,
  leaderboard.csv) in DIR (default benchmark-out).
  --problems LIST  comma-separated shipped names or .lua paths
                   (default quadratic_deep,fmnist_logreg,fmnist_mlp,fmnist_2c2d,
                   fmnist_resnet,kjv_char)
  --size S         smoke (a few hundred samples, 1 epoch), small (default), full
  --seeds N        evaluation seeds (default 2 smoke, 3 small, 10 full)
  --grid LO:HI:N   the lr grid (default 1e-5:1e2:13 small, 1e-5:1e2:36 full)
  --backend B      local (default) or slurm: with slurm or --jobs N > 1 the
  --jobs N         trials run as N processes (the sweep machinery), in
                   DIR/sweeps
  --out DIR        the report directory (finished cells there are reused)
  gradus doc benchmark has the details.
]]

function M.cli(args)
  local gd = require "gradus"
  local spec = { optimizers = {}, out = "benchmark-out" }
  local backend, jobs
  local i = 1
  local function value(opt)
    i = i + 1
    if args[i] == nil then error(string.format("benchmark: %s needs a value (see gradus benchmark --help)", opt), 0) end
    return args[i]
  end
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then
      io.stdout:write(M.usage)
      return 0
    elseif a == "--problems" then
      spec.problems = {}
      for item in value(a):gmatch("[^,]+") do spec.problems[#spec.problems + 1] = item end
    elseif a == "--size" then spec.size = value(a)
    elseif a == "--seeds" then
      local v = value(a)
      spec.seeds = math.tointeger(tonumber(v))
      if not spec.seeds or spec.seeds < 1 then error("benchmark: --seeds needs an integer >= 1, got '" .. v .. "'", 0) end
    elseif a == "--grid" then
      local v = value(a)
      local lo, hi, n = v:match("^([^:]+):([^:]+):([^:]+)$")
      lo, hi, n = tonumber(lo), tonumber(hi), math.tointeger(tonumber(n))
      if not (lo and hi and n and lo > 0 and hi > lo and n >= 1) then
        error("benchmark: --grid needs LO:HI:N with 0 < LO < HI and N >= 1, got '" .. v .. "'", 0)
      end
      spec.grid = { lo = lo, hi = hi, n = n }
    elseif a == "--backend" then
      backend = value(a)
      if backend ~= "local" and backend ~= "slurm" then
        error("benchmark: --backend must be local or slurm, got '" .. backend .. "'", 0)
      end
    elseif a == "--jobs" then
      local v = value(a)
      jobs = math.tointeger(tonumber(v))
      if not jobs or jobs < 1 then error("benchmark: --jobs needs an integer >= 1, got '" .. v .. "'", 0) end
    elseif a == "--out" then spec.out = value(a)
    elseif a:sub(1, 1) == "-" then
      error(string.format("benchmark: unknown option '%s' (see gradus benchmark --help)", a), 0)
    else
      spec.optimizers[#spec.optimizers + 1] = a
    end
    i = i + 1
  end
  if #spec.optimizers == 0 then
    error("benchmark: name at least one optimizer: gradus benchmark [OPTIONS] OPTIMIZER... (see --help)", 0)
  end
  if backend == "slurm" or (jobs and jobs > 1) then
    -- trials as processes: the sweep machinery (lua/sweep.lua)
    spec.run = { backend = backend or "local", jobs = jobs }
  end
  M.benchmark(gd, spec)
  return 0
end

return M
