-- lua/resume.lua: gd.resume and gd.fork, runs that continue a checkpoint.
--
-- Both read the whole checkpoint (gd._checkpoint_load checks every byte
-- before anything is built), take the run's own gd.train options from it,
-- rebuild its data from the recipes it holds (or take the data given, which
-- must have the same identity), and hand the options with the checkpoint to
-- gd._continue (lua/ltrain.c), which puts the trainer exactly where the run
-- was.
--
-- gd.resume continues the same run: only what does not change the numbers
-- may be given (a new total of epochs, callbacks, progress, where to write
-- checkpoints). gd.fork is a what-if from that state: one or more of
-- optimizer, lr, schedule, clip, regularizers, seed, monitor,
-- early_stopping changed. It returns a variant, which gd.train runs and
-- gd.compare accepts; a fork writes no checkpoints unless given its own.
local compare = require "gradus.compare"

local M = {}

-- The keys each takes: the tables of lua/lapi.c (gradus doc resume, fork).
local function set_of(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

local function check_keys(gd, what, opts, page, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", what, type(opts)), level + 1)
  end
  local names = gd._keys(page)
  local allowed, fork_allowed = set_of(names), set_of(gd._keys("fork"))
  for k in pairs(opts) do
    if not allowed[k] and (fork_allowed[k] or k == "model") then
      local hint = k == "model" and " (a run keeps its model)"
        or " (a change like that makes a new branch: use gd.fork)"
      error(string.format("%s: cannot set '%s'%s; it takes %s", what, tostring(k), hint,
        table.concat(names, ", ")), level + 1)
    end
  end
  gd._options(what, opts)   -- a typo: the one reader's message (lua/lapi.c)
  return opts
end

-- The gd.train options that continue the checkpoint at path with opts, and
-- the rest of gd._continue's arguments: the checkpoint, the mode, the path
-- and whether opts gave a number of epochs.
local function prepare(gd, path, opts, fork)
  local what = fork and "gd.fork" or "gd.resume"
  local ck = gd._checkpoint_load(path)
  local cfg = ck:config()
  local data_recipe, val_recipe, has_val = cfg.data_recipe, cfg.validation_recipe,
    cfg.has_validation
  cfg.data_recipe, cfg.validation_recipe, cfg.has_validation = nil, nil, nil
  if fork then cfg.checkpoint = nil end   -- never over the run's own files
  for k, v in pairs(opts) do
    if k ~= "lr" then cfg[k] = v end
  end
  if cfg.checkpoint == false then cfg.checkpoint = nil end
  -- A resume writes next to the file it was given (so a copy's resume
  -- leaves the original alone), never to the path the file recorded.
  local given = opts.checkpoint
  if not fork and type(cfg.checkpoint) == "table" and
      (given == nil or type(given) == "table" and given.path == nil) then
    local c = {}
    for k, v in pairs(cfg.checkpoint) do c[k] = v end
    c.path = path
    cfg.checkpoint = c
  end
  if opts.lr ~= nil then
    if type(opts.lr) ~= "number" then error(what .. ": 'lr' must be a number", 3) end
    cfg.optimizer = compare.with_lr(gd, cfg.optimizer, opts.lr)
  end
  if opts.data == nil then
    if not data_recipe then
      error(string.format("%s: %s: the run's data was built from Lua values (gd.data.tensor), "
        .. "which a checkpoint cannot rebuild; give it again: %s(path, { data = ..., "
        .. "validation = ... })", what, path, what), 3)
    end
    cfg.data = gd.data.rebuild(data_recipe)
  end
  if has_val and opts.validation == nil then
    if not val_recipe then
      error(string.format("%s: %s: the run's validation data was built from Lua values, "
        .. "which a checkpoint cannot rebuild; give it again with validation = ...", what,
        path), 3)
    end
    cfg.validation = gd.data.rebuild(val_recipe)
  end
  return cfg, ck, fork and "fork" or "resume", path, opts.epochs ~= nil
end

-- continue: gd._continue (lua/ltrain.c) with the diagnoses (lua/glue.lua).
function M.resume(gd, path, opts, continue)
  if type(path) ~= "string" then
    error("gd.resume: expects a checkpoint path, got " .. type(path), 2)
  end
  return continue(prepare(gd, path, check_keys(gd, "gd.resume", opts, "resume", 2), false))
end

local Fork = { __name = "gradus.fork" }
Fork.__index = Fork

function Fork:__tostring()
  return string.format("gd.fork(%q, %s)", self.path, self.name or "...")
end

-- Run the fork, with `extra` options on top of its own (gd.compare gives
-- the seed and progress this way).
function Fork:train(extra)
  local o = {}
  for k, v in pairs(self.overrides) do o[k] = v end
  for k, v in pairs(check_keys(self.gd, "gd.fork", extra, "fork", 2)) do o[k] = v end
  return self.run(prepare(self.gd, self.path, o, true))
end

function M.fork(gd, path, overrides, continue)
  if type(path) ~= "string" then
    error("gd.fork: expects a checkpoint path, got " .. type(path), 2)
  end
  local o = {}
  for k, v in pairs(check_keys(gd, "gd.fork", overrides, "fork", 2)) do o[k] = v end
  -- read now, so a bad file fails here rather than inside gd.compare
  local info = gd._checkpoint_load(path):info()
  return setmetatable({ gd = gd, run = continue, path = path, overrides = o, name = o.name,
    seed = info.seed, step = info.step }, Fork)
end

-- `gradus resume FILE [EPOCHS]`: continue a checkpoint from the shell and
-- say where the run ended. Returns whether it finished normally.
function M.cli(gd, path, epochs)
  local opts = {}
  if epochs then
    opts.epochs = math.tointeger(tonumber(epochs))
    if not opts.epochs or opts.epochs < 1 then
      error("gradus resume: EPOCHS must be a whole number >= 1, got '" .. epochs .. "'", 0)
    end
  end
  local run = gd.resume(path, opts)
  local last = run.history.epochs[#run.history.epochs] or {}
  local val = last.val_loss and string.format("  val_loss %.4f", last.val_loss) or ""
  local acc = last.val_accuracy and string.format("  val_acc %.4f", last.val_accuracy) or ""
  io.stdout:write(string.format("status %s after %d steps (%d epochs)  train_loss %.4f%s%s%s\n",
    run.status, run.steps, run.epochs, last.train_loss or 0 / 0, val, acc,
    run.checkpoint and ("  checkpoint " .. run.checkpoint) or ""))
  return run.status == "ok"
end

function M.is_fork(v)
  return getmetatable(v) == Fork
end

return M
