-- lua/trial.lua: a sweep's trials as files of data, and the worker that
-- runs them (`gradus trial FILE...`).
--
-- A trial file is JSON: it cannot execute, so a worker never runs the
-- user's script, and a hostile file can at worst be refused. It holds the
-- trial's gd.train options as data: numbers exactly (floats with a point,
-- %.17g; NaN and infinities tagged), specs as { "$spec": { kind, name,
-- options } }, gd.sequential as { "$sequential": [ layer specs ] }, gd.residual
-- as { "$residual": { body, shortcut } }, data
-- sets as { "$data": { recipe, identity } } (rebuilt by gd.data.rebuild,
-- then checked against the identity recorded), plus the seed, the fork's
-- checkpoint, the plugin files and the thread count. Callbacks (on_epoch,
-- on_step) cannot be data: a sweep refuses them.
--
-- A trial's directory: trial.json, run.ckpt while it runs, log, then
-- result.json and history.json, each written, fsync'd and renamed into
-- place, and DONE last, fsync'd too. A failed trial leaves failed.json
-- with its reason instead of DONE.
local json = require "gradus.json"
local compare = require "gradus.compare"

local M = {}

-- Size caps of the files a sweep reads back (bytes).
M.caps = { trial = 16 << 20, result = 4 << 20, history = 256 << 20, sweep = 64 << 20,
           failed = 64 << 10 }

local short_kind = { layer = "layer", loss = "loss", optimizer = "optim", scheduler = "sched",
                     regularizer = "reg", initializer = "init" }

local function mt_name(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

-- ------------------------------------------------------------------------
-- Values as data

local identities = setmetatable({}, { __mode = "k" })

local function data_error(where, msg) error(string.format("%s: %s", where, msg), 0) end

-- v as plain data (tables of numbers, strings, booleans), raising
-- "<where>: ..." for what has no data form.
function M.to_data(v, where, depth)
  depth = depth or 0
  if depth > 60 then data_error(where, "nested too deeply") end
  local t = type(v)
  if t == "number" then
    if v ~= v then return { ["$num"] = "nan" } end
    if v == math.huge then return { ["$num"] = "inf" } end
    if v == -math.huge then return { ["$num"] = "-inf" } end
    return v
  elseif t == "string" or t == "boolean" then
    return v
  elseif t == "table" then
    local n, out, array = rawlen(v), {}, true
    for k in next, v do
      if math.type(k) ~= "integer" or k < 1 or k > n then array = false end
    end
    if array then
      for i = 1, n do out[i] = M.to_data(rawget(v, i), where .. "[" .. i .. "]", depth + 1) end
      return out
    end
    for k, x in next, v do
      if type(k) ~= "string" then
        data_error(where, "a table with a key that is not a name (" .. tostring(k) .. ")")
      end
      out[k:sub(1, 1) == "$" and "$" .. k or k] = M.to_data(x, where .. "." .. k, depth + 1)
    end
    return out
  elseif t == "userdata" then
    local name = mt_name(v)
    if name == "gradus.spec" then
      local opts = {}
      for k, x in next, v.options do opts[k] = x end
      return { ["$spec"] = { kind = v.kind, name = v.name,
                             options = M.to_data(opts, where .. "{}", depth + 1) } }
    elseif name == "gradus.sequential" then
      return { ["$sequential"] = M.to_data(v.layers, where, depth + 1) }
    elseif name == "gradus.residual" then
      return { ["$residual"] = { body = M.to_data(v.layers, where, depth + 1),
                                 shortcut = v.shortcut and M.to_data(v.shortcut, where .. ".shortcut", depth + 1) } }
    elseif name == "gradus.dataset" then
      local recipe = v:recipe()
      if not recipe then
        data_error(where, "a data set built from Lua values (gd.data.tensor) cannot be written "
          .. "into a trial: a sweep needs data it can rebuild (gd.data.fashion_mnist, gd.data.csv, "
          .. "gd.data.synthetic.*, their splits and subsets), or run the comparison serially")
      end
      identities[v] = identities[v] or v:identity()
      return { ["$data"] = { recipe = M.to_data(recipe, where, depth + 1),
                             identity = identities[v] } }
    elseif name == "gradus.model" then
      data_error(where, "a built model cannot be written into a trial: give the model as "
        .. "gd.sequential{ ... } (its weights are made from the seed)")
    end
    data_error(where, "a " .. (name or "userdata") .. " cannot be written into a trial")
  end
  data_error(where, "a " .. t .. " cannot be written into a trial")
end

-- The data sets in v (a trial's options), each once, in the order met.
function M.data_sets(v, out, seen, depth)
  out, seen, depth = out or {}, seen or {}, depth or 0
  if type(v) == "userdata" and mt_name(v) == "gradus.dataset" and not seen[v] then
    seen[v] = true
    out[#out + 1] = v
  elseif type(v) == "table" and depth < 60 then
    for _, x in next, v do M.data_sets(x, out, seen, depth + 1) end
  end
  return out
end

-- The values back; gd (nil for results) rebuilds specs, models and data.
-- datasets caches the data sets a worker has built, by recipe.
function M.from_data(gd, v, where, datasets)
  if type(v) ~= "table" then return v end
  local k1 = next(v)
  local tagged = type(k1) == "string" and k1:sub(1, 1) == "$" and k1:sub(2, 2) ~= "$"
    and next(v, k1) == nil
  if tagged then
    local x = v[k1]
    if k1 == "$num" then
      local n = ({ nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge })[x]
      if not n then data_error(where, "bad number " .. tostring(x)) end
      return n
    end
    if not gd then data_error(where, "unexpected " .. k1) end
    if k1 == "$spec" then
      if type(x) ~= "table" or type(x.kind) ~= "string" or type(x.name) ~= "string" then
        data_error(where, "a $spec needs a kind and a name")
      end
      local ctors = gd[short_kind[x.kind] or ""]
      local ctor = type(ctors) == "table" and ctors[x.name]
      if not ctor then
        data_error(where, string.format("no %s named '%s' is loaded (a plugin of the sweep is "
          .. "missing?)", x.kind, x.name))
      end
      return ctor(M.from_data(gd, x.options or {}, where, datasets))
    elseif k1 == "$sequential" then
      return gd.sequential(M.from_data(gd, x, where, datasets))
    elseif k1 == "$residual" then
      if type(x) ~= "table" or type(x.body) ~= "table" then data_error(where, "a $residual needs a body") end
      local parts = M.from_data(gd, x.body, where, datasets)
      parts.shortcut = M.from_data(gd, x.shortcut, where, datasets)
      return gd.residual(parts)
    elseif k1 == "$data" then
      if type(x) ~= "table" or type(x.recipe) ~= "table" then data_error(where, "a $data needs a recipe") end
      local recipe = M.from_data(nil, x.recipe, where)
      local key = M.encode(x.recipe)
      -- built and fingerprinted once per worker: the fingerprint reads
      -- every sample
      local entry = datasets and datasets[key]
      if not entry then
        local ds = gd._util.rebuild_cached(recipe)
        entry = { ds = ds, identity = ds:identity() }
        if datasets then datasets[key] = entry end
      end
      local ds, want, got = entry.ds, x.identity, entry.identity
      if type(want) == "table" then
        for _, f in ipairs({ "size", "features", "target_width", "classes", "crc" }) do
          if want[f] ~= got[f] then
            data_error(where, string.format("the data set (%s) is not the one the sweep was "
              .. "planned with (its %s changed): rebuild the sweep", tostring(ds), f))
          end
        end
      end
      return ds
    end
    data_error(where, "unknown tag " .. k1)
  end
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" and k:sub(1, 2) == "$$" then k = k:sub(2) end
    out[k] = M.from_data(gd, x, where, datasets)
  end
  return out
end

-- ------------------------------------------------------------------------
-- JSON text: canonical (sorted keys, no spaces), so equal data is equal text

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode(v, out)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    else
      local s = string.format("%.17g", v)
      out[#out + 1] = s:find("[%.eEn]") and s or s .. ".0"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    local n = #v
    if n > 0 then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode(k, out)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    error("trial: cannot encode a " .. t, 0)
  end
  return out
end

function M.encode(v) return table.concat(encode(v, {})) end

-- The data in the file at path (a regular file of at most cap bytes, JSON
-- nested at most 64 deep), or nil and a message naming the file.
-- raw: the data as it is in the file (a trial's, whose specs and data sets
-- the worker builds later); else its numbers restored too.
function M.read(gd, path, cap, raw)
  local text, err = gd._util.read_file(path, cap)
  if not text then return nil, err end
  local ok, v = pcall(json.decode, text, nil, 64)
  if not ok then return nil, path .. ": " .. tostring(v) end
  if type(v) ~= "table" then return nil, path .. ": not a JSON object" end
  if raw then return v end
  ok, v = pcall(M.from_data, nil, v, path)
  if not ok then return nil, tostring(v) end
  return v
end

-- Write v (data already when raw) to path, synced.
function M.write(gd, path, v, raw, no_dir_sync)
  local ok, err = gd._util.write_file(path, M.encode(raw and v or M.to_data(v, path)) .. "\n",
    no_dir_sync)
  if not ok then error(err, 0) end
end

-- ------------------------------------------------------------------------
-- A trial's directory

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A finished trial's record, or nil and what is wrong with it
-- ("unfinished", "failed: <reason>", "corrupt (<file>: ...)").
function M.load(gd, dir)
  if not exists(dir .. "/DONE") then
    local f = M.read(gd, dir .. "/failed.json", M.caps.failed)
    if f and type(f.reason) == "string" then return nil, "failed: " .. f.reason end
    return nil, "unfinished"
  end
  local rec, err = M.read(gd, dir .. "/result.json", M.caps.result)
  if not rec then return nil, "corrupt (" .. tostring(err) .. ")" end
  if type(rec.status) ~= "string" then return nil, "corrupt (" .. dir .. "/result.json: no status)" end
  if rec.kind ~= "tune" then
    local h, herr = M.read(gd, dir .. "/history.json", M.caps.history)
    if not h then return nil, "corrupt (" .. tostring(herr) .. ")" end
    rec.history = h
  end
  rec.kind = nil
  return rec
end

local function save(gd, dir, rec, kind)
  local r = { kind = kind }
  for k, v in pairs(rec) do r[k] = v end
  local history = r.history
  r.history = nil
  -- each file on disk before its rename; the directory once, so both
  -- renames are durable before DONE's
  if kind ~= "tune" then M.write(gd, dir .. "/history.json", history or { epochs = {} }, false, true) end
  M.write(gd, dir .. "/result.json", r, false, true)
  local ok, err = gd._util.sync_dir(dir .. "/result.json")
  if ok then ok, err = gd._util.write_file(dir .. "/DONE", "done\n") end
  if not ok then error(err, 0) end
end

-- ------------------------------------------------------------------------
-- The worker: gradus trial FILE...

local trial_keys = { format = true, version = true, id = true, kind = true, variant = true,
                     seed = true, lr = true, cfg = true, fork = true, plugins = true,
                     threads = true, checkpoint_every = true, metric = true }
-- a tuning trial's metric (gd.compare's tune.metric; the objective when absent)
local tune_metrics = { val_loss = true, val_accuracy = true, train_loss = true }

local function check_trial(t, path)
  if type(t) ~= "table" or t.format ~= "gradus-trial" then
    error(path .. ": not a gradus trial file", 0)
  end
  if t.version ~= 1 then error(path .. ": trial format version " .. tostring(t.version)
    .. ", this gradus reads version 1", 0) end
  for k in pairs(t) do
    if not trial_keys[k] then error(path .. ": unknown key '" .. tostring(k) .. "'", 0) end
  end
  if type(t.id) ~= "string" or not t.id:match("^[%w_.-]+$") then error(path .. ": bad id", 0) end
  if t.kind ~= "run" and t.kind ~= "tune" then error(path .. ": kind must be run or tune", 0) end
  if type(t.cfg) ~= "table" then error(path .. ": no cfg", 0) end
  if t.metric ~= nil and not tune_metrics[t.metric] then
    error(path .. ": metric must be val_loss, val_accuracy or train_loss", 0)
  end
end

-- Run the trial of one file, unless it is done or another worker has it.
-- Returns "done" | "skipped" | "failed" | "interrupted", and a message.
local function run_one(gd, path, state)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local t, err = M.read(gd, path, M.caps.trial, true)
  if t then
    local ok, cerr = pcall(check_trial, t, path)
    if not ok then t, err = nil, cerr end
  end
  if not t then return "failed", tostring(err) end
  local got, lock = pcall(gd._util.lock, dir .. "/trial", "trial " .. t.id)
  if not got then
    if tostring(lock):find("in use by", 1, true) then return "skipped", t.id .. ": held by another worker" end
    return "failed", t.id .. ": " .. tostring(lock)
  end
  if M.load(gd, dir) then
    lock:release()
    return "skipped", t.id .. ": done already"
  end
  os.remove(dir .. "/DONE")
  os.remove(dir .. "/failed.json")
  gd._util.log_to(dir .. "/log")
  local ok, res = pcall(function()
    -- the plugins are checked, never loaded from the file: a trial file
    -- cannot make a worker run code (the sweep gives them with -l)
    for _, file in ipairs(type(t.plugins) == "table" and t.plugins or {}) do
      if not state.loaded[file] then
        error(string.format("%s: the trial needs the plugin %s, which this gradus has not loaded: "
          .. "gradus -l %s trial ...", path, tostring(file), tostring(file)), 0)
      end
    end
    if not state.threads_given and math.type(t.threads) == "integer" and t.threads >= 1 then
      gd.threads(math.min(t.threads, 4096))
    end
    local cfg = M.from_data(gd, t.cfg, path .. ": cfg", state.datasets)
    local trial = { kind = t.kind, lr = t.lr, cfg = cfg, metric = t.metric }
    if t.fork then
      if type(t.fork.path) ~= "string" then error(path .. ": fork.path must be a string", 0) end
      if t.fork.sha256 and gd._util.sha256(t.fork.path) ~= t.fork.sha256 then
        error(string.format("%s: the checkpoint %s changed since the sweep was planned: run the "
          .. "sweep again", path, t.fork.path), 0)
      end
      trial.fork = gd.fork(t.fork.path, M.from_data(gd, t.fork.overrides or {}, path, state.datasets))
    end
    -- Checkpoints for a rerun after a kill: at an epoch's end once a minute
    -- at most (the user's every when given), on SIGINT/SIGTERM, and none
    -- at the end, when result.json records the trial (measured on the
    -- quickstart grid of bench/sweep_grid.lua: the 42 checkpoints of 2.8 MB
    -- cost a tenth of the sweep).
    local ck = { path = dir .. "/run.ckpt", every = t.checkpoint_every or { epochs = 1 },
                 min_interval = t.checkpoint_every and 0 or 60, final = false, keep = 1 }
    io.stderr:write(string.format("gradus trial %s: %s, seed %d%s\n", t.id, t.variant or "?",
      t.seed or 0, t.lr and string.format(", lr %.6g", t.lr) or ""))
    local done, rec = pcall(compare.run_trial, gd, trial, ck)
    -- a checkpoint that cannot be resumed (truncated, corrupt) is set
    -- aside and the trial starts afresh
    if not done and type(rec) ~= "table" and exists(ck.path) and tostring(rec):find(ck.path, 1, true) then
      io.stderr:write("gradus trial ", t.id, ": ", tostring(rec), "; starting afresh\n")
      os.rename(ck.path, ck.path .. ".bad")
      done, rec = pcall(compare.run_trial, gd, trial, ck)
    end
    if not done then error(rec, 0) end
    if rec.status == "failed" then error(rec.error or "training failed", 0) end
    save(gd, dir, rec, t.kind)
    return rec
  end)
  io.stdout:flush()
  io.stderr:flush()
  local reason = not ok and (type(res) == "table" and tostring(res.message) or tostring(res)) or nil
  if not ok then io.stderr:write("gradus trial ", t.id, ": ", reason, "\n") end
  gd._util.log_restore()
  if ok then
    lock:release()
    return "done", t.id
  end
  local sig = type(res) == "table" and res.interrupted and math.tointeger(res.signal)
  if sig then
    lock:release()
    return "interrupted", t.id .. ": " .. reason, sig
  end
  pcall(M.write, gd, dir .. "/failed.json", { reason = reason })   -- best effort: the disk may be full
  lock:release()
  return "failed", t.id .. ": " .. reason
end

-- gradus trial FILE...: each trial not done and not taken by another
-- worker, in order; one status line per trial on stdout ("done ID",
-- "skipped ID: why", "failed ID: reason", "interrupted ID: ..."). Returns the exit
-- status: 0 when every trial is done, 128 + signal when interrupted.
function M.cli(gd, files, threads_given)
  if #files == 0 then error("trial needs trial files: gradus trial DIR/TRIAL/trial.json...", 0) end
  local state = { loaded = {}, datasets = {}, threads_given = threads_given }
  -- the sets the sweep loaded and handed over (lua/lshared_data.c): each
  -- source recipe then builds the handed-over set instead of reading files
  for _, e in ipairs(gd._util.shared_data()) do
    gd._util.rebuild_seed(M.from_data(nil, json.decode(e.key, nil, 64), "shared data"), e.ds)
  end
  for _, p in ipairs(gd.plugins.list()) do state.loaded[gd._util.realpath(p.file) or p.file] = true end
  local status = 0
  for _, path in ipairs(files) do
    local what, msg, sig = run_one(gd, path, state)
    gd._util.status(string.format("%s %s", what, msg))
    if what == "interrupted" then return 128 + sig end
    if what == "failed" then status = 1 end
  end
  return status
end

M.exists = exists
return M
