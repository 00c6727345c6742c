-- lua/sweep.lua: gd.compare's trials as processes (local or Slurm) and
-- gradus collect.
--
-- A trial is one (variant, seed) of a comparison, or one lr of a variant's
-- tuning. With run = { backend = ... } (or under `gradus sweep`) every
-- trial runs as its own process: the same script, run again with
-- GRADUS_SWEEP_TRIAL naming the trial's directory, whose gd.compare runs
-- that one trial and exits. A trial writes DIR/<sweep>/<id>/: its
-- checkpoint while it runs, then result.lua and history.lua (each renamed
-- into place), then DONE last: a directory without DONE is unfinished, and
-- a rerun resumes it from its checkpoint. The id is the variant's name, the
-- seed and a hash of every option that can change the numbers, so a rerun
-- finds its trials again and a changed variant gets new ones.
local compare = require "gradus.compare"

local M = { defaults = {} }

-- ------------------------------------------------------------------------
-- Trial ids

-- A canonical text of a value: sorted keys, floats exactly (%a), specs,
-- models and data sets by what they are. Functions (callbacks) and the
-- options that cannot change the numbers are left out.
local ignored = { progress = true, on_epoch = true, on_step = true, checkpoint = true, name = true }

local function canon(v, out)
  local t = type(v)
  if t == "number" then
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or string.format("%a", v)
  elseif t == "string" then out[#out + 1] = string.format("%q", v)
  elseif t == "boolean" or t == "nil" then out[#out + 1] = tostring(v)
  elseif t == "function" then out[#out + 1] = "fn"
  elseif t == "userdata" and type(v.identity) == "function" then
    canon(v:identity(), out)
  elseif t == "userdata" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do
      if not ignored[k] then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      out[#out + 1] = tostring(k) .. "="
      canon(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  end
  return out
end

-- FNV-1a, 64 bits (Lua integers wrap): a stable name, not a security hash.
local function fnv64(s)
  local h = -3750763034362895579   -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return string.format("%016x", h)
end

local function trial_id(t)
  local what = canon({ t.cfg, t.fork and t.fork.path, t.fork and t.fork.overrides }, {})
  local slug = t.variant:gsub("[^%w_.-]+", "_")
  local kind = t.kind == "tune" and "tune-" or ""
  return string.format("%s-%sseed%d-%s", slug, kind, t.seed, fnv64(table.concat(what)):sub(1, 12))
end
M.trial_id = trial_id

-- ------------------------------------------------------------------------
-- Files: Lua literals, exact for every number, written by rename

local function literal(v, out)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v then out[#out + 1] = "(0/0)"
    elseif v == math.huge then out[#out + 1] = "math.huge"
    elseif v == -math.huge then out[#out + 1] = "-math.huge"
    else out[#out + 1] = string.format("%a", v) end
  elseif t == "string" then out[#out + 1] = string.format("%q", v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      out[#out + 1] = "["
      literal(k, out)
      out[#out + 1] = "]="
      literal(x, out)
      out[#out + 1] = ",\n"
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = string.format("%q", tostring(v))
  end
  return out
end

local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("sweep: cannot write " .. tmp .. ": " .. tostring(err), 0) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error("sweep: cannot rename " .. tmp .. ": " .. tostring(rerr), 0) end
end

local function write_value(path, v)
  write_atomic(path, "return " .. table.concat(literal(v, {})) .. "\n")
end

-- The value a file written by write_value holds, or nil and why not.
local function read_value(path)
  local chunk, err = loadfile(path, "t", { math = { huge = math.huge } })
  if not chunk then return nil, err end
  local ok, v = pcall(chunk)
  if not ok or type(v) ~= "table" then return nil, path .. ": not a table" end
  return v
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A finished trial's record, or nil and what is wrong with it.
local function load_trial(dir)
  if not exists(dir .. "/DONE") then return nil, "unfinished" end
  local rec, err = read_value(dir .. "/result.lua")
  if not rec then return nil, "corrupt (" .. tostring(err) .. ")" end
  if rec.status ~= nil and exists(dir .. "/history.lua") then
    local h, herr = read_value(dir .. "/history.lua")
    if not h then return nil, "corrupt (" .. tostring(herr) .. ")" end
    rec.history = h
  end
  return rec
end

local function save_trial(dir, rec)
  local r = {}
  for k, v in pairs(rec) do r[k] = v end
  local history = r.history
  r.history = nil
  write_value(dir .. "/result.lua", r)
  if history then write_value(dir .. "/history.lua", history) end
  write_atomic(dir .. "/DONE", "done\n")
end

-- ------------------------------------------------------------------------
-- Settings

local run_keys = { backend = "string", jobs = "number", dir = "string", name = "string",
                   partition = "string", account = "string", time = "string",
                   cpus = "number", array_limit = "number", resume = "boolean" }

local counter = 0

local function settings(gd, spec)
  local r = {}
  for k, v in pairs(M.defaults) do r[k] = v end
  if spec.run ~= nil then
    if type(spec.run) ~= "table" then
      error("gd.compare: 'run' must be a table { backend = \"local\" | \"slurm\", jobs = n, dir = ... }", 0)
    end
    for k, v in pairs(spec.run) do
      if not run_keys[k] then
        error(string.format("gd.compare: run: unknown option '%s' (options: backend, jobs, dir, "
          .. "name, partition, account, time, cpus, array_limit)", tostring(k)), 0)
      end
      if type(v) ~= run_keys[k] then
        error(string.format("gd.compare: run.%s must be a %s, got %s", k, run_keys[k], type(v)), 0)
      end
      if M.defaults[k] == nil then r[k] = v end   -- gradus sweep's options win
    end
  end
  if next(r) == nil and not os.getenv("GRADUS_SWEEP_TRIAL") then return nil end
  r.backend = r.backend or "local"
  if r.backend ~= "local" and r.backend ~= "slurm" then
    error(string.format("gd.compare: run.backend must be \"local\" or \"slurm\", got \"%s\"", r.backend), 0)
  end
  local cores = gd._util.cores()
  r.jobs = math.tointeger(r.jobs or cores)
  if not r.jobs or r.jobs < 1 then error("gd.compare: run.jobs must be an integer >= 1", 0) end
  counter = counter + 1
  local script = (arg and arg[0] or "sweep"):match("([^/]+)$"):gsub("%.lua$", "")
  r.name = r.name or (counter > 1 and (script .. "-" .. counter) or script)
  r.path = (r.dir or "sweeps") .. "/" .. r.name
  r.threads = math.max(1, cores // r.jobs)
  return r
end

-- ------------------------------------------------------------------------
-- The worker command: this process's own command line, as `run`

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function worker_command()
  if not arg then error("gd.compare: a sweep needs the script's command line (arg)", 0) end
  local lo = 0
  while arg[lo - 1] do lo = lo - 1 end
  local cmd, i = {}, lo
  while i < 0 do
    local a = arg[i]
    if i > lo and (a == "run" or a == "sweep") then break end
    if a == "--threads" then i = i + 1
    elseif not a:match("^%-%-threads=") then cmd[#cmd + 1] = shell_quote(a) end
    i = i + 1
  end
  if i < 0 then cmd[#cmd + 1] = "run" end
  for k = 0, #arg do cmd[#cmd + 1] = shell_quote(arg[k]) end
  return table.concat(cmd, " ")
end

-- ------------------------------------------------------------------------
-- Backends: run the pending trials (ids in the file `list`)

local backends = {}

function backends.local_(r, list, n, log)
  local cmd = string.format(
    "xargs -P %d -n 1 sh -c 'GRADUS_SWEEP_TRIAL=\"$0\" GRADUS_THREADS=%d %s > \"$0/log\" 2>&1; "
    .. "s=$?; if [ $s -eq 0 ]; then %s; else echo \"sweep: $0 failed (exit $s)\" >&2; fi' < %s",
    r.jobs, r.threads, worker_command():gsub("'", "'\\''"),
    log and "echo \"sweep: $0 done\" >&2" or ":", shell_quote(list))
  if log then log(string.format("sweep %s: %d trials on %d processes of %d threads", r.path, n,
    math.min(r.jobs, n), r.threads)) end
  os.execute(cmd)
end

local function capture(cmd)
  local f = io.popen(cmd .. " 2>/dev/null")
  if not f then return nil end
  local s = f:read("a")
  local ok = f:close()
  return ok and s or nil
end

-- The largest array a job may have: MaxArraySize (indices 0 .. max-1).
local function array_limit(r)
  if r.array_limit then return math.tointeger(r.array_limit) end
  local conf = capture("scontrol show config")
  local n = conf and tonumber(conf:match("MaxArraySize%s*=%s*(%d+)"))
  return n or 1000
end

function M.slurm_script(r, list, n, limit)
  local per = (n + limit - 1) // limit
  local tasks = (n + per - 1) // per
  local lines = {
    "#!/bin/sh",
    "#SBATCH --job-name=gradus-" .. r.name,
    string.format("#SBATCH --array=0-%d", tasks - 1),
    "#SBATCH --output=" .. r.path .. "/slurm-%A_%a.out",
    string.format("#SBATCH --cpus-per-task=%d", r.cpus or 1),
  }
  for _, k in ipairs({ "partition", "account", "time" }) do
    if r[k] then lines[#lines + 1] = string.format("#SBATCH --%s=%s", k, r[k]) end
  end
  lines[#lines + 1] = string.format("# %d trials, %d per array task", n, per)
  lines[#lines + 1] = string.format("first=$((SLURM_ARRAY_TASK_ID * %d + 1))", per)
  lines[#lines + 1] = "status=0"
  lines[#lines + 1] = string.format("for id in $(sed -n \"${first},$((first + %d))p\" %s); do",
    per - 1, shell_quote(list))
  lines[#lines + 1] = string.format("  GRADUS_SWEEP_TRIAL=%s/$id GRADUS_THREADS=%d %s > %s/$id/log 2>&1 || status=1",
    shell_quote(r.path), r.cpus or 1, worker_command(), shell_quote(r.path))
  lines[#lines + 1] = "done"
  lines[#lines + 1] = "exit $status"
  return table.concat(lines, "\n") .. "\n", tasks
end

function backends.slurm(r, list, n, log, phase)
  local text, tasks = M.slurm_script(r, list, n, array_limit(r))
  local script = r.path .. "/slurm-" .. phase .. ".sh"
  write_atomic(script, text)
  local out = capture("sbatch --parsable " .. shell_quote(script))
  local job = out and out:match("^(%d+)")
  if not job then error("gd.compare: sweep " .. r.path .. ": sbatch " .. script .. " failed", 0) end
  if log then log(string.format("sweep %s: slurm job %s, %d array tasks for %d trials", r.path, job,
    tasks, n)) end
  -- follow the job until squeue no longer lists it
  local shown
  while true do
    local q = capture("squeue -h -r -j " .. job .. " -o %i")   -- -r: a line per task
    if not q or not q:match("%d") then break end
    local _, left = q:gsub("[^\n]+", "")
    if log and left ~= shown then
      log(string.format("sweep %s: slurm job %s: %d array tasks queued or running", r.path, job, left))
      shown = left
    end
    os.execute("sleep 1")
  end
  return string.format("; the array tasks' output: %s/slurm-%s_*.out", r.path, job)
end

-- ------------------------------------------------------------------------
-- Executing a comparison's trials

local function manifest(r, out, trials, phase, old)
  local m = old or { name = r.name, repeats = out.repeats, seeds = out.seeds, variants = {}, trials = {} }
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

-- The records of the trials at dir, in order; the missing and corrupt ones
-- are named in `bad` ({ id, why, log }).
local function load_all(path, ids)
  local recs, bad = {}, {}
  for k, id in ipairs(ids) do
    local dir = path .. "/" .. id
    local rec, why = load_trial(dir)
    if rec then recs[k] = rec
    else bad[#bad + 1] = { id = id, why = why, log = dir .. "/log" } end
  end
  return recs, bad
end

local function describe_bad(bad)
  local s = {}
  for _, b in ipairs(bad) do s[#s + 1] = string.format("%s %s (log: %s)", b.id, b.why, b.log) end
  return table.concat(s, "; ")
end

local function run_here(gd, r, t)
  local dir = r.path .. "/" .. t.id
  local ck = { path = dir .. "/run.ckpt", every = { epochs = 1 }, keep = 1 }
  local user = t.cfg.checkpoint
  if type(user) == "table" and user.every then ck.every = user.every end
  -- The process ends here whatever happens: an error must not return into
  -- the script (whose pcall would carry on past the comparison).
  local ok, err = pcall(function() save_trial(dir, compare.run_trial(gd, t, ck)) end)
  io.stdout:flush()
  if ok then os.exit(0) end
  local sig = type(err) == "table" and err.interrupted and math.tointeger(err.signal)
  io.stderr:write("gradus: trial ", t.id, ": ", type(err) == "table" and tostring(err.message) or tostring(err), "\n")
  os.exit(sig and 128 + sig or 1)
end

local function executor(gd, r, log)
  local me = os.getenv("GRADUS_SWEEP_TRIAL")
  local mine = me and me:match("^(.*)/[^/]+$") == r.path and me:match("([^/]+)$")
  if r.resume and not me and not exists(r.path .. "/sweep.lua") then
    error("gd.compare: sweep --resume: no sweep at " .. r.path .. " to resume (start it without --resume)", 0)
  end
  local m   -- the plan in sweep.lua: the tuning trials, then the repeats
  return function(trials, phase, out)
    local ids, note = {}, nil
    for k, t in ipairs(trials) do t.id = trial_id(t); ids[k] = t.id end
    -- A worker never starts trials: it runs its own, and takes the others
    -- (another sweep's, or the tuning its repeat needs) from their files.
    if me then
      for _, t in ipairs(trials) do
        if t.id == mine then run_here(gd, r, t) end
      end
      if mine and phase == "run" then
        error(string.format("gd.compare: sweep %s has no trial '%s' (the script changed?)", r.path, mine), 0)
      end
    else
      local ok, err = gd._util.mkdir_p(r.path)
      if not ok then error("gd.compare: sweep: " .. tostring(err), 0) end
      m = manifest(r, out, trials, phase, m)
      write_value(r.path .. "/sweep.lua", m)
      local pending = {}
      for _, id in ipairs(ids) do
        if not exists(r.path .. "/" .. id .. "/DONE") then
          gd._util.mkdir_p(r.path .. "/" .. id)
          pending[#pending + 1] = id
        end
      end
      if #pending > 0 then
        -- the list has paths for xargs, ids for the Slurm script's sed
        local list = r.path .. "/pending-" .. phase .. ".txt"
        local lines = {}
        for k, id in ipairs(pending) do lines[k] = r.backend == "local" and (r.path .. "/" .. id) or id end
        write_atomic(list, table.concat(lines, "\n") .. "\n")
        note = backends[r.backend == "local" and "local_" or r.backend](r, list, #pending, log, phase)
      elseif log then
        log(string.format("sweep %s: all %d %s trials done already", r.path, #ids, phase))
      end
    end
    local recs, bad = load_all(r.path, ids)
    if #bad > 0 then
      error(string.format("gd.compare: sweep %s: %d of %d trials did not finish: %s; "
        .. "run it again (gradus sweep --resume SCRIPT) to resume them%s", r.path, #bad, #ids,
        describe_bad(bad), note or ""), 0)
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
  return compare.compare(gd, spec, executor(gd, r, log))
end

-- ------------------------------------------------------------------------
-- gradus collect DIR: the results table from a sweep's directory

function M.collect(path)
  local m, err = read_value(path .. "/sweep.lua")
  if not m then error("collect: " .. path .. " is not a sweep directory (" .. tostring(err) .. ")", 0) end
  local out = { variants = {}, repeats = m.repeats, seeds = m.seeds, collected = path }
  for i, v in ipairs(m.variants) do
    out.variants[i] = { name = v.name, runs = {}, config = v.config, fork = v.fork }
  end
  local ids, runs, tunes = {}, {}, {}
  for k, t in ipairs(m.trials) do ids[k] = t.id end
  local recs, bad = load_all(path, ids)
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
  local results, bad = M.collect(path)
  for _, b in ipairs(bad) do
    io.stderr:write(string.format("gradus: collect: trial %s %s (log: %s)\n", b.id, b.why, b.log))
  end
  gd.report(results, outdir and { dir = outdir } or nil)
  return #bad == 0
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
      if run_keys[k] == "number" then
        local n = math.tointeger(tonumber(val))
        if not n or n < 1 then error("sweep: " .. key .. " needs a whole number >= 1, got '" .. val .. "'", 0) end
        val = n
      end
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
