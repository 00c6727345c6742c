-- lua/plots.lua: the gnuplot scripts of gd.report's plots (embedded).
--
-- A plot is its data blocks and one or more panels. A panel keeps every y
-- value it draws, so its y axis is fitted to them: log only when they span
-- more than a decade (the learning rate: log whenever it can), and every
-- guide line lies inside. M.script(plot, scale) writes the plot at its own
-- scale or forced to "linear" or "log" (the page offers both). Each plot
-- element records the variant it draws, so the page can toggle variants.
-- Data blocks hold x, the mean over seeds, min, max, then one column per
-- seed: what a plot shows can be checked against the runs.
local stats = require "gradus.stats"
local finite = stats.finite

local M = {}

M.palette = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf" }
-- Line styles as well as colours: with equal curves, the later (thinner,
-- dashed) one lies on the earlier and both show.
local dashes = { "1", "(9,4)", "(3,3)", "(10,3,2,3)", "(14,4,2,4,2,4)", "(5,6)" }
local filled, open = { 7, 5, 9, 13, 11, 15 }, { 6, 4, 8, 12, 10, 14 }

local function pick(list, i) return list[(i - 1) % #list + 1] end

-- gnuplot style of variant i: colour, dash type, line width.
function M.style(i, lw)
  return string.format("lc rgb \"%s\" dt %s lw %.2g", pick(M.palette, i), pick(dashes, i),
    (lw or 2.6) * math.max(0.5, 1 - 0.15 * (i - 1)))
end

-- Every text gnuplot reads from a name, a label or a path goes through
-- M.quote: a single-quoted gnuplot string, which gnuplot never evaluates
-- (a double-quoted one runs `backquoted` shell commands), its quotes
-- doubled. A line break would end the command, so control characters
-- become spaces; invalid UTF-8 becomes U+FFFD (the SVG must stay valid);
-- a name holding bidi controls (U+202E ...) is isolated (U+2068 .. U+2069)
-- so it cannot reverse the text around it. Terminals run with noenhanced
-- text, so names print as they are.
local bidi = { "\u{200E}", "\u{200F}", "\u{061C}", "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}",
               "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}" }

function M.text(s)
  s = tostring(s):gsub("%c", " ")
  local out, i = {}, 1
  while true do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = s:sub(i); break end
    out[#out + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

-- A name as M.text, isolated when it holds a bidi control.
function M.isolate(s)
  s = M.text(s)
  for _, c in ipairs(bidi) do
    if s:find(c, 1, true) then return "\u{2068}" .. s .. "\u{2069}" end
  end
  return s
end
local iso = M.isolate

function M.quote(s) return "'" .. M.text(s):gsub("'", "''") .. "'" end
local quote = M.quote

-- A name as a plot shows it: isolated, at most 40 characters (its start
-- and end kept); the page's table has it whole.
local SHORT = 40
function M.short(s)
  s = M.text(s)
  local n = utf8.len(s)
  if n > SHORT then s = s:sub(1, utf8.offset(s, 28) - 1) .. "\u{2026}" .. s:sub(utf8.offset(s, n - 10)) end
  return iso(s)
end

-- The key of a panel: beside the plot for a few entries; under it, in
-- columns, for many (50 variants: the canvas grows to hold them). With
-- many, a variant is named once (its main line: validation where there
-- is one); the plot's title says which line is which. Returns the
-- "set key" command, each element's title (nil: notitle) and the rows
-- the key adds below the plot. An element's key: its name (a string),
-- false (unnamed), or nil (its cmd says notitle itself).
local KEY_BESIDE = 16
local function key_layout(pn)
  local function named(e) return e.key ~= nil and e.key ~= false end
  local keyed = 0
  for _, e in ipairs(pn.elems) do if named(e) then keyed = keyed + 1 end end
  local many = keyed > KEY_BESIDE
  local main = {}   -- variant -> its one named element when many: the first major one, else its last
  for k, e in ipairs(pn.elems) do
    if named(e) and e.v then
      local cur = main[e.v] and pn.elems[main[e.v]]
      if not cur or cur.minor then main[e.v] = k end
    end
  end
  local titles, n, widest = {}, 0, 0
  for k, e in ipairs(pn.elems) do
    if named(e) and (not many or not e.v or main[e.v] == k) then
      titles[k] = M.short(e.key) .. (many and "" or (e.suffix or ""))
      n, widest = n + 1, math.max(widest, utf8.len(titles[k]) or #titles[k])
    end
  end
  if not many then return "set key outside right\n", titles, 0 end
  local cols = math.max(1, math.floor(860 / (6.5 * widest + 60)))
  local rows = math.ceil(n / cols)
  return string.format("set key outside below center horizontal maxcols %d\n", cols), titles, rows
end

function M.datablock(name, rows)
  return "$" .. name .. " << EOD\n" .. table.concat(rows, "\n") .. "\nEOD\n"
end

-- Layer k of n along a blue (first) to red (last) ramp: depth reads as
-- colour, which a cycling palette cannot show past eight layers.
local function depth_colour(k, n)
  local h = 240 * (1 - (n > 1 and (k - 1) / (n - 1) or 0))
  local s, v = 0.85, 0.8
  local c = v * s
  local x = c * (1 - math.abs((h / 60) % 2 - 1))
  local r, g, b
  if h < 60 then r, g, b = c, x, 0 elseif h < 120 then r, g, b = x, c, 0
  elseif h < 180 then r, g, b = 0, c, x elseif h < 240 then r, g, b = 0, x, c
  else r, g, b = x, 0, c end
  local m = v - c
  return string.format("#%02x%02x%02x", math.floor((r + m) * 255 + 0.5),
    math.floor((g + m) * 255 + 0.5), math.floor((b + m) * 255 + 0.5))
end

-- Rows "x mean min max seed1 .. seedN" over a variant's runs; get(run)
-- lists a run's {x, y} points, matched across seeds by position. Also
-- returns the y values drawn: the means, and min and max for a band.
local function seed_rows(v, get, band)
  local per, n = {}, 0
  for j, r in ipairs(v.runs) do
    per[j] = get(r) or {}
    n = math.max(n, #per[j])
  end
  local rows, ys = {}, {}
  for k = 1, n do
    local vals, cols, x = {}, {}, nil
    for j = 1, #v.runs do
      local p = per[j][k]
      if p and finite(p[1]) and finite(p[2]) then   -- a handed results.json may hold anything
        vals[#vals + 1] = p[2]
        x = x or p[1]
        cols[j] = string.format("%.9g", p[2])
      else
        cols[j] = "NaN"
      end
    end
    if #vals > 0 then
      local lo, hi = math.min(table.unpack(vals)), math.max(table.unpack(vals))
      local mean = stats.describe(vals)
      rows[#rows + 1] = string.format("%.9g %.9g %.9g %.9g %s", x, mean, lo, hi, table.concat(cols, " "))
      ys[#ys + 1] = mean
      if band then ys[#ys + 1], ys[#ys + 2] = lo, hi end
    end
  end
  return rows, ys
end
M.seed_rows = seed_rows

local function epochs_of(field)
  return function(r)
    local out = {}
    for _, e in ipairs(r.history and r.history.epochs or {}) do out[#out + 1] = { e.epoch, e[field] } end
    return out
  end
end

local function append(dst, src) for _, x in ipairs(src) do dst[#dst + 1] = x end end

-- The smallest and largest finite (positive: log) values of ys.
local function bounds(ys, log)
  local lo, hi = math.huge, -math.huge
  for _, y in ipairs(ys) do
    if finite(y) and (not log or y > 0) then lo, hi = math.min(lo, y), math.max(hi, y) end
  end
  if lo > hi then return nil end
  return lo, hi
end

-- The y range of values ys: padded, on a log axis from the positive ones.
local function yrange(ys, log)
  local lo, hi = bounds(ys, log)
  if not lo then return nil end
  if log then
    local a, b = math.log(lo, 10), math.log(hi, 10)
    local pad = math.max(0.06 * (b - a), 0.05)
    return 10 ^ (a - pad), 10 ^ (b + pad)
  end
  local pad = 0.06 * (hi - lo)
  if pad == 0 then pad = math.max(0.1 * math.abs(lo), 1e-3) end
  return lo - pad, hi + pad
end
M.yrange = yrange

-- More than a decade between the smallest positive value and the largest.
local function spans_decade(ys)
  local lo, hi = bounds(ys, true)
  return lo ~= nil and hi / lo > 10
end

-- Tics of a log axis spanning less than three decades: 1, 2, 5 in each
-- (gnuplot labels only the powers of ten, which may be none).
local function log_tics(lo, hi)
  if math.log(hi / lo, 10) >= 3 then return "set ytics auto\n" end
  local t = {}
  for e = math.floor(math.log(lo, 10)), math.ceil(math.log(hi, 10)) do
    for _, m in ipairs({ 1, 2, 5 }) do
      local x = m * 10 ^ e
      if x >= lo and x <= hi then t[#t + 1] = string.format("%.3g", x) end
    end
  end
  return "set ytics (" .. table.concat(t, ", ") .. ")\n"
end

-- A dotted vertical line at each epoch where forks left their checkpoint.
local function fork_marks(results)
  local at, cmds = {}, {}
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do
      local f = r.resumed_from
      if f and f.fork and finite(f.epoch) and not at[f.epoch] then
        at[f.epoch] = true
        cmds[#cmds + 1] = string.format("set arrow from %.6g, graph 0 to %.6g, graph 1 nohead dt 3 lw 1.5 lc rgb \"gray30\"\n"
          .. "set label \"fork\" at %.6g, graph 0.96 offset 0.5,0 tc rgb \"gray30\"\n", f.epoch, f.epoch, f.epoch)
      end
    end
  end
  return table.concat(cmds)
end

local function panel(head, elems, ys, log)
  return { head = head, elems = elems, ys = ys, log = log }
end

local function epoch_head(results, title, ylabel)
  local n = 0
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do n = math.max(n, r.history and #r.history.epochs or 0) end
  end
  return fork_marks(results) .. string.format(
    "set title %s\nset xlabel \"epoch\"\nset ylabel %s\nset grid\n%sset autoscale xfix\n",
    quote(title), quote(ylabel), n <= 20 and "set xtics 1\n" or "")
end

local function seeds_note(results)
  local n = results.variants[1] and #results.variants[1].runs or 0
  return n == 1 and "1 seed" or string.format("mean over %d seeds, band: min-max", n)
end

-- Validation accuracy (or any epoch field): mean line with its band.
local function band_plot(results, name, field, title, ylabel)
  local blocks, elems, ys = {}, {}, {}
  for i, v in ipairs(results.variants) do
    local rows, y = seed_rows(v, epochs_of(field), true)
    if #rows > 0 then
      local b = name .. i
      blocks[#blocks + 1] = M.datablock(b, rows)
      append(ys, y)
      elems[#elems + 1] = { v = i, cmd = string.format("$%s using 1:3:4 with filledcurves fc rgb \"%s\" "
        .. "fs transparent solid 0.15 noborder notitle", b, pick(M.palette, i)) }
      elems[#elems + 1] = { v = i, key = v.name, cmd = string.format("$%s using 1:2 with linespoints %s pt %d ps 0.8",
        b, M.style(i), pick(filled, i)) }
    end
  end
  if #elems == 0 then return nil end
  return { name = name, blocks = table.concat(blocks),
    panels = { panel(epoch_head(results, title .. " (" .. seeds_note(results) .. ")", ylabel), elems, ys,
                     spans_decade(ys)) } }
end

-- A run's training loss at each monitored step, at x = fractional epoch.
local function step_losses(r)
  local h = r.history or {}
  local spe = r.steps_per_epoch or (h.epochs and #h.epochs > 0 and r.steps and r.steps / #h.epochs)
  local out = {}
  if not finite(spe) or spe <= 0 then return out end
  for _, s in ipairs(h.steps or {}) do
    if finite(s.step) then out[#out + 1] = { (s.step + 1) / spe, s.loss } end
  end
  return out
end

-- Loss: validation per epoch (points, band over seeds), training per
-- epoch (open points) over the training loss of every monitored step
-- (thin line); without monitored steps the epoch training loss is a line.
local function loss_plot(results)
  local blocks, elems, ys = {}, {}, {}
  local function add(b, rows, y) blocks[#blocks + 1] = M.datablock(b, rows); append(ys, y) end
  for i, v in ipairs(results.variants) do
    local srows, sy = seed_rows(v, step_losses)
    if #srows > 0 then
      add("loss_step" .. i, srows, sy)
      elems[#elems + 1] = { v = i, key = v.name, suffix = " train (per step)", minor = true,
        cmd = string.format("$loss_step%d using 1:2 with lines %s", i, M.style(i, 1.2)) }
    end
    local trows, ty = seed_rows(v, epochs_of("train_loss"))
    if #trows > 0 then
      add("loss_train" .. i, trows, ty)
      elems[#elems + 1] = { v = i, key = v.name, suffix = " train" .. (#srows > 0 and " (epoch)" or ""),
        minor = true, cmd = string.format("$loss_train%d using 1:2 with %s %s pt %d ps 1",
          i, #srows > 0 and "points" or "linespoints", M.style(i), pick(open, i)) }
    end
    local vrows, vy = seed_rows(v, epochs_of("val_loss"), true)
    if #vrows > 0 then
      add("loss_val" .. i, vrows, vy)
      elems[#elems + 1] = { v = i, cmd = string.format("$loss_val%d using 1:3:4 with filledcurves fc rgb \"%s\" "
        .. "fs transparent solid 0.15 noborder notitle", i, pick(M.palette, i)) }
      elems[#elems + 1] = { v = i, key = v.name, suffix = " validation", cmd = string.format(
        "$loss_val%d using 1:2 with linespoints %s pt %d ps 0.9", i, M.style(i), pick(filled, i)) }
    end
  end
  if #elems == 0 then return nil end
  local head = epoch_head(results, "loss (" .. seeds_note(results) .. "; thin: training loss per monitored step)", "loss")
  return { name = "loss", blocks = table.concat(blocks), panels = { panel(head, elems, ys, spans_decade(ys)) } }
end

-- Per-layer series over monitored steps, one panel per variant: the mean
-- over seeds of each layer with its band, and the guides.
local function layer_plot(results, name, field, title, guides)
  local blocks, panels = {}, {}
  for i, v in ipairs(results.variants) do
    local r = v.runs[1]
    local steps = r and r.history and r.history.steps or {}
    local layers = {}
    for li, l in ipairs(steps[1] and steps[1].layers or {}) do
      if finite(l[field]) then layers[#layers + 1] = { li, l.name } end
    end
    local elems, ys = {}, {}
    local every = math.max(1, math.ceil(#layers / 12))   -- a deep model's key names some layers
    for k, l in ipairs(layers) do
      local rows, y = seed_rows(v, function(run)
        local out = {}
        for _, s in ipairs(run.history and run.history.steps or {}) do
          out[#out + 1] = { s.step, s.layers[l[1]] and s.layers[l[1]][field] }
        end
        return out
      end, true)
      if #rows > 0 then
        local b = string.format("%s%d_%d", name, i, l[1])
        blocks[#blocks + 1] = M.datablock(b, rows)
        append(ys, y)
        local c = depth_colour(k, #layers)
        elems[#elems + 1] = { v = i, cmd = string.format("$%s using 1:3:4 with filledcurves fc rgb \"%s\" "
          .. "fs transparent solid 0.15 noborder notitle", b, c) }
        local named = k == 1 or k == #layers or (k - 1) % every == 0
        elems[#elems + 1] = { v = i, key = named and l[2], cmd = string.format("$%s using 1:2 with lines lw 1.5 lc rgb \"%s\"",
          b, c) }
      end
    end
    if #elems > 0 then
      for _, g in ipairs(guides or {}) do
        ys[#ys + 1] = g[1]
        elems[#elems + 1] = { key = g[2], cmd = string.format("%g with lines dt 2 lw 1.5 lc rgb \"#555555\"", g[1]) }
      end
      local note = #v.runs == 1 and "seed " .. tostring(r.seed) or seeds_note(results)
      local head = string.format("set title %s\nset xlabel \"step\"\nset ylabel \"\"\n"
        .. "set grid\nset autoscale xfix\n", quote(title .. ": " .. M.short(v.name) .. " (" .. note .. ")"))
      panels[#panels + 1] = panel(head, elems, ys, spans_decade(ys))
      panels[#panels].v = i
    end
  end
  if #panels == 0 then return nil end
  return { name = name, blocks = table.concat(blocks), panels = panels, size = string.format("900,%d", 120 + 300 * #panels) }
end

-- The learning rate of each variant (its first seed) on a log axis;
-- variants with the same schedule share a label naming them all.
local function lr_plot(results)
  local blocks, elems, ys, groups, order = {}, {}, {}, {}, {}
  local unit = "epoch"
  for i, v in ipairs(results.variants) do
    local r = v.runs[1]
    local h = r and r.history or {}
    local rows = {}
    local pts = (h.steps and #h.steps > 0) and h.steps or h.epochs or {}
    if pts == h.steps then unit = "step" end
    for _, p in ipairs(pts) do
      if finite(p.lr) and finite(p.step or p.epoch) then
        rows[#rows + 1] = string.format("%.9g %.9g", p.step or p.epoch, p.lr)
        ys[#ys + 1] = p.lr
      end
    end
    if #rows > 0 then
      blocks[#blocks + 1] = M.datablock("lr" .. i, rows)
      elems[#elems + 1] = { v = i, key = v.name, cmd = string.format("$lr%d using 1:2 with lines %s", i, M.style(i)) }
      local key = table.concat(rows, ";")
      if not groups[key] then groups[key] = { last = rows[#rows] }; order[#order + 1] = key end
      table.insert(groups[key], M.short(v.name))
    end
  end
  if #elems == 0 then return nil end
  local labels = {}
  for _, key in ipairs(order) do
    local g = groups[key]
    if #g > 1 then
      local x, y = g.last:match("^(%S+) (%S+)$")
      labels[#labels + 1] = string.format("set label %s at %s, %s right offset -1,0.8 tc rgb \"#333333\"\n",
        quote(table.concat(g, ", ") .. " (same lr)"), x, y)
    end
  end
  -- a schedule that ends at 0 must not stretch the axis over many decades
  local hi = -math.huge
  for _, y in ipairs(ys) do if finite(y) then hi = math.max(hi, y) end end
  local shown = {}
  for _, y in ipairs(ys) do if finite(y) and y >= 1e-5 * hi then shown[#shown + 1] = y end end
  local head = string.format("set title \"learning rate\"\nset xlabel \"%s\"\nset ylabel \"lr\"\nset grid\n"
    .. "set autoscale xfix\n%s", unit, table.concat(labels))
  local p = panel(head, elems, shown, yrange(shown, true) ~= nil)
  return { name = "lr", blocks = table.concat(blocks), panels = { p } }
end

-- A probe of run.history.probes (monitor.probes) over steps, one line per
-- variant (mean over seeds, band min-max), with a dashed guide in the
-- variant's colour: "edge" 2/lr at each probed step, "batch" the batch size.
local function probe_plot(results, field, title, guide, linear)
  local blocks, elems, ys = {}, {}, {}
  for i, v in ipairs(results.variants) do
    local rows, y = seed_rows(v, function(r)
      local out = {}
      for _, p in ipairs(r.history and r.history.probes or {}) do
        if finite(p[field]) then out[#out + 1] = { p.step, p[field] } end
      end
      return out
    end, true)
    if #rows > 0 then
      local b, c = "probe_" .. field .. i, pick(M.palette, i)
      blocks[#blocks + 1] = M.datablock(b, rows)
      append(ys, y)
      elems[#elems + 1] = { v = i, cmd = string.format("$%s using 1:3:4 with filledcurves fc rgb \"%s\" "
        .. "fs transparent solid 0.15 noborder notitle", b, c) }
      elems[#elems + 1] = { v = i, cmd = string.format("$%s using 1:2 with linespoints %s pt %d ps 0.6 title %s",
        b, M.style(i), pick(filled, i), quote(iso(v.name))) }
      if guide == "edge" then
        local g = {}
        for _, p in ipairs(v.runs[1].history.probes) do
          if finite(p[field]) and finite(p.lr) and p.lr > 0 then
            g[#g + 1] = string.format("%d %.9g", p.step, 2 / p.lr)
            ys[#ys + 1] = 2 / p.lr
          end
        end
        if #g > 0 then
          blocks[#blocks + 1] = M.datablock(b .. "_edge", g)
          elems[#elems + 1] = { v = i, cmd = string.format("$%s_edge using 1:2 with lines dt 2 lw 1.5 lc rgb \"%s\" title %s",
            b, c, quote(iso(v.name) .. ": 2/lr")) }
        end
      elseif guide == "batch" then
        local batch = v.config and math.tointeger(v.config.batch)
        if batch then
          ys[#ys + 1] = batch
          elems[#elems + 1] = { v = i, cmd = string.format("%d with lines dt 2 lw 1.5 lc rgb \"%s\" title %s",
            batch, c, quote(iso(v.name) .. ": batch " .. batch)) }
        end
      end
    end
  end
  if #elems == 0 then return nil end
  local head = string.format("set title %s\nset xlabel \"step\"\nset ylabel \"\"\nset grid\n"
    .. "set key outside right\nset autoscale xfix\n", quote(title .. " (" .. seeds_note(results) .. ")"))
  return { name = "probe_" .. field, blocks = table.concat(blocks),
           panels = { panel(head, elems, ys, not linear and spans_decade(ys)) } }
end

-- Tuning: each tuned variant's metric (mean over its tuning seeds) against
-- lr on a log axis; a diverged lr has no point.
local function tuning_plot(results)
  local blocks, elems, ys, metric = {}, {}, {}, nil
  for i, v in ipairs(results.variants) do
    local rows = {}
    for _, t in ipairs(v.tuning or {}) do
      if finite(t.lr) and finite(t.value) then
        rows[#rows + 1] = string.format("%.9g %.9g", t.lr, t.value)
        ys[#ys + 1] = t.value
      end
    end
    metric = metric or v.tune_metric
    if #rows > 0 then
      table.sort(rows, function(a, b) return tonumber(a:match("^%S+")) < tonumber(b:match("^%S+")) end)
      blocks[#blocks + 1] = M.datablock("tune" .. i, rows)
      elems[#elems + 1] = { v = i, key = v.name, cmd = string.format("$tune%d using 1:2 with linespoints %s pt 7 ps 0.8",
        i, M.style(i)) }
    end
  end
  if #elems == 0 then return nil end
  local head = string.format("set title %s\nset xlabel \"learning rate\"\nset ylabel %s\nset logscale x\n"
    .. "set format x \"%%g\"\nset grid\n", quote("final " .. tostring(metric or "objective") .. " against lr"),
    quote(tostring(metric or "objective")))
  return { name = "tuning", blocks = table.concat(blocks), panels = { panel(head, elems, ys, spans_decade(ys)) } }
end
M.tuning_plot = tuning_plot

-- Every plot of a report, in the order the page shows them.
function M.all(results)
  local list = {
    loss_plot(results),
    band_plot(results, "accuracy", "val_accuracy", "validation accuracy", "accuracy"),
    lr_plot(results),
    tuning_plot(results) or false,
    layer_plot(results, "grad_norms", "grad_norm", "gradient L2 norm per layer"),
    layer_plot(results, "update_ratios", "update_ratio", "update / parameter norm per layer",
      { { 1e-1, "1e-1" }, { 1e-2, "1e-2 (aim)" }, { 1e-4, "1e-4" } }),
    probe_plot(results, "sharpness", "sharpness: top Hessian eigenvalue (dashed: 2/lr)", "edge"),
    probe_plot(results, "trace", "Hessian trace (Hutchinson)"),
    probe_plot(results, "noise_scale", "gradient noise scale B_simple (dashed: the batch size)", "batch"),
    probe_plot(results, "distance", "distance from the start |w - w_start|"),
    probe_plot(results, "alpha", "step quality alpha (0: to the minimum, 1: overshoot, -1: too short)",
      nil, true),
  }
  local out = {}
  for i = 1, 11 do
    local p = list[i]
    if p then
      if #p.panels == 1 then
        local _, _, rows = key_layout(p.panels[1])
        if rows > 0 then p.size = string.format("900,%d", 560 + 16 * rows) end
      end
      out[#out + 1] = p
    end
  end
  return out
end

-- The script drawing plot p into the current output; scale nil keeps each
-- panel's own.
function M.script(p, scale)
  local out = { p.blocks }
  if #p.panels > 1 then out[#out + 1] = string.format("set multiplot layout %d,1\n", #p.panels) end
  for _, pn in ipairs(p.panels) do
    local log = scale == "log" or (scale == nil and pn.log)
    local lo, hi = yrange(pn.ys, log)
    out[#out + 1] = pn.head
    out[#out + 1] = (log and "set logscale y\n" or "unset logscale y\n") .. "set format y \"%g\"\n"
    if lo then
      out[#out + 1] = string.format("set yrange [%.6g:%.6g]\n", lo, hi)
      out[#out + 1] = log and log_tics(lo, hi) or "set ytics auto\n"
    end
    local key, titles = key_layout(pn)
    out[#out + 1] = key
    local cmds = {}
    for k, e in ipairs(pn.elems) do
      cmds[#cmds + 1] = e.cmd .. (titles[k] and (" title " .. quote(titles[k])) or (e.key ~= nil and " notitle" or ""))
    end
    out[#out + 1] = "plot " .. table.concat(cmds, ", \\\n  ") .. "\n"
  end
  if #p.panels > 1 then out[#out + 1] = "unset multiplot\n" end
  return table.concat(out)
end

return M
