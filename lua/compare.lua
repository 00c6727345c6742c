-- lua/compare.lua: gd.compare, variants x seeds with common random numbers.
--
-- Every variant runs with seeds base.seed .. base.seed + repeats - 1. A seed
-- fixes the initial weights (streams keyed by layer position) and the batch
-- order, so with equal model shapes every variant starts from the same
-- weights and sees the same batches: the differences are the variants' own.
local stats = require "gradus.stats"

local M = {}

-- Final metrics of a run; the comparison metric is val_loss when there is a
-- validation set, else train_loss (lower is better for both).
local metric_names = { "train_loss", "val_loss", "val_accuracy", "seconds" }

local function final_metrics(run)
  local ep = run.history and run.history.epochs or {}
  -- early stopping with restore_best returns the best epoch's model: its
  -- metrics are that epoch's, not the last one's
  local last = (run.restored_best and ep[run.best_epoch]) or ep[#ep] or {}
  local nan = 0 / 0
  return {
    train_loss = last.train_loss or nan,
    val_loss = last.val_loss or nan,
    val_accuracy = last.val_accuracy or nan,
    seconds = run.seconds or nan,
  }
end

local function shallow_copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The spec with base lr `lr`: a composite's inner lr and every group's
-- scale with it, as under a schedule (core/spec.c, gd_spec_with_lr).
local function with_lr(gd, spec, lr)
  return gd._optim_with_lr(spec, lr)
end

-- gd.fork variants: runs from one checkpoint's state (lua/resume.lua).
local function is_fork(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "gradus.fork"
end

-- What a fork takes from base: the options that do not name a model,
-- data or anything else a checkpoint already fixes.
local fork_base_keys = { "epochs", "progress", "monitor", "on_epoch", "on_step" }

local function merge(base, variant)
  local cfg = shallow_copy(base)
  for k, v in pairs(variant) do
    if k ~= "name" and k ~= "tune" then cfg[k] = v end
  end
  return cfg
end

-- Each run of a comparison writes its own checkpoints: "out/run.ckpt"
-- becomes "out/run-adam-seed2.ckpt".
local function run_checkpoint(ck, name, seed)
  if type(ck) ~= "table" or type(ck.path) ~= "string" then return ck end
  local c = shallow_copy(ck)
  local tag = name:gsub("[^%w_.-]+", "_") .. "-seed" .. seed
  local stem, ext = ck.path:match("^(.-)(%.[^./]*)$")
  c.path = stem and (stem .. "-" .. tag .. ext) or (ck.path .. "-" .. tag)
  return c
end

-- gd.train's checks of its inputs and output paths for every run, before
-- the first: a bad path or a validation set that does not fit fails the
-- comparison at its start, not after hours of others' runs. Two runs whose
-- names map to one checkpoint file are refused too.
local function check_runs(gd, base, variants, seeds)
  local owner = {}
  for i, v in ipairs(variants) do
    if type(v) == "table" then
      local name = v.name or ("variant" .. i)
      local cfg = is_fork(v) and { checkpoint = v.overrides.checkpoint } or merge(base, v)
      for _, seed in ipairs(seeds) do
        local c = shallow_copy(cfg)
        c.checkpoint = run_checkpoint(c.checkpoint, name, seed)
        local ok, err = pcall(gd._util.check_run, c)
        if not ok then
          error(string.format("gd.compare: variant '%s', seed %d: %s", name, seed, tostring(err)), 0)
        end
        local path = type(c.checkpoint) == "table" and c.checkpoint.path
        if path and owner[path] and owner[path] ~= name then
          error(string.format("gd.compare: variants '%s' and '%s' would both write checkpoints to %s: "
            .. "give them names that differ in letters or digits", owner[path], name, path), 0)
        end
        if path then owner[path] = name end
      end
    end
  end
end

local function objective(m)
  return stats.finite(m.val_loss) and m.val_loss or m.train_loss
end

-- Tuning (DESIGN §3, §12; the protocol gradus benchmark shares): each lr
-- of the grid is tried with tuning seeds of their own, never a seed of the
-- repeats, so the selection does not bias the comparison; the best mean
-- objective wins, a diverged run loses. The trials are built here and run
-- by whoever executes the comparison (serially below, or lua/sweep.lua).
local tune_metrics = { val_loss = "min", train_loss = "min", val_accuracy = "max" }

local function check_grid(name, grid)
  if type(grid) ~= "table" or #grid == 0 then
    error(string.format("gd.compare: variant '%s': tune.lr must be a non-empty list of numbers", name), 0)
  end
  for _, lr in ipairs(grid) do
    if math.type(lr) == nil or not (lr > 0) or lr == math.huge then
      error(string.format("gd.compare: variant '%s': tune.lr must hold positive numbers, got %s", name,
        tostring(lr)), 0)
    end
  end
end

-- The tuning seeds: tune.seeds = n takes n seeds after the repeats'
-- (seed0 + repeats, ...); a list names them. Either way none is a seed of
-- the repeats.
local function tuning_seeds(name, tune, eval_seeds)
  local used = {}
  for _, s in ipairs(eval_seeds) do used[s] = true end
  local seeds = tune.seeds == nil and 1 or tune.seeds
  if math.type(seeds) == "integer" or (math.type(seeds) == "float" and math.tointeger(seeds)) then
    local n = math.tointeger(seeds)
    if n < 1 then error(string.format("gd.compare: variant '%s': tune.seeds must be >= 1", name), 0) end
    local list, s = {}, eval_seeds[#eval_seeds] + 1
    for i = 1, n do list[i] = s + i - 1 end
    return list
  end
  if type(seeds) ~= "table" or #seeds == 0 then
    error(string.format("gd.compare: variant '%s': tune.seeds must be a count or a list of integers", name), 0)
  end
  local list = {}
  for i, s in ipairs(seeds) do
    list[i] = math.tointeger(s)
    if not list[i] or list[i] < 0 then
      error(string.format("gd.compare: variant '%s': tune.seeds[%d] must be an integer >= 0", name, i), 0)
    end
    if used[list[i]] then
      error(string.format("gd.compare: variant '%s': tuning seed %d is also a seed of the repeats: a tuning "
        .. "seed of its own keeps the selection from biasing the comparison", name, list[i]), 0)
    end
  end
  return list
end

-- The value a tuning run is judged on, and the objective (lower wins).
local function tune_value(m, metric)
  local v = metric and m[metric] or objective(m)
  if not stats.finite(v) then return v, math.huge end
  return v, tune_metrics[metric or "val_loss"] == "max" and -v or v
end

-- records: per grid point, the list of its seeds' records.
local function pick_lr(entry, grid, records, log)
  local best, best_lr, tried = math.huge, nil, {}
  for i, lr in ipairs(grid) do
    local recs = records[i]
    if recs.status then recs = { recs } end   -- one record (an older caller)
    local sum, vsum, status = 0, 0, "ok"
    for _, rec in ipairs(recs) do
      if rec.status ~= "ok" then status = rec.status end
      sum = sum + rec.objective
      vsum = vsum + (rec.value or rec.objective)
    end
    local obj = status == "ok" and sum / #recs or math.huge
    tried[i] = { lr = lr, status = status, objective = obj,
                 value = status == "ok" and vsum / #recs or nil, seeds = entry.tune_seeds }
    if log then log(string.format("  tune %s: lr %.3g -> %s %s", entry.name, lr, status,
      stats.finite(obj) and string.format("%.4f", tried[i].value) or "")) end
    if obj < best then best, best_lr = obj, lr end
  end
  local warning
  local lo, hi = math.huge, -math.huge
  for _, lr in ipairs(grid) do lo, hi = math.min(lo, lr), math.max(hi, lr) end
  if best_lr and #grid > 1 and (best_lr == lo or best_lr == hi) then
    warning = string.format("%s: the best lr %.3g lies at the %s edge of the grid [%.3g, %.3g]: the best may lie "
      .. "outside it, widen the grid", entry.name, best_lr, best_lr == lo and "lower" or "upper", lo, hi)
  elseif not best_lr then
    warning = string.format("%s: every lr of the grid diverged; the first (%.3g) is used", entry.name, grid[1])
  end
  if warning and log then log("  warning: " .. warning) end
  return best_lr or grid[1], tried, warning
end

-- Run one trial in this process: what a tuning trial or a repeat records.
-- ckpt, when given, replaces the run's checkpoint option (a sweep's trial
-- directory); a checkpoint already there is resumed.
function M.run_trial(gd, t, ckpt)
  local c = shallow_copy(t.cfg)
  if ckpt then c.checkpoint = ckpt end
  local run
  local f = ckpt and io.open(ckpt.path, "rb")
  if f then
    f:close()
    run = gd.resume(ckpt.path, { data = c.data, validation = c.validation, checkpoint = ckpt,
                                 progress = false })
  else
    run = t.fork and t.fork:train(c) or gd.train(c)
  end
  local m = final_metrics(run)
  if t.kind == "tune" then
    local value, obj = tune_value(m, t.metric)
    return { lr = t.lr, seed = c.seed, status = run.status, value = value,
             objective = run.status == "ok" and obj or math.huge }
  end
  return { seed = c.seed, status = run.status, metrics = m, history = run.history,
           diverged = run.diverged, diagnoses = run.diagnoses, steps = run.steps,
           steps_per_epoch = run.steps_per_epoch, seconds = run.seconds,
           resumed_from = run.resumed_from, error = run.error }
end

-- What became of a run that is not "ok", for a report: "diverged at step
-- 12 (loss)", "failed: No space left on device", "missing: unfinished".
function M.describe_run(r)
  if r.status == "failed" then return "failed: " .. tostring(r.error or "unknown reason") end
  if r.status == "missing" then
    local why = tostring(r.missing or "no result")
    return why:find("^failed: ") and why or "missing: " .. why
  end
  local d = r.diverged or {}
  return string.format("%s at step %s (%s)", tostring(r.status), tostring(d.step),
    tostring(d.what or d.layer or ""))
end

-- A run stopped by a signal inside a serial comparison: the same error
-- value (gradus run exits 128 + signal), its message saying what can
-- resume a comparison (a sweep), not gd.train's checkpoint option.
local function interrupted(err, t, i, n)
  if type(err) ~= "table" or not err.interrupted then return err end
  local e = setmetatable({}, getmetatable(err))
  for k, v in pairs(err) do e[k] = v end
  e.message = string.format("%s in gd.compare's %s %d of %d (variant '%s', %s); a comparison run serially "
    .. "cannot be resumed: run it as a sweep, gd.compare{ ..., run = { backend = \"local\" } } or gradus "
    .. "sweep SCRIPT, which keeps every finished run and resumes an interrupted one from its checkpoint",
    tostring(err.message):match("^(interrupted by %S+)") or "interrupted", t.kind == "tune" and "tuning run" or "run",
    i, n, t.variant, t.kind == "tune" and string.format("lr %.3g", t.lr) or "seed " .. tostring(t.seed))
  return e
end

local function serial(gd, trials, log)
  local out = {}
  for i, t in ipairs(trials) do
    if log and t.kind ~= "tune" then
      log(string.format("compare: %s, seed %d (%d/%d)", t.variant, t.cfg.seed, t.rep, t.repeats))
    end
    local ok, rec = pcall(M.run_trial, gd, t)
    if not ok then error(interrupted(rec, t, i, #trials), 0) end
    out[i] = rec
  end
  return out
end

-- The lr a variant ran with when it was not tuned: its optimizer's (the
-- default included), else what its first run recorded.
local function lr_used(v)
  local opt = v.config and v.config.optimizer
  local ok, lr = pcall(function() return opt.options.lr end)
  if ok and type(lr) == "number" then return lr end
  local h = v.runs[1] and v.runs[1].history
  local first = h and ((h.steps or {})[1] or (h.epochs or {})[1])
  return first and first.lr
end

-- The metric every run is compared on: val_loss when any run has one, so
-- a win rate never sets one run's val_loss against another's train_loss.
local function compared_metric(variants)
  for _, v in ipairs(variants) do
    for _, r in ipairs(v.runs) do
      if r.metrics and stats.finite(r.metrics.val_loss) then return "val_loss" end
    end
  end
  return "train_loss"
end

-- A run that says nothing about its variant: it failed (a full disk, a
-- missing file) or its trial's result is missing; never a divergence.
local function absent(r)
  return r.status == "failed" or r.status == "missing"
end

local function summarize(variants, ref)
  local summary = {}
  local key = compared_metric(variants)
  -- an "ok" run without that metric (a NaN val_loss in an older
  -- results.json) is counted as diverged, never averaged over silently
  local function finished(r) return r.status == "ok" and stats.finite(r.metrics[key]) end
  for vi, v in ipairs(variants) do
    local s = { name = v.name, n = 0, diverged = 0, missing = 0, mean = {}, std = {}, ci95 = {},
                diff = {}, diff_ci95 = {} }
    for _, r in ipairs(v.runs) do
      if absent(r) then s.missing = s.missing + 1
      elseif finished(r) then s.n = s.n + 1
      else s.diverged = s.diverged + 1 end
    end
    for _, k in ipairs(metric_names) do
      local xs, ds = {}, {}
      for i, r in ipairs(v.runs) do
        if finished(r) then
          xs[#xs + 1] = r.metrics[k]
          local rr = ref.runs[i]
          if rr and finished(rr) then ds[#ds + 1] = r.metrics[k] - rr.metrics[k] end
        end
      end
      s.mean[k], s.std[k], s.ci95[k] = stats.describe(xs)
      if vi > 1 then s.diff[k], _, s.diff_ci95[k] = stats.describe(ds) end
    end
    -- win rate against variant 1, paired by seed; ties count half, a
    -- diverged run loses to a finished one; a pair with a run that failed
    -- or is missing has no winner
    if vi > 1 then
      local wins, n = 0, 0
      for i, r in ipairs(v.runs) do
        local rr = ref.runs[i]
        if rr and not absent(r) and not absent(rr) then
          local a = finished(r) and r.metrics[key] or math.huge
          local b = finished(rr) and rr.metrics[key] or math.huge
          n = n + 1
          wins = wins + (a < b and 1 or (a == b and 0.5 or 0))
        end
      end
      s.win_rate = n > 0 and wins / n or 0 / 0
    end
    s.lr = v.lr or lr_used(v)
    summary[vi] = s
  end
  return summary
end

-- Why s cannot be a name, or nil. A name is written into results.json
-- (JSON text is UTF-8), CSV rows, plots and the page, and shown on one line
-- of the terminal; gd.benchmark's optimizer and problem names too.
function M.bad_name(s)
  if type(s) ~= "string" then return "must be a string, got " .. type(s) end
  if s == "" then return "is empty" end
  local ok, at = utf8.len(s)
  if not ok then return string.format("is not valid UTF-8 (byte 0x%02x at %d)", s:byte(at), at) end
  at = s:find("%c")
  if at then return string.format("holds a control character (0x%02x at %d)", s:byte(at), at) end
  return nil
end

-- The variants' entries and base configurations, checked.
local function plan(gd, spec)
  if type(spec) ~= "table" then error("gd.compare: expected a table { base =, variants =, repeats = }", 3) end
  local opts = gd._options("gd.compare", spec)   -- the table of lua/lapi.c
  local base, variants, repeats = opts.base, opts.variants, opts.repeats
  if #variants == 0 then error("gd.compare: 'variants' must be a non-empty list of tables", 3) end
  -- integers are numbers, never strings that look like them (as gd.train reads them)
  local function integer(x) return math.type(x) and math.tointeger(x) end
  -- Forks continue their checkpoint with its own seed unless told otherwise,
  -- so their first repeat is the run as it would have gone on.
  local seed0 = base.seed == nil and (is_fork(variants[1]) and variants[1].seed or 1)
    or integer(base.seed)
  if not seed0 then error("gd.compare: base.seed must be an integer", 3) end
  local names, out, cfgs = {}, { variants = {}, repeats = repeats, seeds = {}, base = base }, {}
  for i = 1, repeats do out.seeds[i] = seed0 + i - 1 end
  for i, v in ipairs(variants) do
    if type(v) ~= "table" then error(string.format("gd.compare: variants[%d] must be a table", i), 3) end
    local bad = v.name ~= nil and M.bad_name(v.name)
    if bad then
      error(string.format("gd.compare: variants[%d].name %s: a name goes into results.json, "
        .. "the CSV files and the report page", i, bad), 3)
    end
    local name = v.name or ("variant" .. i)
    if names[name] then error(string.format("gd.compare: two variants are named '%s'", name), 3) end
    names[name] = true
    local fork = is_fork(v)
    local cfg = fork and {} or merge(base, v)
    if fork then
      for _, k in ipairs(fork_base_keys) do
        if base[k] ~= nil and v.overrides[k] == nil then cfg[k] = base[k] end
      end
    end
    if v.tune then
      if type(v.tune) ~= "table" then
        error(string.format("gd.compare: variant '%s': tune must be { lr = list }", name), 3)
      end
      gd._options("gd.compare: tune", v.tune, string.format("gd.compare: variant '%s': tune", name))
      if not cfg.optimizer then error(string.format("gd.compare: variant '%s': tune needs an optimizer", name), 3) end
      check_grid(name, v.tune.lr)
    end
    local tseeds = v.tune and tuning_seeds(name, v.tune, out.seeds)
    out.variants[i] = { name = name, runs = {}, config = fork and v.overrides or cfg,
                        fork = fork and v.path or nil }
    if tseeds then out.variants[i].tune_seeds = tseeds end
    cfgs[i] = { cfg = cfg, fork = fork and v or nil, grid = v.tune and v.tune.lr, tune = v.tune, seeds = tseeds }
  end
  check_runs(gd, base, variants, out.seeds)   -- after the names: it builds checkpoint paths of them
  return out, cfgs, seed0
end

-- The tuning trials of every tuned variant: each lr with each tuning seed,
-- on tune.validation when given (gradus benchmark tunes on a validation
-- split and reports the repeats on the test set).
local function tune_trials(gd, out, cfgs)
  local trials = {}
  for i, p in ipairs(cfgs) do
    for _, lr in ipairs(p.grid or {}) do
      for _, seed in ipairs(p.seeds) do
        local c = shallow_copy(p.cfg)
        c.seed = seed
        c.optimizer = with_lr(gd, p.cfg.optimizer, lr)
        if p.tune.validation ~= nil then c.validation = p.tune.validation end
        c.progress = false
        c.on_step, c.on_epoch, c.checkpoint = nil, nil, nil
        trials[#trials + 1] = { kind = "tune", vi = i, variant = out.variants[i].name, lr = lr,
                                seed = seed, cfg = c, metric = p.tune.metric }
      end
    end
  end
  return trials
end

local function repeat_trials(out, cfgs, seed0)
  local trials = {}
  for i, p in ipairs(cfgs) do
    local name = out.variants[i].name
    for r = 1, out.repeats do
      local c = shallow_copy(p.cfg)
      c.seed = seed0 + r - 1
      if c.progress == nil then c.progress = false end
      c.checkpoint = run_checkpoint(p.fork and p.fork.overrides.checkpoint or c.checkpoint, name, c.seed)
      trials[#trials + 1] = { kind = "run", vi = i, rep = r, repeats = out.repeats, variant = name,
                              seed = c.seed, cfg = c, fork = p.fork }
    end
  end
  return trials
end

-- Put the records of finished trials in their places and add the summary:
-- the results table gd.report reads (gradus collect builds it the same way).
function M.assemble(out, trials, records)
  for k, t in ipairs(trials) do
    if t.kind == "run" then out.variants[t.vi].runs[t.rep] = records[k] end
  end
  out.summary = summarize(out.variants, out.variants[1])
  return out
end

-- exec(trials, phase) runs a list of trials and returns their records in
-- order: serially in this process, or through a sweep backend.
function M.compare(gd, spec, exec)
  local out, cfgs, seed0 = plan(gd, spec)
  local quiet = spec.progress == false or spec.base.progress == false
  local log = (not quiet) and function(s) io.stderr:write(s, "\n") end or nil
  exec = exec or function(trials) return serial(gd, trials, log) end
  local tunes = tune_trials(gd, out, cfgs)
  if #tunes > 0 then
    local recs, at = exec(tunes, "tune", out), 1
    for i, p in ipairs(cfgs) do
      if p.grid then
        local e, per = out.variants[i], {}
        for g = 1, #p.grid do
          per[g] = table.move(recs, at, at + #p.seeds - 1, 1, {})
          at = at + #p.seeds
        end
        e.lr, e.tuning, e.tune_warning = pick_lr(e, p.grid, per, log)
        e.tune_metric = p.tune.metric or "objective"
        p.cfg.optimizer = with_lr(gd, p.cfg.optimizer, e.lr)
      end
    end
  end
  local runs = repeat_trials(out, cfgs, seed0)
  return M.assemble(out, runs, exec(runs, "run", out))
end

M.summarize = summarize
M.pick_lr = pick_lr
M.final_metrics = final_metrics
M.with_lr = with_lr
return M
