-- lua/inspect.lua: `gradus inspect FILE`, what a checkpoint or a model
-- file holds, printed for a person. The container and META are read with
-- no plugin at all (gd._inspect), so a file whose plugins are missing or
-- have changed still shows what it needs; the rest comes from a full load.
return function(gd, path)
  local out = io.stdout
  local function say(fmt, ...) out:write(string.format(fmt, ...), "\n") end
  local head = gd._inspect(path)
  say("%s: gradus %s, format version %d, %d bytes", path, head.kind, head.format_version, head.bytes)
  if head.gradus_version then
    say("written by gradus %s (plugin ABI %s) on %s (%s)", head.gradus_version, head.abi,
      os.date("!%Y-%m-%d %H:%M:%S UTC", head.written), head.reason)
  end
  local secs = {}
  for _, s in ipairs(head.sections) do secs[#secs + 1] = string.format("%s %d", s.tag, s.bytes) end
  say("sections (bytes, each with its CRC-32 checked): %s", table.concat(secs, ", "))
  say("components:")
  for _, c in ipairs(head.components or {}) do
    say("  %-12s %-14s plugin %s %s (%s)", c.kind, c.name, c.plugin, c.version, c.file)
  end

  local function spec_str(s)
    if not s then return "none" end
    return tostring(s)
  end
  if head.kind ~= "checkpoint" then
    local ok, m = pcall(gd.load_model, path)
    if not ok then say("cannot load it here: %s", m) return false end
    say("model:")
    for line in tostring(m:summary()):gmatch("[^\n]+") do say("  %s", line) end
    return true
  end
  local ok, ck = pcall(gd._checkpoint_load, path)
  if not ok then say("cannot load it here: %s", ck) return false end
  local info = ck:info()
  local cfg = ck:config()
  local spe = cfg.batch == "full" and 1 or math.ceil(info.data.size / cfg.batch)
  say("run%s: step %d, epoch %d of %d done%s", cfg.name and (" '" .. cfg.name .. "'") or "",
    info.step, info.epoch, info.epochs,
    info.position > 0 and string.format(" + %d of %d samples of epoch %d", info.position,
      info.data.size, info.epoch + 1) or "")
  say("  %d steps per epoch (batch %s), seed %d, schedule horizon %d epochs",
    spe, tostring(cfg.batch), info.seed, info.horizon_epochs)
  say("  loss %s", spec_str(cfg.loss))
  say("  optimizer %s, state since step %d: %d slot(s) of %d values, %d scalar(s)",
    spec_str(cfg.optimizer), info.optimizer_since, info.optimizer_slots, info.parameters,
    info.optimizer_scalars)
  say("  schedule %s", spec_str(cfg.schedule))
  for _, r in ipairs(cfg.regularizers) do say("  regularizer %s", spec_str(r)) end
  if cfg.clip then
    say("  clip %s", cfg.clip.norm and ("norm " .. cfg.clip.norm) or ("value " .. cfg.clip.value))
  end
  if cfg.monitor then say("  monitor every %d steps (%d records)", cfg.monitor.every, info.telemetry_records) end
  if cfg.diverge then
    say("  diverges when a step's loss exceeds %g x the first step's (%s)", cfg.diverge.factor,
      info.first_loss and string.format("%.4g", info.first_loss) or "not taken yet")
  else
    say("  no loss-exploded check (diverge = false, or a version 1 file)")
  end
  if cfg.early_stopping then
    local es = cfg.early_stopping
    say("  early stopping: patience %d, min_delta %g, restore_best %s%s", es.patience, es.min_delta,
      tostring(es.restore_best), info.best_epoch and string.format("; best val_loss %.4f at epoch %d",
        info.best_val_loss, info.best_epoch) or "")
  end
  if cfg.checkpoint then
    local c = cfg.checkpoint
    local every = type(c.every) == "table" and (c.every.epochs .. " epoch(s)")
      or c.every and (c.every .. " steps") or "end only"
    say("  checkpoints: %s every %s, keeping %d", c.path, every, c.keep)
  end
  local function data_str(d)
    return string.format("%d samples x %d features, %s, CRC-32 %08x", d.size, d.features,
      d.classes > 0 and (d.classes .. " classes") or ("regression, " .. d.target_width .. " targets"), d.crc)
  end
  say("data: %s (%s)", data_str(info.data),
    cfg.data_recipe and "rebuilt on resume" or "built from Lua values: resume needs it given again")
  if info.validation then say("validation: %s", data_str(info.validation)) end
  say("model: %d parameters", info.parameters)
  for line in tostring(cfg.model:summary()):gmatch("[^\n]+") do say("  %s", line) end
  if info.last_epoch then
    local e = info.last_epoch
    say("history: %d epoch(s); last: epoch %d train_loss %.4f%s%s lr %.3g", info.history_epochs,
      e.epoch, e.train_loss, e.val_loss and string.format(" val_loss %.4f", e.val_loss) or "",
      e.val_accuracy and string.format(" val_acc %.4f", e.val_accuracy) or "", e.lr)
  else
    say("history: no epoch finished yet")
  end
  say("resume: gd.resume(%q)%s", path, info.epoch >= info.epochs and
    string.format("  (finished: give { epochs = N } with N > %d to train on)", info.epochs) or "")
  return true
end
