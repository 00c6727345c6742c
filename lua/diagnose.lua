-- lua/diagnose.lua: the lecture's diagnoses from a run's history.
--
-- Each rule is stated with its thresholds, so a user can see why it fired:
--   vanishing_gradients  median over monitored steps of the first trained
--                        layer's gradient norm / the last's < 1e-3
--   blocked_gradients    that ratio < 1e-3 while a layer between the two has
--                        >= 90% dead units (median over the same steps): dead
--                        ReLUs pass no gradient (said instead of
--                        vanishing_gradients, whose "try ReLU" would not
--                        help; those layers' dead_relu is not repeated)
--   validation_diverged  the validation loss was NaN or Inf (the run
--                        diverged there, at that epoch)
--   exploding_gradients  the run diverged in a step, or the global gradient norm grew
--                        more than 1e3-fold from the first monitored steps
--                        to the last, or exceeded 1e4
--   overfitting          validation loss stayed >= 5% above its minimum for
--                        the last two epochs (or more) and ended >= 10% above
--                        it, while training loss kept falling after that
--                        epoch: one noisy epoch is not enough
--   lr_too_large         the training loss rose >= 5% above its lowest
--                        epoch, or stalled (< 1% lower than the epoch
--                        before) at chance accuracy (<= 1 / classes + 0.05),
--                        while some layer's update/weight ratio exceeded
--                        1e-1 in a monitored step (without monitoring, on
--                        the loss alone); or the run learns little (as the
--                        second underfitting rule says) while that ratio
--                        exceeded 1
--   underfitting         after >= 3 epochs, training loss fell < 10% from the
--                        first epoch and validation accuracy (if any) < 0.6;
--                        or validation accuracy < 0.6 with no gap (val_loss
--                        <= 1.05 x training loss) and the loss falling < 5%
--                        in the last epoch (a model too small to learn more)
-- The fitting rules read the data loss (history's data_loss: train_loss
-- without the regularizers' penalty).
--   update_ratio_high    a layer's update/parameter norm ratio > 1e-1 in most
--                        of the second half of monitored steps (~1% rule)
--   update_ratio_low     ... < 1e-4 in most of the second half
--   dead_relu            > 40% of a ReLU layer's units output 0 for every
--                        sample of the batch (median of the second half);
--                        He initialization is advised only where the run's
--                        model (cfg.model) does not use it already
-- From monitor.probes (run.history.probes):
--   edge_of_stability    the sharpness reached the stability threshold of the
--                        optimizer's update, 2/lr for sgd ((2 + 2·gamma)/lr
--                        for momentum), and stayed there: the median of
--                        sharpness / threshold over the second half of the
--                        sharpness records lies in [0.9, 1.1] (above 1.1:
--                        also diagnosed, "beyond the edge")
--   batch_above_noise_scale / batch_below_noise_scale
--                        the batch size is more than 10x above (below) the
--                        median gradient noise scale B_simple of the second
--                        half of its records: above, a smaller batch would
--                        take nearly as few steps for far less compute;
--                        below, doubling the batch would nearly halve the
--                        steps (McCandlish et al.'s critical batch size)
local stats = require "gradus.stats"
local finite, median = stats.finite, stats.median

local M = {}

local function second_half(steps)
  local out = {}
  for i = #steps // 2 + 1, #steps do out[#out + 1] = steps[i] end
  return out
end

local function trained_layers(steps)
  -- indices of layers that have parameters (a finite gradient norm)
  local idx = {}
  local first = steps[1]
  for i, l in ipairs(first and first.layers or {}) do
    if finite(l.grad_norm) then idx[#idx + 1] = i end
  end
  return idx
end

local function fmt(x) return string.format("%.3g", x) end

-- The layer feeding layer li that has an init option: its index and the
-- init's name, from the model spec (nil without one, e.g. a loaded model).
local function init_before(model, li)
  -- layer li counts the layers inside blocks too (depth first): the leaves
  local ok, specs = pcall(function() return model.leaves or model.layers end)
  if not ok or type(specs) ~= "table" then return nil end
  for i = li - 1, 1, -1 do
    local got, init = pcall(function() return specs[i].options.init end)
    if got and init ~= nil then return i, init.name or tostring(init) end
  end
end

local he = { he_normal = true, he_uniform = true }

-- The dead-ReLU advice, not contradicting the model: He initialization
-- only for layers fed by another init.
local function dead_advice(dead, names, model)
  local uses, all_he = {}, true
  for _, l in ipairs(dead) do
    local i, init = init_before(model, l.index)
    if not i then return "lower the learning rate, use He initialization or leaky_relu" end
    uses[#uses + 1] = string.format("%s uses %s", names[i], init)
    all_he = all_he and he[init]
  end
  if all_he then
    return "lower the learning rate or use leaky_relu (He initialization is in use: "
      .. table.concat(uses, ", ") .. ")"
  end
  return "lower the learning rate, use He initialization (" .. table.concat(uses, ", ") .. ") or leaky_relu"
end

-- The layers strictly between a and b whose units are nearly all dead
-- (median share >= 0.9 over the steps): no gradient passes them.
local function dead_between(steps, a, b)
  local out = {}
  for i = a + 1, b - 1 do
    local deads = {}
    for _, s in ipairs(steps) do
      if finite(s.layers[i].dead) then deads[#deads + 1] = s.layers[i].dead end
    end
    local d = median(deads)
    if finite(d) and d >= 0.9 then out[#out + 1] = { name = steps[1].layers[i].name, value = d, index = i } end
  end
  return out
end

local function gradients(run, out, model)
  local steps = run.history.steps or {}
  local tl = trained_layers(steps)
  if #steps > 0 and #tl >= 2 then
    local a, b = tl[1], tl[#tl]
    local ratios = {}
    for _, s in ipairs(steps) do
      local ga, gb = s.layers[a].grad_norm, s.layers[b].grad_norm
      if finite(ga) and finite(gb) and gb > 0 then ratios[#ratios + 1] = ga / gb end
    end
    local r = median(ratios)
    local blocked = finite(r) and r < 1e-3 and dead_between(steps, a, b) or {}
    if #blocked > 0 then
      local names, parts = {}, {}
      for i, l in ipairs(steps[1].layers) do names[i] = l.name end
      for _, l in ipairs(blocked) do parts[#parts + 1] = string.format("%s %.0f%%", l.name, 100 * l.value) end
      out[#out + 1] = { kind = "blocked_gradients", value = r, layer = blocked[1].name, layers = blocked,
        message = string.format(
        "gradients blocked by dead ReLUs: the share of units that output 0 for a whole batch (median) is %s "
        .. "(rule: >= 90%%), so no gradient passes: the first layer's gradient norm (%s) is %s times the last "
        .. "layer's (%s) in the median monitored step (rule: < 1e-3); %s",
        table.concat(parts, ", "), names[a], fmt(r), names[b], dead_advice(blocked, names, model)) }
    elseif finite(r) and r < 1e-3 then
      out[#out + 1] = { kind = "vanishing_gradients", value = r, message = string.format(
        "vanishing gradients: the first layer's gradient norm (%s) is %s times the last layer's "
        .. "(%s) in the median monitored step (rule: < 1e-3); try ReLU, He initialization or batch "
        .. "normalization", steps[1].layers[a].name, fmt(r), steps[1].layers[b].name) }
    end
  end
  if run.status == "diverged" and (run.diverged or {}).layer == "validation" then
    local d, ep = run.diverged, run.history.epochs or {}
    local e = ep[#ep] or {}
    out[#out + 1] = { kind = "validation_diverged", message = string.format(
      "validation diverged: %s while the training loss was %s; the model's outputs overflow on the "
      .. "validation data: check that it is scaled like the training data, or lower the learning rate",
      tostring(d.what), stats.finite(e.train_loss) and fmt(e.train_loss) or "not finite") }
    return
  end
  if run.status == "diverged" then
    local d = run.diverged or {}
    out[#out + 1] = { kind = "exploding_gradients", message = string.format(
      "exploding gradients: the run diverged at step %s (%s); lower the learning rate or clip "
      .. "gradients (clip = { norm = 5 })", tostring(d.step), tostring(d.what or d.layer)) }
    return
  end
  if #steps >= 4 then
    local k = math.max(1, #steps // 4)
    local early, late = {}, {}
    for i = 1, k do early[#early + 1] = steps[i].grad_norm end
    for i = #steps - k + 1, #steps do late[#late + 1] = steps[i].grad_norm end
    local e, l = median(early), median(late)
    local peak = 0
    for _, s in ipairs(steps) do if finite(s.grad_norm) and s.grad_norm > peak then peak = s.grad_norm end end
    if (finite(e) and finite(l) and e > 0 and l / e > 1e3) or peak > 1e4 then
      out[#out + 1] = { kind = "exploding_gradients", value = peak, message = string.format(
        "exploding gradients: the gradient norm grew from %s to %s (peak %s; rule: 1e3-fold growth "
        .. "or > 1e4); lower the learning rate or clip gradients", fmt(e), fmt(l), fmt(peak)) }
    end
  end
end

-- The epochs' training losses without the regularizers' penalty (the
-- data loss), so a penalty never reads as a gap; nil when a regularized
-- run lacks it for some epoch (those up to a resume from a checkpoint
-- older than format version 4), so no rule mixes the two.
local function data_losses(ep)
  local out, penalized, missing = {}, false, false
  for i, e in ipairs(ep) do
    out[i] = e.data_loss or e.train_loss
    if e.data_loss == nil then missing = true end
    if finite(e.penalty) and e.penalty > 0 then penalized = true end
  end
  if penalized and missing then return nil end
  return out
end

-- The largest update/weight ratio of any layer in the monitored steps.
local function peak_update_ratio(steps)
  local peak, at
  for _, s in ipairs(steps) do
    for _, l in ipairs(s.layers or {}) do
      if finite(l.update_ratio) and (not peak or l.update_ratio > peak) then peak, at = l.update_ratio, l.name end
    end
  end
  return peak, at
end

-- The number of classes of the run's training set (cfg.data), or nil.
local function classes_of(cfg)
  local ok, k = pcall(function() return cfg.data:classes() end)
  return ok and math.type(k) == "integer" and k >= 2 and k or nil
end

-- Validation accuracy < 0.6 with no gap (validation loss <= 1.05 x the
-- training loss) and the loss falling < 5% in the last epoch: the run
-- learns too little, too slowly. Returns the numbers, or nil.
local function learns_little(ep, tl)
  local n = #ep
  if n < 3 then return nil end
  local acc, vl = ep[n].val_accuracy, ep[n].val_loss
  local slow = finite(tl[n - 1]) and finite(tl[n]) and (tl[n - 1] - tl[n]) / math.abs(tl[n - 1])
  if finite(acc) and acc < 0.6 and finite(vl) and vl <= 1.05 * tl[n] and slow and slow < 0.05 then
    return { acc = acc, vl = vl, slow = slow }
  end
end

-- Too large a learning rate: the training loss rose, or stayed flat at
-- chance, while the updates were large; or it learns little while the
-- updates exceed the weights. Returns whether it fired.
local function lr_too_large(run, tl, classes, out)
  local ep = run.history.epochs
  local n = #ep
  if n < 2 or not finite(tl[n]) then return false end
  local peak, at = peak_update_ratio(run.history.steps or {})
  if peak and peak <= 1e-1 then return false end
  local low, low_at = math.huge, nil
  for i = 1, n - 1 do if finite(tl[i]) and tl[i] < low then low, low_at = tl[i], i end end
  local what
  if low_at and tl[n] >= 1.05 * low then
    what = string.format("the training loss rose from %s (epoch %d) to %s (epoch %d; rule: >= 5%% above its lowest)",
      fmt(low), low_at, fmt(tl[n]), n)
  elseif n >= 3 and classes and finite(tl[n - 1]) and tl[n] > 0.99 * tl[n - 1] then
    local acc = ep[n].val_accuracy
    if finite(acc) and acc <= 1 / classes + 0.05 then
      what = string.format("the training loss stalled at %s with validation accuracy %s, chance level for %d "
        .. "classes (rule: < 1%% lower than the epoch before, accuracy <= 1 / classes + 0.05)", fmt(tl[n]), fmt(acc), classes)
    end
  end
  local little, limit = learns_little(ep, tl), "1e-1"
  if not what and little and peak and peak > 1 then
    what, limit = string.format("the run learns little (validation accuracy %s < 0.6, the loss only %.1f%% lower "
      .. "than the epoch before)", fmt(little.acc), 100 * little.slow), "1"
  end
  if not what then return false end
  out[#out + 1] = { kind = "lr_too_large", value = peak, message = string.format(
    "learning rate too large: %s%s; lower the learning rate (3 to 10 times) or warm it up",
    what, peak and string.format(", while updates reached %s times the weights (%s; rule: update/weight ratio "
      .. "> %s in a monitored step)", fmt(peak), at, limit)
      or " (monitor = { every = n } would show the update ratios that confirm it)") }
  return true
end

local function fitting(run, out, cfg)
  local ep = run.history.epochs or {}
  local n = #ep
  local tl = data_losses(ep)
  if not tl then return end
  local data = "training loss"
  for _, e in ipairs(ep) do if finite(e.penalty) and e.penalty > 0 then data = "training data loss (penalty excluded)" end end
  if n >= 2 and finite(ep[n].val_loss) then
    local best, at = math.huge, 1
    for i, e in ipairs(ep) do if finite(e.val_loss) and e.val_loss < best then best, at = e.val_loss, i end end
    local last = ep[n]
    local prev = ep[n - 1]
    if at <= n - 2 and last.val_loss >= 1.1 * best and finite(prev.val_loss)
       and prev.val_loss >= 1.05 * best and tl[n] < tl[at] then
      out[#out + 1] = { kind = "overfitting", value = last.val_loss - tl[n],
        message = string.format("overfitting: validation loss rose from %s (epoch %d) to %s while "
          .. "%s fell to %s (gap %s); use early stopping, L2, dropout or more data",
          fmt(best), at, fmt(last.val_loss), data, fmt(tl[n]), fmt(last.val_loss - tl[n])) }
    end
  end
  if run.status ~= "ok" then return end
  if lr_too_large(run, tl, classes_of(cfg), out) then return end
  if n < 3 or not finite(tl[1]) or not finite(tl[n]) then return end
  local drop = (tl[1] - tl[n]) / math.abs(tl[1])
  local acc = ep[n].val_accuracy
  if drop < 0.1 and (not finite(acc) or acc < 0.6) then
    out[#out + 1] = { kind = "underfitting", value = tl[n], message = string.format(
      "underfitting: %s went only from %s to %s in %d epochs (rule: < 10%% drop%s); "
      .. "raise the learning rate, train longer or use a larger model", data, fmt(tl[1]),
      fmt(tl[n]), n, finite(acc) and string.format(", accuracy %s < 0.6", fmt(acc)) or "") }
    return
  end
  -- still learning, but slowly, with no gap: the model is too small
  local little = learns_little(ep, tl)
  if little then
    out[#out + 1] = { kind = "underfitting", value = tl[n], message = string.format(
      "underfitting: after %d epochs validation accuracy is %s (rule: < 0.6) with no gap (validation loss %s "
      .. "<= 1.05 x %s %s) and the loss fell only %.1f%% in the last epoch (rule: < 5%%): the model learns "
      .. "too little; use a larger model or less regularization", n, fmt(little.acc), fmt(little.vl), data,
      fmt(tl[n]), 100 * little.slow) }
  end
end

-- Per-layer rules; layers that break the same rule share one diagnosis
-- (its `layers` lists them with their values), so a deep net gives one
-- line per problem, not one per layer.
local function layers(run, out, model)
  local steps = second_half(run.history.steps or {})
  if #steps == 0 then return end
  local high, low, dead, names = {}, {}, {}, {}
  -- dead layers that blocked_gradients named already (with the same advice)
  local blocking = {}
  for _, d in ipairs(out) do
    if d.kind == "blocked_gradients" then for _, l in ipairs(d.layers) do blocking[l.name] = true end end
  end
  for i, l0 in ipairs(steps[1].layers) do
    names[i] = l0.name
    local nhigh, nlow, ratios, deads = 0, 0, {}, {}
    for _, s in ipairs(steps) do
      local l = s.layers[i]
      if finite(l.update_ratio) then
        ratios[#ratios + 1] = l.update_ratio
        if l.update_ratio > 1e-1 then nhigh = nhigh + 1 elseif l.update_ratio < 1e-4 then nlow = nlow + 1 end
      end
      if finite(l.dead) then deads[#deads + 1] = l.dead end
    end
    local r = median(ratios)
    if #ratios > 0 and nhigh > #ratios / 2 then high[#high + 1] = { name = l0.name, value = r }
    elseif #ratios > 0 and nlow > #ratios / 2 then low[#low + 1] = { name = l0.name, value = r } end
    local d = median(deads)
    if finite(d) and d > 0.4 and not blocking[l0.name] then dead[#dead + 1] = { name = l0.name, value = d, index = i } end
  end
  local function list(ls, f)
    local parts = {}
    for _, l in ipairs(ls) do parts[#parts + 1] = l.name .. " " .. f(l.value) end
    return table.concat(parts, ", ")
  end
  local function worst(ls, cmp)
    local w = ls[1].value
    for _, l in ipairs(ls) do if cmp(l.value, w) then w = l.value end end
    return w
  end
  if #high > 0 then
    out[#out + 1] = { kind = "update_ratio_high", layer = high[1].name, layers = high,
      value = worst(high, function(a, b) return a > b end), message = string.format(
      "update ratio too high: updates / weights (median) is %s (rule: > 1e-1 in most monitored "
      .. "steps, aim near 1e-2); lower the learning rate", list(high, fmt)) }
  end
  if #low > 0 then
    out[#out + 1] = { kind = "update_ratio_low", layer = low[1].name, layers = low,
      value = worst(low, function(a, b) return a < b end), message = string.format(
      "update ratio too low: updates / weights (median) is %s (rule: < 1e-4 in most monitored "
      .. "steps, aim near 1e-2); raise the learning rate or fix the initialization", list(low, fmt)) }
  end
  if #dead > 0 then
    out[#out + 1] = { kind = "dead_relu", layer = dead[1].name, layers = dead,
      value = worst(dead, function(a, b) return a > b end), message = string.format(
      "dead ReLUs: share of units that output 0 for a whole batch (median) is %s (rule: > 40%%); %s",
      list(dead, function(v) return string.format("%.0f%%", 100 * v) end), dead_advice(dead, names, model)) }
  end
end

-- The second half of the finite values of probe field `field`.
local function probe_tail(run, field)
  local xs = {}
  for _, p in ipairs(run.history.probes or {}) do
    if finite(p[field]) then xs[#xs + 1] = p end
  end
  return second_half(xs)
end

-- The stability threshold of one update of plain gradient descent with
-- this optimizer at lr (nil: no such simple threshold, e.g. adaptive ones).
local function threshold(cfg, lr)
  local opt = cfg and cfg.optimizer
  local ok, name = pcall(function() return opt.name end)
  if not ok or not finite(lr) or lr <= 0 then return nil end
  if name == "sgd" then return 2 / lr end
  if name == "momentum" then
    local okg, g = pcall(function() return opt.options.gamma end)
    if okg and finite(g) then return (2 + 2 * g) / lr end
  end
  return nil
end

local function probes(run, out, cfg)
  local tail = probe_tail(run, "sharpness")
  if #tail >= 3 then
    local ratios = {}
    for _, p in ipairs(tail) do
      local t = threshold(cfg, p.lr)
      if t then ratios[#ratios + 1] = p.sharpness / t end
    end
    if #ratios == #tail then
      local r = median(ratios)
      if r >= 0.9 then
        out[#out + 1] = { kind = "edge_of_stability", value = r, message = string.format(
          "%s the edge of stability: the sharpness is %s x the threshold %s (2/lr for sgd) over "
          .. "the second half of its records (rule: median in [0.9, 1.1]): the top curvature sits "
          .. "where the update is no longer stable along it, so the loss falls non-monotonically "
          .. "(Cohen et al.)",
          r <= 1.1 and "at" or "beyond", fmt(r), fmt(threshold(cfg, tail[#tail].lr))) }
      end
    end
  end
  tail = probe_tail(run, "noise_scale")
  local batch = cfg and math.tointeger(cfg.batch)
  if #tail >= 3 and batch then
    local b = {}
    for _, p in ipairs(tail) do b[#b + 1] = p.noise_scale end
    local ns = median(b)
    if ns > 0 and batch > 10 * ns then
      out[#out + 1] = { kind = "batch_above_noise_scale", value = batch / ns, message = string.format(
        "batch far above the noise scale: batch %d, gradient noise scale B_simple %s (median of the "
        .. "second half; rule: batch > 10 x it): a smaller batch would need nearly as few steps for "
        .. "much less computation", batch, fmt(ns)) }
    elseif ns > 0 and batch < ns / 10 then
      out[#out + 1] = { kind = "batch_below_noise_scale", value = batch / ns, message = string.format(
        "batch far below the noise scale: batch %d, gradient noise scale B_simple %s (median of the "
        .. "second half; rule: batch < it / 10): doubling the batch would nearly halve the steps",
        batch, fmt(ns)) }
    end
  end
end

-- cfg: the run's gd.train options (optional), for advice that fits them.
function M.diagnose(run, cfg)
  local out = {}
  if not run.history then return out end
  gradients(run, out, type(cfg) == "table" and cfg.model or nil)
  fitting(run, out, type(cfg) == "table" and cfg or nil)
  layers(run, out, type(cfg) == "table" and cfg.model or nil)
  probes(run, out, type(cfg) == "table" and cfg or nil)
  return out
end

return M
