-- lua/diagnose.lua: the lecture's diagnoses from a run's history.
--
-- Each rule is stated with its thresholds, so a user can see why it fired:
--   vanishing_gradients  median over monitored steps of the first trained
--                        layer's gradient norm / the last's < 1e-3
--   exploding_gradients  the run diverged, or the global gradient norm grew
--                        more than 1e3-fold from the first monitored steps
--                        to the last, or exceeded 1e4
--   overfitting          validation loss stayed >= 5% above its minimum for
--                        the last two epochs (or more) and ended >= 10% above
--                        it, while training loss kept falling after that
--                        epoch: one noisy epoch is not enough
--   underfitting         after >= 3 epochs, training loss fell < 10% from the
--                        first epoch and validation accuracy (if any) < 0.6
--   update_ratio_high    a layer's update/parameter norm ratio > 1e-1 in most
--                        of the second half of monitored steps (~1% rule)
--   update_ratio_low     ... < 1e-4 in most of the second half
--   dead_relu            > 40% of a ReLU layer's units output 0 for every
--                        sample of the batch (median of the second half);
--                        He initialization is advised only where the run's
--                        model (cfg.model) does not use it already
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

local function gradients(run, out)
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
    if finite(r) and r < 1e-3 then
      out[#out + 1] = { kind = "vanishing_gradients", value = r, message = string.format(
        "vanishing gradients: the first layer's gradient norm (%s) is %s times the last layer's "
        .. "(%s) in the median monitored step (rule: < 1e-3); try ReLU, He initialization or batch "
        .. "normalization", steps[1].layers[a].name, fmt(r), steps[1].layers[b].name) }
    end
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

local function fitting(run, out)
  local ep = run.history.epochs or {}
  local n = #ep
  if n >= 2 and finite(ep[n].val_loss) then
    local best, at = math.huge, 1
    for i, e in ipairs(ep) do if finite(e.val_loss) and e.val_loss < best then best, at = e.val_loss, i end end
    local last = ep[n]
    local prev = ep[n - 1]
    if at <= n - 2 and last.val_loss >= 1.1 * best and finite(prev.val_loss)
       and prev.val_loss >= 1.05 * best and last.train_loss < ep[at].train_loss then
      out[#out + 1] = { kind = "overfitting", value = last.val_loss - last.train_loss,
        message = string.format("overfitting: validation loss rose from %s (epoch %d) to %s while "
          .. "training loss fell to %s (gap %s); use early stopping, L2, dropout or more data",
          fmt(best), at, fmt(last.val_loss), fmt(last.train_loss), fmt(last.val_loss - last.train_loss)) }
    end
  end
  if n >= 3 and finite(ep[1].train_loss) and finite(ep[n].train_loss) then
    local drop = (ep[1].train_loss - ep[n].train_loss) / math.abs(ep[1].train_loss)
    local acc = ep[n].val_accuracy
    if drop < 0.1 and (not finite(acc) or acc < 0.6) then
      out[#out + 1] = { kind = "underfitting", value = ep[n].train_loss, message = string.format(
        "underfitting: training loss went only from %s to %s in %d epochs (rule: < 10%% drop%s); "
        .. "raise the learning rate, train longer or use a larger model", fmt(ep[1].train_loss),
        fmt(ep[n].train_loss), n, finite(acc) and string.format(", accuracy %s < 0.6", fmt(acc)) or "") }
    end
  end
end

-- Per-layer rules; layers that break the same rule share one diagnosis
-- (its `layers` lists them with their values), so a deep net gives one
-- line per problem, not one per layer.
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

local function layers(run, out, model)
  local steps = second_half(run.history.steps or {})
  if #steps == 0 then return end
  local high, low, dead, names = {}, {}, {}, {}
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
    if finite(d) and d > 0.4 then dead[#dead + 1] = { name = l0.name, value = d, index = i } end
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

-- cfg: the run's gd.train options (optional), for advice that fits them.
function M.diagnose(run, cfg)
  local out = {}
  if not run.history then return out end
  gradients(run, out)
  fitting(run, out)
  layers(run, out, type(cfg) == "table" and cfg.model or nil)
  return out
end

return M
