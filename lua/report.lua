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
local plot_scripts = require "gradus.plots"
local page = require "gradus.page"
local finite = stats.finite
local quote, isolate = plot_scripts.quote, plot_scripts.isolate

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

-- Write `text` to path atomically; errors name `who` (gd.report).
local function write_atomic(path, text, who)
  who = who or "gd.report"
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(who .. ": cannot write " .. tmp .. ": " .. tostring(err), 0) end
  local ok, werr = f:write(text)
  if ok then ok, werr = f:close() else f:close() end
  if not ok then os.remove(tmp); error(who .. ": cannot write " .. tmp .. ": " .. tostring(werr), 0) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); error(who .. ": cannot rename to " .. path .. ": " .. tostring(rerr), 0) end
  stall_point()
end
M.write_atomic = write_atomic

-- A loss in the table: 4 decimals, or 4 significant digits when huge (a
-- diverging run's 1e38 must not print as 40 digits); sign: with + or -.
local function loss_text(x, sign)
  return string.format("%" .. (sign and "+" or "") .. (math.abs(x) < 1e5 and ".4f" or ".4g"), x)
end

local function pm(mean, ci, f)
  if not finite(mean) then return "-" end
  f = f or loss_text
  if not finite(ci) then return f(mean) end
  return f(mean) .. " ± " .. f(ci)
end

-- One line when a variant has fewer than 3 finished runs, or nil.
-- Tuning whose best lr lies at the edge of its grid adds a line each.
function M.caution(results)
  local n, lines = math.huge, {}
  for _, s in ipairs(results.summary) do n = math.min(n, s.n) end
  if n < 3 then
    lines[1] = string.format("caution: %d finished run%s in a variant: confidence intervals and win rates "
      .. "from fewer than 3 seeds are not informative (use repeats >= 3)", n, n == 1 and "" or "s")
  end
  for _, v in ipairs(results.variants or {}) do
    if type(v.tune_warning) == "string" then lines[#lines + 1] = "caution: tuning of " .. v.tune_warning end
  end
  return #lines > 0 and table.concat(lines, "\n") or nil
end

-- The table's header, its rows (one per variant, as text) and the metric
-- compared: val_loss when there is a validation set, else train_loss.
-- Whether the runs are on a text set: their history records bits per character.
local function on_text(results)
  for _, v in ipairs(results.variants or {}) do
    for _, r in ipairs(v.runs or {}) do
      local e = r.history and r.history.epochs and r.history.epochs[1]
      if e and e.train_bpc then return true end
    end
  end
  return false
end

function M.cells(results)
  local has_val = false
  for _, s in ipairs(results.summary) do if finite(s.mean.val_loss) then has_val = true end end
  local obj = has_val and "val_loss" or "train_loss"
  -- on a text set, bits per character (loss / ln 2: the mean and CI scale alike)
  local bpc = on_text(results) and (has_val and "val_bpc" or "train_bpc")
  local head = { "variant", "runs", obj .. " (mean ± 95% CI)",
                 bpc or (has_val and "val_accuracy" or ""),
                 "diff in " .. obj .. " vs " .. isolate(results.summary[1].name), "win rate", "seconds", "lr" }
  local rows = {}
  for i, s in ipairs(results.summary) do
    rows[#rows + 1] = {
      s.name,
      string.format("%d%s%s", s.n, s.diverged > 0 and string.format(" (+%d diverged)", s.diverged) or "",
        (s.missing or 0) > 0 and string.format(" (+%d failed or missing)", s.missing) or ""),
      pm(s.mean[obj], s.ci95[obj]),
      bpc and pm(s.mean[obj] / math.log(2), s.ci95[obj] / math.log(2), function(x) return string.format("%.4f", x) end)
        or (has_val and pm(s.mean.val_accuracy, s.ci95.val_accuracy, function(x) return string.format("%.4f", x) end) or ""),
      i == 1 and "(reference)" or (finite(s.diff[obj]) and (loss_text(s.diff[obj], true)
        .. (finite(s.diff_ci95[obj]) and " ± " .. loss_text(s.diff_ci95[obj]) or "")) or "-"),
      i == 1 and "" or (finite(s.win_rate) and string.format("%.0f%%", 100 * s.win_rate) or "-"),
      num(s.mean.seconds, "%.1f"),
      s.lr and string.format("%.3g", s.lr) or "",
    }
  end
  return head, rows, obj
end

-- The aligned table: one row per variant, then the caution if any.
function M.table(results)
  local head, body = M.cells(results)
  local rows = { head }
  for _, r in ipairs(body) do rows[#rows + 1] = r end
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
  local caution = M.caution(results)
  return table.concat(lines, "\n") .. "\n" .. (caution and caution .. "\n" or "")
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

-- gnuplot reads its script from a private temporary file and writes each
-- figure to its stdout after a marker line; the figures are then written
-- like every other file. So no path reaches gnuplot, and no user text but
-- single-quoted strings (plots.quote). figures: { { terminal =, body = } };
-- returns each one's bytes, or nil where gnuplot did not finish it.
local function draw(figures)
  local tag = string.format("@@gradus-figure-%s-%x", tostring({}):match("(%x+)$") or "", math.random(0, 1 << 40))
  local parts = {}
  for i, f in ipairs(figures) do
    parts[i] = string.format("set print \"-\"\nprint \"\\n%s %d\"\nset terminal %s\nset output\n%s\nunset output\nreset\n",
      tag, i, f.terminal, f.body)
  end
  parts[#parts + 1] = string.format("set print \"-\"\nprint \"\\n%s end\"\n", tag)
  local tmp = os.tmpname()
  local fh = io.open(tmp, "wb")
  if not fh then return {} end
  local ok = fh:write(table.concat(parts))
  fh:close()
  -- gnuplot's warnings (an empty y range for a constant lr, ...) are not
  -- the user's business; a plot it failed to draw is reported by name.
  local pipe = ok and io.popen("gnuplot '" .. tmp .. "' 2>/dev/null", "r")
  local text = pipe and pipe:read("a") or ""
  if pipe then pipe:close() end
  os.remove(tmp)
  local out, at = {}, 1
  for i = 1, #figures do
    local a, b = text:find("\n" .. tag .. " " .. i .. "\n", at, true)
    if not a then break end
    local stop = text:find("\n" .. tag .. " ", b, true)
    if not stop then break end
    local bytes = text:sub(b + 1, stop - 1)
    -- a figure gnuplot stopped drawing is not kept
    if bytes:find("^\x89PNG") and bytes:find("IEND\xae\x42\x60\x82$") or bytes:find("</svg>%s*$") then
      out[i] = bytes
    end
    at = stop
  end
  return out
end

local function terminal(kind, size, font)
  return string.format(kind == "png" and "pngcairo noenhanced size %s font 'sans,%d'"
    or "svg noenhanced size %s dynamic font 'sans,%d'", size or "900,560", font or 10)
end

-- The report's plot files, PNG and SVG, into dir; returns their paths.
local function plots(results, dir)
  local figures, paths = {}, {}
  for _, p in ipairs(plot_scripts.all(results)) do
    local body = plot_scripts.script(p)
    for _, kind in ipairs({ "png", "svg" }) do
      figures[#figures + 1] = { terminal = terminal(kind, p.size), body = body }
      paths[#paths + 1] = dir .. "/" .. p.name .. "." .. kind
    end
  end
  if #figures == 0 then return {} end
  local drawn, out = draw(figures), {}
  for i, path in ipairs(paths) do
    if drawn[i] then
      write_atomic(path, drawn[i])
      out[#out + 1] = path
    else
      io.stderr:write("gd.report: gnuplot did not draw ", path, "\n")
    end
  end
  return out
end

-- ------------------------------------------------------------------------
-- index.html
-- ------------------------------------------------------------------------

local captions = { loss = "Loss", accuracy = "Validation accuracy", lr = "Learning rate",
  tuning = "Tuning: the metric against lr (tuning seeds)",
  grad_norms = "Gradient norm per layer", update_ratios = "Update ratio (update / parameter norm) per layer",
  probe_sharpness = "Sharpness against 2/lr", probe_trace = "Hessian trace",
  probe_noise_scale = "Gradient noise scale against the batch size",
  probe_distance = "Distance from the initial weights", probe_alpha = "Step quality (alpha)" }

-- The page's plots at both scales, drawn by one gnuplot writing to its
-- stdout, so that nothing but index.html lands in the report directory.
local function page_figures(list)
  local figures = {}
  for i, p in ipairs(list) do
    for _, scale in ipairs({ "linear", "log" }) do
      figures[#figures + 1] = { terminal = terminal("svg", p.size, 11), body = plot_scripts.script(p, scale),
                                plot = i, scale = scale }
    end
  end
  local drawn = draw(figures)
  local figs = {}
  for i, p in ipairs(list) do
    figs[i] = { name = p.name, title = captions[p.name] or p.name, svg = {},
                scale = p.panels[1].log and "log" or "linear" }
  end
  for k, f in ipairs(figures) do
    if drawn[k] then
      figs[f.plot].svg[f.scale] = page.inline_svg(drawn[k], list[f.plot], string.format("f%d%s", f.plot, f.scale:sub(1, 3)))
    end
  end
  local out = {}
  for _, fig in ipairs(figs) do
    if not fig.svg[fig.scale] then fig.scale = fig.svg.linear and "linear" or "log" end
    if fig.svg[fig.scale] then out[#out + 1] = fig end
  end
  return out
end

local function source(doc, dir)
  return { dir = dir, manifest = doc.manifest, repeats = doc.repeats, seeds = doc.seeds, variants = doc.variants }
end

-- The page of a report document (results.json, read back) and its sources.
local function page_html(doc, sources, with_plots)
  local results = { summary = doc.summary, variants = doc.variants }
  local head, rows, obj = M.cells(results)
  local figs, why = {}, nil
  if not with_plots then why = "no plots: they were turned off (plots = false)"
  elseif not gnuplot_available() then why = "no plots: gnuplot is not installed (Debian package gnuplot-nox)"
  else
    -- a results.json handed over may hold what no plot can draw: the page says so
    local ok, list = pcall(plot_scripts.all, results)
    if ok then figs = page_figures(list)
    else why = "no plots: the results hold values no plot can draw (" .. tostring(list) .. ")" end
  end
  local names, seeds = {}, {}
  for _, v in ipairs(doc.variants) do names[#names + 1] = isolate(v.name) end
  for _, s in ipairs(doc.seeds or {}) do seeds[#seeds + 1] = tostring(s) end
  local ref = isolate(doc.variants[1].name)
  return page.html{
    -- a long list of names belongs in the table, not the title
    title = "gradus report: " .. (#names <= 4 and table.concat(names, ", ")
      or string.format("%s, ... (%d variants)", table.concat(names, ", ", 1, 3), #names)),
    lead = string.format("%d variant%s, %d seed%s each (%s); compared on %s (lower is better), paired by seed "
      .. "against %s%s.", #names, #names == 1 and "" or "s", #seeds, #seeds == 1 and "" or "s",
      table.concat(seeds, ", "), obj, ref, #sources > 1 and (", merged from " .. #sources .. " result directories") or ""),
    table = { head = head, rows = rows, caution = M.caution(results), variants = doc.variants,
      note = string.format("mean ± 95%% CI over seeds (Student t); diff: the per-seed difference to %s, mean ± "
        .. "95%% CI; win rate: the share of seeds where the variant's %s is below %s's (ties count half, "
        .. "a diverged run loses).", ref, obj, ref) },
    figures = figs, no_plots = why, sources = sources,
  }
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

-- An option's value as text: a plain table (monitor = { every = 5 }) by
-- its fields, anything else as it prints.
local function describe_value(v)
  if type(v) ~= "table" or getmetatable(v) then return tostring(v) end
  local keys, parts = {}, {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    parts[#parts + 1] = (math.type(k) and "" or (tostring(k) .. " = "))
      .. (type(x) == "string" and string.format("%q", x) or type(x) == "table" and describe_value(x) or tostring(x))
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function describe_config(cfg)
  local out = {}
  for k, v in pairs(cfg) do
    local t = type(v)
    if t == "number" or t == "string" or t == "boolean" then out[k] = v
    elseif t == "userdata" or t == "table" then out[k] = describe_value(v)
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
                  diagnoses = r.diagnoses, steps = r.steps, seconds = r.seconds, history = r.history,
                  steps_per_epoch = r.steps_per_epoch, resumed_from = r.resumed_from }
    end
    doc.variants[i] = { name = v.name, lr = v.lr, tuning = v.tuning, tune_seeds = v.tune_seeds,
                        tune_metric = v.tune_metric, tune_warning = v.tune_warning,
                        config = describe_config(v.config), runs = runs }
  end
  local text = json.encode(doc)
  write_atomic(dir .. "/results.json", text .. "\n")
  local files = { dir .. "/summary.csv", dir .. "/history.csv", dir .. "/results.json" }
  if opts.plots == false then
    -- nothing
  elseif gnuplot_available() then
    for _, f in ipairs(plots(results, dir)) do files[#files + 1] = f end
  else
    io.stderr:write("gd.report: no plots: gnuplot is not installed (Debian package gnuplot-nox); "
      .. "the data files are written\n")
  end
  -- the page is drawn from the saved results, as `gradus report` draws it
  local saved = json.decode(text)
  write_atomic(dir .. "/index.html", page_html(saved, { source(saved, dir) }, opts.plots ~= false))
  files[#files + 1] = dir .. "/index.html"
  return files
end

function M.report(gd, results, opts)
  if type(results) ~= "table" or not results.summary then
    error("gd.report: expected the result of gd.compare", 2)
  end
  opts = gd._options("gd.report", opts)   -- the table of lua/lapi.c
  io.stdout:write(M.table(results))
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do
      if r.status ~= "ok" then
        io.stdout:write(string.format("  %s, seed %d: %s\n", v.name, r.seed,
          require("gradus.compare").describe_run(r)))
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

-- gd.report's files in opts.dir, nothing on stdout (gradus benchmark's
-- per-problem pages).
function M.report_quiet(gd, results, opts)
  return in_place(gd, opts.dir, function(tmp) return write_files(gd, results, opts, tmp) end)
end
M.draw = draw
M.gnuplot_available = gnuplot_available

-- ------------------------------------------------------------------------
-- gradus report DIR [DIR...]
-- ------------------------------------------------------------------------

-- results.json as data: a regular file (never a FIFO or a device), size
-- capped, nesting bounded (gd._util.read_file, lua/lsweep.c).
local function read_results(gd, dir)
  local path = dir .. "/results.json"
  local text, err = gd._util.read_file(path, 256 << 20)
  if not text then error("report: cannot read " .. tostring(err) .. " (expected a directory gd.report wrote)", 0) end
  local ok, doc = pcall(json.decode, text, nil, 64)
  if not ok then error("report: " .. path .. " is not JSON: " .. doc, 0) end
  if type(doc) ~= "table" or type(doc.variants) ~= "table" or #doc.variants == 0 or type(doc.summary) ~= "table" then
    error("report: " .. path .. " holds no variants (not a results.json of gd.report)", 0)
  end
  for _, v in ipairs(doc.variants) do
    if type(v.runs) ~= "table" or #v.runs == 0 then error("report: " .. path .. ": variant '" .. tostring(v.name) .. "' has no runs", 0) end
  end
  return doc
end

-- Several results in one document: the variants one after the other (a
-- name seen before gets its directory added), summarized again against
-- the first; each keeps the lr its own summary gave it.
local function merge(docs, dirs)
  local compare = require "gradus.compare"
  local out, seen, lrs = { variants = {}, seeds = docs[1].seeds }, {}, {}
  for d, doc in ipairs(docs) do
    for i, v in ipairs(doc.variants) do
      if seen[v.name] then v.name = v.name .. " (" .. (dirs[d]:match("([^/]+)/*$") or dirs[d]) .. ")" end
      seen[v.name] = true
      for _, r in ipairs(v.runs) do
        r.metrics = r.metrics or {}
        for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy", "seconds" }) do r.metrics[k] = r.metrics[k] or 0 / 0 end
      end
      out.variants[#out.variants + 1] = v
      lrs[#out.variants] = doc.summary[i] and doc.summary[i].lr
    end
  end
  out.summary = compare.summarize(out.variants, out.variants[1])
  for i, s in ipairs(out.summary) do s.lr = lrs[i] or s.lr end
  return out
end

-- Rebuilds the first directory's index.html from the saved results of all.
function M.cli(gd, ...)
  local dirs = { ... }
  if #dirs == 0 then error("report needs a directory gd.report wrote: gradus report DIR [DIR...]", 0) end
  -- a gradus benchmark directory: its leaderboard and problem pages again
  -- (read as results.json always is: a regular file, capped, never a FIFO)
  local text = #dirs == 1 and gd._util.read_file(dirs[1] .. "/results.json", 256 << 20)
  if text then
    local ok, doc = pcall(json.decode, text, nil, 64)
    if ok and type(doc) == "table" and doc.kind == "gradus benchmark" then
      return require("gradus.benchmark").rebuild(gd, dirs[1], doc)
    end
  end
  local lock <close> = gd._util.lock(dirs[1], "gradus report")   -- as gd.report does
  local docs, sources = {}, {}
  for i, d in ipairs(dirs) do
    docs[i] = read_results(gd, d)
    sources[i] = source(docs[i], d)
  end
  local doc = #docs > 1 and merge(docs, dirs) or docs[1]
  write_atomic(dirs[1] .. "/index.html", page_html(doc, sources, true))
  io.stdout:write("report: " .. dirs[1] .. "/index.html\n")
  return true
end

-- gd.plot{ series = { { x = {...}, y = {...}, label = "...", style = "lines" }, ... },
--          title =, xlabel =, ylabel =, logx =, logy =, file = "out/x.png" }

function M.plot(gd, p)
  if type(p) ~= "table" or type(p.series) ~= "table" or #p.series == 0 then
    error("gd.plot: expected { series = { { x =, y =, label = }, ... }, file = }", 2)
  end
  p = gd._options("gd.plot", p)   -- the tables of lua/lapi.c
  if not p.file:match("%.png$") and not p.file:match("%.svg$") then
    error("gd.plot: 'file' must be a path ending in .png or .svg", 2)
  end
  local series = {}
  for i, s in ipairs(p.series) do
    if type(s) ~= "table" then error(string.format("gd.plot: series %d must be a table, got %s", i, type(s)), 2) end
    local named = {}   -- a bare list is y alone
    for k, v in pairs(s) do if not math.type(k) then named[k] = v end end
    series[i] = gd._options("gd.plot: series", named, "gd.plot: series " .. i)
    series[i].y = s.y or s
  end
  p.series = series
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
      blocks[#blocks + 1] = plot_scripts.datablock("s" .. i, rows)
      plots_[#plots_ + 1] = string.format("$s%d using 1:2 with %s %s title %s", i,
        s.style or "lines", plot_scripts.style(i, 2), quote(plot_scripts.isolate(s.label or ("series " .. i))))
    end
  end
  if #plots_ == 0 then error("gd.plot: no finite points to draw", 2) end
  local body = table.concat(blocks) .. string.format(
    "set title %s\nset xlabel %s\nset ylabel %s\nset grid\nset key outside right\n%s%splot %s\n",
    quote(p.title or ""), quote(p.xlabel or ""), quote(p.ylabel or ""),
    p.logx and "set logscale x\nset format x \"%g\"\n" or "",
    p.logy and "set logscale y\nset format y \"%g\"\n" or "", table.concat(plots_, ", \\\n  "))
  local drawn = draw({ { terminal = terminal(p.file:match("%.(%a+)$")), body = body } })[1]
  if not drawn then
    io.stderr:write("gd.plot: gnuplot did not draw ", p.file, "\n")
    return nil
  end
  write_atomic(p.file, drawn, "gd.plot")
  return p.file
end

return M
