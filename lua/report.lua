-- lua/report.lua: gd.report and gd.plot.
--
-- gd.report(results, { dir = "out/x" }) prints the comparison table on
-- stdout and writes summary.csv, history.csv, results.json and the plots
-- (PNG and SVG, drawn by gnuplot through a pipe). The whole report is
-- written into a temporary directory beside dir and moved into place in
-- one step (in_place), so a reader sees the old report or the new one,
-- never a mixture, whatever stops the writer; a second writer of the same
-- dir is refused while the first holds its lock.
local stats = require "gradus.stats"
local json = require "gradus.json"
local finite = stats.finite

local M = {}

local function num(x, f)
  if not finite(x) then return "" end
  return string.format(f or "%.6g", x)
end

-- A test hook (gd._util.stall_point) once a report is under way.
local stall_point = function() end

-- One CSV line, quoted as RFC 4180 says: a field holding a comma, a quote,
-- CR or LF goes in quotes, its quotes doubled. Every CSV file the report
-- writes goes through here.
local function csv_row(fields)
  local out = {}
  for i, v in ipairs(fields) do
    v = tostring(v)
    out[i] = v:find('[,"\r\n]') and ('"' .. v:gsub('"', '""') .. '"') or v
  end
  return table.concat(out, ",")
end
M.csv_row = csv_row

-- Write `text` to path atomically.
local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("gd.report: cannot write " .. tmp .. ": " .. tostring(err), 0) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp); error("gd.report: cannot write " .. tmp .. ": " .. tostring(werr), 0) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); error("gd.report: cannot rename to " .. path .. ": " .. tostring(rerr), 0) end
  stall_point()
end
M.write_atomic = write_atomic

local function pm(mean, ci, f)
  if not finite(mean) then return "-" end
  if not finite(ci) then return string.format(f, mean) end
  return string.format(f .. " ± " .. f, mean, ci)
end

-- The aligned table: one row per variant.
function M.table(results)
  local has_val = false
  for _, s in ipairs(results.summary) do if finite(s.mean.val_loss) then has_val = true end end
  local obj = has_val and "val_loss" or "train_loss"
  local head = { "variant", "runs", obj .. " (mean ± 95% CI)", has_val and "val_accuracy" or "",
                 "diff vs " .. results.summary[1].name, "win rate", "seconds", "lr" }
  local rows = { head }
  for i, s in ipairs(results.summary) do
    rows[#rows + 1] = {
      s.name,
      string.format("%d%s", s.n, s.diverged > 0 and string.format(" (+%d diverged)", s.diverged) or ""),
      pm(s.mean[obj], s.ci95[obj], "%.4f"),
      has_val and pm(s.mean.val_accuracy, s.ci95.val_accuracy, "%.4f") or "",
      i == 1 and "(reference)" or (finite(s.diff[obj]) and (string.format("%+.4f", s.diff[obj])
        .. (finite(s.diff_ci95[obj]) and string.format(" ± %.4f", s.diff_ci95[obj]) or "")) or "-"),
      i == 1 and "" or (finite(s.win_rate) and string.format("%.0f%%", 100 * s.win_rate) or "-"),
      num(s.mean.seconds, "%.1f"),
      s.lr and string.format("%.3g", s.lr) or "",
    }
  end
  local width = {}
  for _, r in ipairs(rows) do
    for c, v in ipairs(r) do width[c] = math.max(width[c] or 0, utf8.len(v) or #v) end
  end
  local lines = {}
  for ri, r in ipairs(rows) do
    local cells = {}
    for c, v in ipairs(r) do
      if width[c] > 0 then cells[#cells + 1] = v .. string.rep(" ", width[c] - (utf8.len(v) or #v)) end
    end
    lines[#lines + 1] = table.concat(cells, "  "):gsub("%s+$", "")
    if ri == 1 then lines[#lines + 1] = string.rep("-", #lines[1]) end
  end
  return table.concat(lines, "\n") .. "\n"
end

local function summary_csv(results)
  local out = { "variant,n,diverged,metric,mean,std,ci95,diff,diff_ci95,win_rate,lr" }
  for _, s in ipairs(results.summary) do
    for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy", "seconds" }) do
      out[#out + 1] = csv_row({ s.name, s.n, s.diverged, k, num(s.mean[k]), num(s.std[k]),
        num(s.ci95[k]), num(s.diff[k]), num(s.diff_ci95[k]), num(s.win_rate), num(s.lr) })
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function history_csv(results)
  local out = { "variant,seed,status,record,epoch,step,train_loss,val_loss,val_accuracy,lr,seconds,"
    .. "loss,grad_norm,clipped,effective_lr,layer,layer_grad_norm,update_ratio,act_mean,act_std,saturated,dead" }
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do
      local h = r.history or {}
      for _, e in ipairs(h.epochs or {}) do
        out[#out + 1] = csv_row({ v.name, r.seed, r.status, "epoch", e.epoch, "", num(e.train_loss),
          num(e.val_loss), num(e.val_accuracy), num(e.lr), num(e.seconds), "", "", "", "", "", "", "", "", "", "", "" })
      end
      for _, s in ipairs(h.steps or {}) do
        for _, l in ipairs(s.layers or {}) do
          out[#out + 1] = csv_row({ v.name, r.seed, r.status, "step", s.epoch or "", s.step, "", "", "",
            num(s.lr), "", num(s.loss), num(s.grad_norm), s.clipped and 1 or 0, num(s.effective_lr),
            l.name, num(l.grad_norm), num(l.update_ratio), num(l.act_mean), num(l.act_std),
            num(l.saturated), num(l.dead) })
        end
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- ------------------------------------------------------------------------
-- Plots
-- ------------------------------------------------------------------------

local function gnuplot_available()
  local ok = os.execute("command -v gnuplot >/dev/null 2>&1")
  return ok == true or ok == 0
end

-- Terminals run with noenhanced text, so names print as they are; inside
-- a gnuplot string a quote, a backslash or a line break would end it.
local function esc(s) return (tostring(s):gsub('"', "'"):gsub("\\", "\\\\"):gsub("%c", " ")) end

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

-- Per epoch over seeds: mean, min, max of field.
local function epoch_band(v, field)
  local rows, n = {}, 0
  for _, r in ipairs(v.runs) do
    if r.history and #r.history.epochs > n then n = #r.history.epochs end
  end
  for e = 1, n do
    local xs = {}
    for _, r in ipairs(v.runs) do
      local ep = r.history and r.history.epochs[e]
      if ep and finite(ep[field]) then xs[#xs + 1] = ep[field] end
    end
    if #xs > 0 then
      local lo, hi = math.huge, -math.huge
      for _, x in ipairs(xs) do lo = math.min(lo, x); hi = math.max(hi, x) end
      rows[#rows + 1] = string.format("%d %.9g %.9g %.9g", e, (stats.describe(xs)), lo, hi)
    end
  end
  return rows
end

local function datablock(name, rows)
  return "$" .. name .. " << EOD\n" .. table.concat(rows, "\n") .. "\nEOD\n"
end

local palette = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf" }

-- One plot script for both terminals; `body` draws into the current output.
local function render(dir, name, body, size)
  local files = {}
  local script = {}
  for _, t in ipairs({ { "png", "pngcairo noenhanced size " .. (size or "900,560") .. " font 'sans,10'" },
                       { "svg", "svg noenhanced size " .. (size or "900,560") .. " dynamic font 'sans,10'" } }) do
    local path = dir .. "/" .. name .. "." .. t[1]
    script[#script + 1] = string.format("set terminal %s\nset output \"%s.tmp\"\n%s\nunset output\n",
      t[2], path, body)
    files[#files + 1] = path
  end
  return table.concat(script), files
end

-- A dotted vertical line at each epoch where forks left their checkpoint,
-- then cleared (one gnuplot process draws every plot).
local function fork_marks(results)
  local at, cmds = {}, {}
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do
      local f = r.resumed_from
      if f and f.fork and not at[f.epoch] then
        at[f.epoch] = true
        cmds[#cmds + 1] = string.format("set arrow from %.6g, graph 0 to %.6g, graph 1 nohead dt 3 lw 1.5 lc rgb \"gray30\"\n"
          .. "set label \"fork\" at %.6g, graph 0.96 offset 0.5,0 tc rgb \"gray30\"\n", f.epoch, f.epoch, f.epoch)
      end
    end
  end
  return table.concat(cmds), #cmds > 0 and "unset arrow\nunset label\n" or ""
end

local function band_plot(results, field, title, ylabel, logy)
  local blocks, plots = {}, {}
  for i, v in ipairs(results.variants) do
    local rows = epoch_band(v, field)
    if #rows > 0 then
      local b = "d" .. i
      blocks[#blocks + 1] = datablock(b, rows)
      local c = palette[(i - 1) % #palette + 1]
      plots[#plots + 1] = string.format("$%s using 1:3:4 with filledcurves fc rgb \"%s\" fs transparent solid 0.18 noborder notitle", b, c)
      plots[#plots + 1] = string.format("$%s using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"%s\" title \"%s\"", b, c, esc(v.name))
    end
  end
  if #plots == 0 then return nil end
  local marks, unmark = fork_marks(results)
  return table.concat(blocks) .. marks .. string.format(
    "set title \"%s\"\nset xlabel \"epoch\"\nset ylabel \"%s\"\nset grid\nset key outside right\nset xtics 1\n%s\nplot %s\n",
    esc(title), esc(ylabel), logy and "set logscale y" or "unset logscale y", table.concat(plots, ", \\\n  ")) .. unmark
end

local function loss_plot(results)
  local blocks, plots = {}, {}
  for i, v in ipairs(results.variants) do
    local c = palette[(i - 1) % #palette + 1]
    for _, f in ipairs({ { "train_loss", "dt 2", " train" }, { "val_loss", "dt 1", " validation" } }) do
      local rows = epoch_band(v, f[1])
      if #rows > 0 then
        local b = "d" .. i .. f[1]
        blocks[#blocks + 1] = datablock(b, rows)
        plots[#plots + 1] = string.format("$%s using 1:3:4 with filledcurves fc rgb \"%s\" fs transparent solid 0.15 noborder notitle", b, c)
        plots[#plots + 1] = string.format("$%s using 1:2 with lines lw 2 %s lc rgb \"%s\" title \"%s\"", b, f[2], c, esc(v.name .. f[3]))
      end
    end
  end
  if #plots == 0 then return nil end
  local marks, unmark = fork_marks(results)
  return table.concat(blocks) .. marks .. "set title \"loss per epoch (mean over seeds, band: min-max)\"\n"
    .. "set xlabel \"epoch\"\nset ylabel \"loss\"\nset grid\nset key outside right\nset xtics 1\nset logscale y\nplot "
    .. table.concat(plots, ", \\\n  ") .. "\n" .. unmark
end

-- Per-layer series over monitored steps, one panel per variant (its first
-- seed's run): gradient norms or update ratios, log scale.
local function layer_plot(results, field, title, guides)
  local panels = {}
  for i, v in ipairs(results.variants) do
    local r = v.runs[1]
    local steps = r and r.history and r.history.steps or {}
    if #steps > 0 then
      local blocks, plots = {}, {}
      local trained = 0
      for _, l in ipairs(steps[1].layers) do
        if finite(l[field]) then trained = trained + 1 end
      end
      local k = 0
      for li, l in ipairs(steps[1].layers) do
        local rows = {}
        for _, s in ipairs(steps) do
          local x = s.layers[li][field]
          if finite(x) and x > 0 then rows[#rows + 1] = string.format("%d %.9g", s.step, x) end
        end
        if #rows > 0 then
          local b = string.format("v%dl%d", i, li)
          blocks[#blocks + 1] = datablock(b, rows)
          k = k + 1
          plots[#plots + 1] = string.format("$%s using 1:2 with lines lw 1.5 lc rgb \"%s\" title \"%s\"",
            b, depth_colour(k, trained), esc(l.name))
        end
      end
      for _, g in ipairs(guides or {}) do
        plots[#plots + 1] = string.format("%g with lines dt 2 lw 1.5 lc rgb \"#555555\" title \"%s\"", g[1], esc(g[2]))
      end
      if #plots > 0 then
        panels[#panels + 1] = table.concat(blocks) .. string.format(
          "set title \"%s: %s (seed %d)\"\nset xlabel \"step\"\nset logscale y\nset format y \"%%.0e\"\nset grid\nset key outside right\nplot %s\n",
          esc(title), esc(v.name), r.seed, table.concat(plots, ", \\\n  "))
      end
    end
  end
  if #panels == 0 then return nil, 0 end
  return string.format("set multiplot layout %d,1\n%sunset multiplot\n", #panels, table.concat(panels)), #panels
end

local function lr_plot(results)
  local blocks, plots = {}, {}
  for i, v in ipairs(results.variants) do
    local r = v.runs[1]
    local steps = r and r.history and r.history.steps or {}
    local rows = {}
    if #steps > 0 then
      for _, s in ipairs(steps) do rows[#rows + 1] = string.format("%d %.9g", s.step, s.lr) end
    elseif r and r.history then
      for _, e in ipairs(r.history.epochs) do rows[#rows + 1] = string.format("%d %.9g", e.epoch, e.lr) end
    end
    if #rows > 0 then
      blocks[#blocks + 1] = datablock("lr" .. i, rows)
      plots[#plots + 1] = string.format("$lr%d using 1:2 with lines lw 2 lc rgb \"%s\" title \"%s\"", i,
        palette[(i - 1) % #palette + 1], esc(v.name))
    end
  end
  if #plots == 0 then return nil end
  local unit = (results.variants[1].runs[1].history.steps or {})[1] and "step" or "epoch"
  return table.concat(blocks) .. string.format(
    "set title \"learning rate\"\nset xlabel \"%s\"\nset ylabel \"lr\"\nset grid\nset key outside right\nunset logscale y\nplot %s\n",
    unit, table.concat(plots, ", \\\n  "))
end

-- Run gnuplot on `script`; then move every *.tmp output into place.
local function run_gnuplot(script, files)
  -- gnuplot's warnings (an empty y range for a constant lr, ...) are not
  -- the user's business; a plot it failed to draw is reported by name.
  local p = io.popen("gnuplot 2>/dev/null", "w")
  if not p then return false, "cannot start gnuplot" end
  p:write(script)
  local ok = p:close()
  for _, f in ipairs(files) do
    local fh = io.open(f .. ".tmp", "rb")
    if fh then
      local size = fh:seek("end")
      fh:close()
      if ok and size > 0 then os.rename(f .. ".tmp", f) else os.remove(f .. ".tmp") end
    end
  end
  return ok
end

local function plots(results, dir)
  local jobs = {
    { "loss", loss_plot(results) },
    { "accuracy", band_plot(results, "val_accuracy", "validation accuracy (mean over seeds, band: min-max)", "accuracy") },
    { "lr", lr_plot(results) },
  }
  local g, ng = layer_plot(results, "grad_norm", "gradient L2 norm per layer")
  if g then jobs[#jobs + 1] = { "grad_norms", g, string.format("900,%d", 120 + 300 * ng) } end
  local u, nu = layer_plot(results, "update_ratio", "update / parameter norm per layer",
    { { 1e-1, "1e-1" }, { 1e-2, "1e-2 (aim)" }, { 1e-4, "1e-4" } })
  if u then jobs[#jobs + 1] = { "update_ratios", u, string.format("900,%d", 120 + 300 * nu) } end
  local written = {}
  local script, files = {}, {}
  for _, j in ipairs(jobs) do
    if j[2] then
      local s, f = render(dir, j[1], j[2], j[3])
      script[#script + 1] = s
      for _, x in ipairs(f) do files[#files + 1] = x; written[#written + 1] = x end
    end
  end
  if #script == 0 then return {} end
  run_gnuplot(table.concat(script, "reset\n"), files)
  local out = {}
  for _, f in ipairs(written) do
    local fh = io.open(f, "rb")
    if fh then fh:close(); out[#out + 1] = f
    else io.stderr:write("gd.report: gnuplot did not draw ", f, "\n") end
  end
  return out
end

-- ------------------------------------------------------------------------

local function manifest(gd, results)
  local util = gd._util
  local script = arg and arg[0]
  local used = {}
  for _, p in ipairs(util.plugins()) do used[#used + 1] = p end
  return {
    gradus_version = gd.version,
    abi = gd.abi,
    threads = util.threads(),
    blas = util.blas(),
    script = script,
    script_sha256 = script and util.sha256(script) or nil,
    plugins = used,
    date = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
end

local function describe_config(cfg)
  local out = {}
  for k, v in pairs(cfg) do
    local t = type(v)
    if t == "number" or t == "string" or t == "boolean" then out[k] = v
    elseif t == "userdata" or t == "table" then out[k] = tostring(v)
    end
  end
  return out
end

-- Run write(tmp) on a fresh directory beside dir, then move it into place
-- in one step (gd._util.replace_dir: an exchange, or dir.prev), all
-- under a lock on dir. Killed mid-write (SIGINT, SIGTERM, SIGKILL), it
-- leaves the old report whole; the next report removes the leftovers.
local function in_place(gd, dir, write)
  local util = gd._util
  if type(dir) ~= "string" or dir == "" then error("gd.report: 'dir' must be a non-empty string", 0) end
  util.check_path(dir, "gd.report: 'dir'")
  dir = dir:match("^(.-)/*$")
  if dir == "" then dir = "/" end
  local parent = dir:match("^(.+)/[^/]*$")
  if parent then
    local ok, err = util.mkdir_p(parent)
    if not ok then error("gd.report: cannot create directory '" .. parent .. "': " .. tostring(err), 0) end
  end
  local lock <close> = util.lock(dir, "gd.report")
  util.remove_stale(dir)
  local tmp = util.temp_dir(dir)
  stall_point = util.stall_point
  local ok, files = pcall(write, tmp)
  stall_point = function() end
  if ok then
    local moved, err = pcall(util.replace_dir, tmp, dir)
    if not moved then ok, files = false, err end
  end
  if not ok then
    util.remove_tree(tmp)
    error(tostring(files):find("^gd%.report") and files or "gd.report: " .. tostring(files), 0)
  end
  for i, f in ipairs(files) do files[i] = dir .. f:sub(#tmp + 1) end
  return files
end

-- Every file of the report, into dir.
local function write_files(gd, results, opts, dir)
  write_atomic(dir .. "/summary.csv", summary_csv(results))
  write_atomic(dir .. "/history.csv", history_csv(results))
  local doc = { manifest = manifest(gd, results), repeats = results.repeats, seeds = results.seeds,
                summary = results.summary, variants = {} }
  for i, v in ipairs(results.variants) do
    local runs = {}
    for j, r in ipairs(v.runs) do
      runs[j] = { seed = r.seed, status = r.status, metrics = r.metrics, diverged = r.diverged,
                  diagnoses = r.diagnoses, steps = r.steps, seconds = r.seconds }
    end
    doc.variants[i] = { name = v.name, lr = v.lr, tuning = v.tuning, config = describe_config(v.config), runs = runs }
  end
  write_atomic(dir .. "/results.json", json.encode(doc) .. "\n")
  local files = { dir .. "/summary.csv", dir .. "/history.csv", dir .. "/results.json" }
  if opts.plots == false then
    -- nothing
  elseif gnuplot_available() then
    for _, f in ipairs(plots(results, dir)) do files[#files + 1] = f end
  else
    io.stderr:write("gd.report: no plots: gnuplot is not installed (Debian package gnuplot-nox); "
      .. "the data files are written\n")
  end
  return files
end

function M.report(gd, results, opts)
  if type(results) ~= "table" or not results.summary then
    error("gd.report: expected the result of gd.compare", 2)
  end
  opts = opts or {}
  gd._check_keys("report", opts, "gd.report")   -- the table of lua/lapi.c
  io.stdout:write(M.table(results))
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do
      if r.status ~= "ok" then
        local d = r.diverged or {}
        io.stdout:write(string.format("  %s, seed %d: %s at step %s (%s)\n", v.name, r.seed, r.status,
          tostring(d.step), tostring(d.what or d.layer or "")))
      end
    end
    local seen = {}
    for _, r in ipairs(v.runs) do
      for _, d in ipairs(r.diagnoses or {}) do
        if not seen[d.kind .. (d.layer or "")] then
          seen[d.kind .. (d.layer or "")] = true
          io.stdout:write(string.format("  %s: %s\n", v.name, d.message))
        end
      end
    end
  end
  if not opts.dir then return nil end
  local files = in_place(gd, opts.dir, function(tmp) return write_files(gd, results, opts, tmp) end)
  io.stdout:write("report: " .. table.concat(files, ", ") .. "\n")
  return files
end

-- gd.plot{ series = { { x = {...}, y = {...}, label = "..." }, ... },
--          title =, xlabel =, ylabel =, logx =, logy =, file = "out/x.png" }
function M.plot(gd, p)
  if type(p) ~= "table" or type(p.series) ~= "table" or #p.series == 0 then
    error("gd.plot: expected { series = { { x =, y =, label = }, ... }, file = }", 2)
  end
  if type(p.file) ~= "string" or not p.file:match("%.png$") and not p.file:match("%.svg$") then
    error("gd.plot: 'file' must be a path ending in .png or .svg", 2)
  end
  if not gnuplot_available() then
    io.stderr:write("gd.plot: no plot: gnuplot is not installed (Debian package gnuplot-nox)\n")
    return nil
  end
  local dir = p.file:match("^(.*)/[^/]*$")
  if dir then
    local ok, err = gd._util.mkdir_p(dir)
    if not ok then error("gd.plot: cannot create directory '" .. dir .. "': " .. tostring(err), 2) end
  end
  local blocks, plots_ = {}, {}
  for i, s in ipairs(p.series) do
    local y = s.y or s
    if type(y) ~= "table" then error(string.format("gd.plot: series %d has no y values", i), 2) end
    local rows = {}
    for k, yv in ipairs(y) do
      local xv = s.x and s.x[k] or k
      if finite(yv) and finite(xv) and (not p.logy or yv > 0) then rows[#rows + 1] = string.format("%.9g %.9g", xv, yv) end
    end
    if #rows > 0 then
      blocks[#blocks + 1] = datablock("s" .. i, rows)
      plots_[#plots_ + 1] = string.format("$s%d using 1:2 with %s lw 2 lc rgb \"%s\" title \"%s\"", i,
        s.style or "lines", palette[(i - 1) % #palette + 1], esc(s.label or ("series " .. i)))
    end
  end
  if #plots_ == 0 then error("gd.plot: no finite points to draw", 2) end
  local term = p.file:match("%.svg$") and "svg noenhanced size 900,560 dynamic font 'sans,10'"
    or "pngcairo noenhanced size 900,560 font 'sans,10'"
  local script = table.concat(blocks) .. string.format(
    "set terminal %s\nset output \"%s.tmp\"\nset title \"%s\"\nset xlabel \"%s\"\nset ylabel \"%s\"\nset grid\nset key outside right\n%s%splot %s\nunset output\n",
    term, p.file, esc(p.title or ""), esc(p.xlabel or ""), esc(p.ylabel or ""),
    p.logx and "set logscale x\n" or "", p.logy and "set logscale y\n" or "", table.concat(plots_, ", \\\n  "))
  run_gnuplot(script, { p.file })
  return p.file
end

return M
