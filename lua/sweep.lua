-- lua/sweep.lua: gd.compare's trials as processes (local or Slurm) and
-- gradus collect.
--
-- A trial is one (variant, seed) of a comparison, or one lr of a variant's
-- tuning. With run = { backend = ... } (or under `gradus sweep`) the
-- comparison is planned here, in the user's process: every trial is
-- written down as DIR/<sweep>/<id>/trial.json, data only (lua/trial.lua),
-- and run by workers, `gradus trial FILE...`, which never run the user's
-- script. Local workers are children in a process group of their own that
-- die with this process; each takes the trials in order, skipping those
-- another worker holds, so start-up is paid once per worker, and the data
-- sets loaded here reach them in a sealed memfd (lua/lshared_data.c), so
-- none is read or decompressed again. Slurm array tasks run the same
-- command on their share and build their data once per task.
--
-- The sweep holds DIR/<sweep>.lock while it runs: a second sweep into the
-- directory is refused at once, naming the holder. A rerun resumes every
-- trial without a valid result (unfinished, failed, corrupt) and reuses
-- the done ones. The id is the variant's name, the seed and a hash of the
-- trial's data, so a rerun finds its trials again and a changed variant
-- gets new ones.
local compare = require "gradus.compare"
local trial = require "gradus.trial"

local M = { defaults = {} }

-- ------------------------------------------------------------------------
-- Trial ids

-- What cannot change the numbers stays out of the hash.
local ignored = { progress = true, on_epoch = true, on_step = true, checkpoint = true, name = true }

-- FNV-1a, 64 bits (Lua integers wrap): a stable name, not a security hash.
local function fnv64(s)
  local h = -3750763034362895579   -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return string.format("%016x", h)
end

local function abs_path(gd, p)
  return gd._util.realpath(p) or p
end

-- The trial's options as data (what its file holds), and its fork.
-- checkpoint hashes by path, for one comparison (M.compare starts afresh)
local hashes = {}

local function trial_data(gd, t)
  local where = string.format("gd.compare: variant '%s'", t.variant)
  local cfg = {}
  for k, v in pairs(t.cfg) do
    if type(v) == "function" then
      error(string.format("%s: %s is a function, which a sweep's trial cannot carry (trials are "
        .. "data: `gradus trial` never runs your script); drop it, or run the comparison "
        .. "serially", where, k), 0)
    end
    if k ~= "checkpoint" then cfg[k] = v end
  end
  local fork
  if t.fork then
    -- the checkpoint's hash: a baseline trained again is another trial
    local path = abs_path(gd, t.fork.path)
    hashes[path] = hashes[path] or gd._util.sha256(path)
    fork = { path = path, sha256 = hashes[path], overrides = trial.to_data(t.fork.overrides, where) }
  end
  return trial.to_data(cfg, where), fork
end

local function trial_id(gd, t)
  local cfg, fork = trial_data(gd, t)
  for k in pairs(ignored) do cfg[k] = nil end
  if fork and fork.overrides then fork.overrides.name = nil end
  local slug = t.variant:gsub("[^%w_.-]+", "_")
  local kind = t.kind == "tune" and "tune-" or ""
  -- a tuning metric judges the run differently: another trial (absent, the ids stay as they were)
  return string.format("%s-%sseed%d-%s", slug, kind, t.seed,
    fnv64(trial.encode({ cfg = cfg, fork = fork or false, metric = t.metric })):sub(1, 12))
end
M.trial_id = trial_id

-- ------------------------------------------------------------------------
-- Settings

local numeric = { jobs = true, cpus = true, array_limit = true }

-- Slurm takes these into a job script: names and a time only, never a
-- character the shell or sbatch would read as more.
local slurm_patterns = {
  partition = { "^[%w_.,-]+$", "a partition name (letters, digits, _ . - ,)" },
  account = { "^[%w_.-]+$", "an account name (letters, digits, _ . -)" },
  time = { "^%d[%d:-]*$", "a time limit such as 30, 4:00:00 or 1-12:00:00" },
}

-- A string for a message: control characters as \ddd.
local function show(v)
  return '"' .. tostring(v):gsub("[%c\\\"]", function(c) return string.format("\\%03d", c:byte()) end) .. '"'
end

-- prefix .. k: "sweep: --" .. "time", "gd.compare: run." .. "time"
local function check_slurm_option(k, v, prefix)
  local p = slurm_patterns[k]
  if p and not (v:match(p[1]) or (k == "time" and (v == "UNLIMITED" or v == "INFINITE"))) then
    error(string.format("%s%s must be %s, got %s", prefix, k, p[2], show(v)), 0)
  end
end

local counter = 0

local function settings(gd, spec)
  local r = {}
  for k, v in pairs(M.defaults) do r[k] = v end
  if spec.run ~= nil then
    gd._options("gd.compare: run", spec.run)   -- the table of lua/lapi.c
    for k, v in pairs(spec.run) do
      if M.defaults[k] == nil then r[k] = v end   -- gradus sweep's options win
    end
  end
  if next(r) == nil then return nil end
  r.backend = r.backend or "local"
  for k in pairs(slurm_patterns) do
    if r[k] then check_slurm_option(k, r[k], "gd.compare: run.") end
  end
  local cores = gd._util.cores()
  r.jobs = math.tointeger(r.jobs or cores)
  if not r.jobs or r.jobs < 1 then error("gd.compare: run.jobs must be an integer >= 1", 0) end
  if r.name and (r.name == "" or r.name == "." or r.name == ".." or r.name:find("/", 1, true)) then
    error(string.format("gd.compare: run.name must be a file name (no '/'), got %q", r.name), 0)
  end
  counter = counter + 1
  -- a second comparison of one script is a second sweep: NAME-2, ...
  local script = ((arg and arg[0] or "sweep"):match("([^/]+)$") or "sweep"):gsub("%.lua$", "")
  local given = spec.run and spec.run.name and M.defaults.name == nil
  r.name = given and r.name or ((r.name or script) .. (counter > 1 and ("-" .. counter) or ""))
  r.path = (r.dir or "sweeps") .. "/" .. r.name
  r.threads = math.max(1, cores // r.jobs)
  return r
end

-- ------------------------------------------------------------------------
-- Commands

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The command that ran this script, for the advice to run it again.
local function rerun_command()
  if not arg or not arg[0] then return "run the script again" end
  local lo = 0
  while arg[lo - 1] do lo = lo - 1 end
  local cmd = {}
  for i = lo, #arg do cmd[#cmd + 1] = shell_quote(arg[i]) end
  return table.concat(cmd, " ")
end

-- The gradus command to start workers with: this one when it is gradus,
-- else $GRADUS_EXE, else gradus on the PATH.
local function gradus_exe(gd)
  local self = gd._util.self_exe()
  if self and self:match("/gradus$") then return self end
  return os.getenv("GRADUS_EXE") or "gradus"
end

-- The plugin files loaded here, for the workers to load too (read once:
-- gd._util.plugins hashes every file), and those of them a worker does not
-- load by itself (not built in): its command line names them with -l, so
-- that a trial file never makes a worker load code.
local function plugin_files(gd, r)
  if not r.plugins then
    r.plugins, r.extra_plugins = {}, {}
    local builtin = gd._util.builtin_dir()
    for _, p in ipairs(gd._util.plugins()) do
      local file = abs_path(gd, p.file)
      r.plugins[#r.plugins + 1] = file
      if not (builtin and file:sub(1, #builtin + 1) == builtin .. "/") then
        r.extra_plugins[#r.extra_plugins + 1] = file
      end
    end
  end
  return r.plugins, r.extra_plugins
end

local function worker_argv(gd, r, threads, files)
  local argv = { gradus_exe(gd) }
  for _, p in ipairs(select(2, plugin_files(gd, r))) do
    argv[#argv + 1] = "-l"
    argv[#argv + 1] = p
  end
  for _, a in ipairs({ "--threads", tostring(threads), "trial" }) do argv[#argv + 1] = a end
  for _, f in ipairs(files) do argv[#argv + 1] = f end
  return argv
end

-- ------------------------------------------------------------------------
-- Backends: run the pending trials' files. Each returns a note for a
-- failure's message (or nil), the signal that stopped the sweep (or nil),
-- and then what became of its workers or job (or nil).

local backends = {}

-- The loaded data sets the trials read, to hand to local workers
-- (lua/lshared_data.c), each source once, keyed by its recipe as a trial
-- file writes it: a worker then starts without reading and decompressing
-- the data again. A set whose recipe passes through standardize (a copy of
-- the samples) is left to the worker to build, as Slurm's tasks build all.
local function shared_sets(trials)
  local list, seen = {}, {}
  for _, t in ipairs(trials) do
    for _, ds in ipairs(trial.data_sets(t.cfg)) do
      local recipe = ds:recipe()
      while recipe and (recipe.view == "split" or recipe.view == "subset") do recipe = recipe.of end
      if recipe and recipe.source then
        local key = trial.encode(trial.to_data(recipe, "data set"))
        if not seen[key] then
          seen[key] = true
          list[#list + 1] = { key = key, ds = ds }
        end
      end
    end
  end
  return list
end

-- Worker k of n takes the trials from the k-th on, in order: the first
-- trials start at once on every worker, and each worker then takes the
-- next trial no one holds.
function backends.local_(gd, r, files, log, reasons, _, pending)
  local n = math.min(r.jobs, #files)
  local cmds = {}
  for k = 1, n do
    local mine = {}
    for j = 0, #files - 1 do mine[#mine + 1] = files[(k - 1 + j) % #files + 1] end
    cmds[k] = worker_argv(gd, r, r.threads, mine)
  end
  -- nil where memfd_create is not available: each worker loads its data
  local shared <close>, count, bytes = gd._util.share_data(shared_sets(pending))
  if log then
    local data = not shared and string.format("%s; each worker loads its data", count)
      or count > 0 and string.format("%d data set%s (%.1f MB) handed over", count,
        count == 1 and "" or "s", bytes / 1e6)
      or "no data set handed over"
    log(string.format("sweep %s: %d trials on %d process%s of %d thread%s, %s", r.path, #files,
      n, n == 1 and "" or "es", r.threads, r.threads == 1 and "" or "s", data))
  end
  local done = 0
  -- A worker never uses OpenBLAS's own threads (the core's pool threads
  -- the products; GRADUS_THREADING=blas aside), and without them it starts
  -- with no thread spinning beside the other workers.
  local env = os.getenv("GRADUS_THREADING") ~= "blas" and { "OPENBLAS_NUM_THREADS=1" } or { }
  local statuses, sig = gd._util.spawn_workers(cmds, function(line)
    local what, id, rest = line:match("^(%a+) ([%w_.-]+):? ?(.*)$")
    if what == "done" then
      done = done + 1
      if log then log(string.format("sweep %s: %s done (%d/%d)", r.path, id, done, #files)) end
    elseif what == "failed" and id then
      reasons[id] = rest
      if log then log(string.format("sweep %s: %s failed: %s", r.path, id, rest)) end
    end
  end, env, shared and shared:fd())
  for _, st in ipairs(statuses) do
    if st == 127 then
      return string.format("; a worker could not be started: is %s the gradus command? "
        .. "(set GRADUS_EXE)", cmds[1][1]), sig ~= 0 and sig or nil
    end
  end
  return nil, sig ~= 0 and sig or nil
end

local function capture(gd, argv)
  local ok, out, status = pcall(gd._util.run, argv)
  return ok and status == 0 and out or nil
end

-- The largest array a job may have: MaxArraySize (indices 0 .. max-1).
local function array_limit(gd, r)
  if r.array_limit then return math.tointeger(r.array_limit) end
  local conf = capture(gd, { "scontrol", "show", "config" })
  local n = conf and tonumber(conf:match("MaxArraySize%s*=%s*(%d+)"))
  return n or 1000
end

-- The job script: array task i runs `gradus trial` on its share of the
-- files. Every path is in single quotes; the options were checked.
function M.slurm_script(r, files, limit, exe)
  local n = #files
  local per = (n + limit - 1) // limit
  local tasks = (n + per - 1) // per
  local lines = {
    "#!/bin/sh",
    "#SBATCH --job-name=gradus-" .. r.name:gsub("[^%w_.-]", "_"),
    string.format("#SBATCH --array=0-%d", tasks - 1),
    string.format("#SBATCH --cpus-per-task=%d", r.cpus or 1),
  }
  for _, k in ipairs({ "partition", "account", "time" }) do
    if r[k] then
      check_slurm_option(k, r[k], "sweep: slurm ")
      lines[#lines + 1] = string.format("#SBATCH --%s=%s", k, r[k])
    end
  end
  lines[#lines + 1] = string.format("# %d trials, %d per array task", n, per)
  if os.getenv("GRADUS_THREADING") ~= "blas" then
    -- as for local workers: no OpenBLAS thread per core spinning beside the task
    lines[#lines + 1] = ': "${OPENBLAS_NUM_THREADS:=1}"; export OPENBLAS_NUM_THREADS'
  end
  lines[#lines + 1] = 'case "$SLURM_ARRAY_TASK_ID" in'
  for task = 0, tasks - 1 do
    local cmd = { shell_quote(exe or "gradus") }
    for _, p in ipairs(r.extra_plugins or {}) do cmd[#cmd + 1] = "-l " .. shell_quote(p) end
    for _, a in ipairs({ "--threads", tostring(r.cpus or 1), "trial" }) do cmd[#cmd + 1] = a end
    for i = task * per + 1, math.min(n, (task + 1) * per) do cmd[#cmd + 1] = shell_quote(files[i]) end
    lines[#lines + 1] = string.format("%d) exec %s ;;", task, table.concat(cmd, " "))
  end
  lines[#lines + 1] = 'esac'
  lines[#lines + 1] = 'echo "gradus sweep: no array task $SLURM_ARRAY_TASK_ID" >&2'
  lines[#lines + 1] = "exit 1"
  return table.concat(lines, "\n") .. "\n", tasks
end

-- The job's tasks, one line each, or nil when squeue no longer lists it.
local function queued(gd, job)
  local q = capture(gd, { "squeue", "-h", "-r", "-j", job, "-o", "%i" })   -- -r: a line per task
  if not q or not q:match("%d") then return nil end
  return select(2, q:gsub("[^\n]+", ""))
end

-- Polls squeue every `pause` seconds, at most `polls` times, until it no
-- longer lists the job (true) or a held signal is pending (false); left(n)
-- sees the count of tasks still listed at each poll. Call inside
-- gd._util.hold_interrupts.
local function wait_gone(gd, job, pause, polls, left)
  for _ = 1, polls do
    local n = queued(gd, job)
    if not n then return true end
    if gd._util.interrupt_pending() then return false end
    if left then left(n) end
    gd._util.run({ "sleep", pause })
  end
  return false
end

-- A signal while the sweep follows its job cancels the job, as local workers
-- die with the sweep: tasks left behind would go on writing into the sweep's
-- directory and holding the cluster for a sweep that has ended. The wait
-- for the tasks to go is bounded; a second signal ends it.
local function cancel(gd, r, job, log)
  if log then log(string.format("sweep %s: cancelling slurm job %s (scancel %s)", r.path, job, job)) end
  local _, _, status = pcall(gd._util.run, { "scancel", job })
  if status ~= 0 then
    return string.format("slurm job %s may still run: scancel %s failed%s; cancel it with scancel %s",
      job, job, status == 127 and " (no scancel command)" or "", job)
  end
  local _, gone = gd._util.hold_interrupts(function() return wait_gone(gd, job, "0.5", 120) end)
  return string.format("slurm job %s cancelled%s", job, gone and ""
    or string.format(" (its tasks were still ending: squeue -j %s)", job))
end

function backends.slurm(gd, r, files, log, _, phase)
  local text, tasks = M.slurm_script(r, files, array_limit(gd, r), gradus_exe(gd))
  local script = r.abs .. "/slurm-" .. phase .. ".sh"
  local ok, err = gd._util.write_file(script, text)
  if not ok then error("gd.compare: sweep " .. r.path .. ": " .. err, 0) end
  -- a signal is held from the submission to the job's end: acted on below
  local job
  local done, res, sig = gd._util.hold_interrupts(function()
    -- the output path on sbatch's command line, % doubled (Slurm's patterns)
    local out = capture(gd, { "sbatch", "--parsable",
      "--output=" .. r.abs:gsub("%%", "%%%%") .. "/slurm-%A_%a.out", script })
    job = out and out:match("^(%d+)")
    if not job then
      if gd._util.interrupt_pending() then return end
      error("gd.compare: sweep " .. r.path .. ": sbatch " .. script .. " failed", 0)
    end
    if log then log(string.format("sweep %s: slurm job %s, %d array tasks for %d trials", r.path, job,
      tasks, #files)) end
    -- follow the job until squeue no longer lists it
    local shown
    wait_gone(gd, job, "1", math.maxinteger, function(left)
      if log and left ~= shown then
        log(string.format("sweep %s: slurm job %s: %d array tasks queued or running", r.path, job, left))
        shown = left
      end
    end)
  end)
  if not done then error(res, 0) end
  if sig then return nil, sig, job and cancel(gd, r, job, log) or "no slurm job was submitted" end
  return string.format("; the array tasks' output: %s/slurm-%s_*.out", r.path, job)
end

-- ------------------------------------------------------------------------
-- Executing a comparison's trials

local function manifest(r, out, trials, phase, old)
  local m = old or { format = "gradus-sweep", version = 1, name = r.name, repeats = out.repeats,
                     seeds = out.seeds, variants = {}, trials = {} }
  for i, v in ipairs(out.variants) do
    local desc = {}
    for k, x in pairs(v.config) do
      local t = type(x)
      if t == "number" or t == "string" or t == "boolean" then desc[k] = x
      elseif t == "userdata" or t == "table" then desc[k] = tostring(x) end
    end
    m.variants[i] = { name = v.name, config = desc, fork = v.fork }
  end
  for _, t in ipairs(trials) do
    m.trials[#m.trials + 1] = { id = t.id, kind = t.kind, vi = t.vi, rep = t.rep, lr = t.lr,
                                seed = t.seed, phase = phase }
  end
  return m
end

-- The records of the trials at path, in order; the missing and corrupt ones
-- are named in `bad` ({ id, why, log }).
local function load_all(gd, path, ids, reasons)
  local recs, bad = {}, {}
  for k, id in ipairs(ids) do
    local dir = path .. "/" .. id
    local rec, why = trial.load(gd, dir)
    if rec then recs[k] = rec
    else
      if why == "unfinished" and reasons and reasons[id] then why = "failed: " .. reasons[id] end
      bad[#bad + 1] = { id = id, why = why, log = dir .. "/log" }
    end
  end
  return recs, bad
end

local function describe_bad(bad)
  local s = {}
  for _, b in ipairs(bad) do s[#s + 1] = string.format("%s %s (log: %s)", b.id, b.why, b.log) end
  return table.concat(s, "; ")
end

local function write_trial(gd, r, t, dir)
  local cfg, fork = trial_data(gd, t)
  local user = t.cfg.checkpoint
  local plugins = plugin_files(gd, r)   -- checked by the worker, never loaded from the file
  trial.write(gd, dir .. "/trial.json", {
    format = "gradus-trial", version = 1, id = t.id, kind = t.kind, variant = t.variant,
    seed = t.seed, lr = t.lr, metric = t.metric, cfg = cfg, fork = fork, plugins = plugins,
    threads = r.threads,
    checkpoint_every = type(user) == "table" and type(user.every) == "table"
      and { epochs = user.every.epochs } or nil,
  }, true)
end

local signal_names = { [2] = "SIGINT", [15] = "SIGTERM" }

-- what: what became of the sweep's workers or job, when there is more to say
-- (a backend's third result).
local function interrupted(r, sig, ids, done, what)
  local msg = string.format("gd.compare: sweep %s interrupted by %s: %s%d of %d trials done, the "
    .. "others keep their checkpoints; resume them with the same command: %s", r.path,
    signal_names[sig] or ("signal " .. sig), what and what .. "; " or "", done, #ids, rerun_command())
  error(setmetatable({ interrupted = true, signal = sig, message = msg },
    { __tostring = function(e) return e.message end }), 0)
end

local function executor(gd, r, log)
  local m   -- the plan in sweep.json: the tuning trials, then the repeats
  return function(trials, phase, out)
    local ids = {}
    for k, t in ipairs(trials) do t.id = trial_id(gd, t); ids[k] = t.id end
    m = manifest(r, out, trials, phase, m)
    trial.write(gd, r.abs .. "/sweep.json", m)
    local files, pending = {}, {}
    for _, t in ipairs(trials) do
      local dir = r.abs .. "/" .. t.id
      if not trial.load(gd, dir) then
        local ok, err = gd._util.mkdir_p(dir)
        if not ok then error("gd.compare: sweep: " .. tostring(err), 0) end
        write_trial(gd, r, t, dir)
        files[#files + 1] = dir .. "/trial.json"
        pending[#pending + 1] = t
      end
    end
    -- note: added to a failure's message; what: what became of the
    -- workers or the job when a signal stopped the sweep
    local note, sig, what
    local reasons = {}
    if #files > 0 then
      note, sig, what = backends[r.backend == "local" and "local_" or r.backend](gd, r, files, log,
        reasons, phase, pending)
    elseif log then
      log(string.format("sweep %s: all %d %s trials done already", r.path, #ids, phase))
    end
    local recs, bad = load_all(gd, r.abs, ids, reasons)
    for _, b in ipairs(bad) do b.log = r.path .. "/" .. b.id .. "/log" end
    if sig then interrupted(r, sig, ids, #ids - #bad, what) end
    if #bad > 0 then
      error(string.format("gd.compare: sweep %s: %d of %d trials did not finish: %s; "
        .. "to resume them, run the same command again: %s%s", r.path, #bad, #ids,
        describe_bad(bad), rerun_command(), note or ""), 0)
    end
    return recs
  end
end

-- gd.compare: serial, unless run = { ... } or gradus sweep ask for a sweep.
function M.compare(gd, spec)
  local r = type(spec) == "table" and settings(gd, spec) or nil
  if not r then return compare.compare(gd, spec) end
  local quiet = spec.progress == false or (type(spec.base) == "table" and spec.base.progress == false)
  local log = (not quiet) and function(s) io.stderr:write(s, "\n") end or nil
  hashes = {}
  local ok, err = gd._util.mkdir_p(r.path)
  if not ok then error("gd.compare: sweep: " .. tostring(err), 0) end
  -- the lock first: a second sweep into the directory changes nothing
  local lock <close> = gd._util.lock(r.path, "gd.compare: sweep")
  r.abs = abs_path(gd, r.path)
  if r.resume and not trial.exists(r.abs .. "/sweep.json") then
    error("gd.compare: sweep --resume: no sweep at " .. r.path .. " to resume (start it without --resume)", 0)
  end
  return compare.compare(gd, spec, executor(gd, r, log))
end

-- ------------------------------------------------------------------------
-- gradus collect DIR: the results table from a sweep's directory

function M.collect(gd, path)
  local m, err = trial.read(gd, path .. "/sweep.json", trial.caps.sweep)
  if not m or m.format ~= "gradus-sweep" or type(m.variants) ~= "table" or type(m.trials) ~= "table" then
    error("collect: " .. path .. " is not a sweep directory (" .. tostring(err or "sweep.json is not a sweep's") .. ")", 0)
  end
  local out = { variants = {}, repeats = m.repeats, seeds = m.seeds, collected = path }
  for i, v in ipairs(m.variants) do
    if type(v) ~= "table" or type(v.name) ~= "string" then
      error("collect: " .. path .. "/sweep.json: variant " .. i .. " has no name", 0)
    end
    out.variants[i] = { name = v.name, runs = {}, config = v.config, fork = v.fork }
  end
  local ids, runs, tunes = {}, {}, {}
  for k, t in ipairs(m.trials) do
    if type(t) ~= "table" or type(t.id) ~= "string" or not t.id:match("^[%w_.-]+$")
        or not out.variants[t.vi] then
      error("collect: " .. path .. "/sweep.json: trial " .. k .. " is not a trial of the sweep", 0)
    end
    ids[k] = t.id
  end
  local recs, bad = load_all(gd, path, ids)
  local missing = {}
  for _, b in ipairs(bad) do missing[b.id] = b end
  for k, t in ipairs(m.trials) do
    local rec = recs[k]
    if t.kind == "tune" then
      local list = tunes[t.vi] or {}
      tunes[t.vi] = list
      list[#list + 1] = { lr = t.lr, seed = t.seed, rec = rec or { status = "missing", objective = math.huge } }
    else
      local nan = 0 / 0
      runs[#runs + 1] = { kind = "run", vi = t.vi, rep = t.rep }
      recs[k] = rec or { seed = t.seed, status = "missing", missing = missing[t.id].why,
        metrics = { train_loss = nan, val_loss = nan, val_accuracy = nan, seconds = nan },
        history = { epochs = {} } }
      runs[#runs].rec = recs[k]
    end
  end
  for vi, list in pairs(tunes) do
    -- a grid point's records, one per tuning seed
    local grid, trecs, at, seeds, seen = {}, {}, {}, {}, {}
    for _, x in ipairs(list) do
      if not at[x.lr] then grid[#grid + 1] = x.lr; trecs[#grid] = {}; at[x.lr] = #grid end
      table.insert(trecs[at[x.lr]], x.rec)
      if x.seed and not seen[x.seed] then seen[x.seed] = true; seeds[#seeds + 1] = x.seed end
    end
    local e = out.variants[vi]
    e.tune_seeds = seeds
    e.lr, e.tuning, e.tune_warning = compare.pick_lr(e, grid, trecs)
  end
  local rr = {}
  for k, x in ipairs(runs) do rr[k] = x.rec end
  return compare.assemble(out, runs, rr), bad
end

-- gradus collect DIR [OUTDIR]: print the report (and write its files to
-- OUTDIR); false when a trial is missing or corrupt, after naming it.
function M.collect_cli(gd, path, outdir)
  local results, bad = M.collect(gd, path)
  for _, b in ipairs(bad) do
    io.stderr:write(string.format("gradus: collect: trial %s %s (log: %s)\n", b.id, b.why, b.log))
  end
  gd.report(results, outdir and { dir = outdir } or nil)
  return #bad == 0
end

-- gradus trial FILE...: the worker (lua/trial.lua).
function M.trial_cli(gd, threads_given, ...)
  return trial.cli(gd, { ... }, threads_given)
end

-- gradus sweep [OPTIONS] SCRIPT [ARGS]: the options become every
-- gd.compare's run settings; returns the position of SCRIPT in args.
local cli_flags = { ["--backend"] = "backend", ["--jobs"] = "jobs", ["--dir"] = "dir",
                    ["--name"] = "name", ["--partition"] = "partition",
                    ["--account"] = "account", ["--time"] = "time", ["--cpus"] = "cpus",
                    ["--array-limit"] = "array_limit" }

function M.cli(args)
  local d, i = {}, 1
  while args[i] and args[i]:match("^%-") do
    local a = args[i]
    local key, val = a:match("^(%-%-[%w-]+)=(.*)$")
    key = key or a
    if key == "--resume" then d.resume = true
    elseif cli_flags[key] then
      if not val then i = i + 1; val = args[i] end
      if not val then error("sweep: " .. key .. " needs a value", 0) end
      local k = cli_flags[key]
      if numeric[k] then
        local n = math.tointeger(tonumber(val))
        if not n or n < 1 then error("sweep: " .. key .. " needs a whole number >= 1, got '" .. val .. "'", 0) end
        val = n
      end
      check_slurm_option(k, val, "sweep: --")
      d[k] = val
    else
      error("sweep: unknown option '" .. a .. "' (options: --backend local|slurm, --jobs N, "
        .. "--dir DIR, --name NAME, --resume, --partition P, --account A, --time T, --cpus N, "
        .. "--array-limit N)", 0)
    end
    i = i + 1
  end
  if not args[i] then error("sweep needs a script: gradus sweep [OPTIONS] SCRIPT.lua [ARGS]", 0) end
  d.backend = d.backend or "local"
  if d.backend ~= "local" and d.backend ~= "slurm" then
    error("sweep: --backend must be local or slurm, got '" .. d.backend .. "'", 0)
  end
  M.defaults = d
  return i
end

return M
