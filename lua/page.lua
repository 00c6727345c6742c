-- lua/page.lua: index.html, the report as one self-contained page (embedded).
--
-- Everything is inline: the CSS, the SVG plots (both scales of each, the
-- other hidden by CSS) and a few lines of script for the scale buttons and
-- the variant check boxes, which stay hidden when scripts are off; the
-- page reads the same without them. Nothing is fetched from anywhere.
local plots = require "gradus.plots"

local M = {}

local function h(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&#39;" }))
end
M.escape = h

-- A name (a variant's, a layer's, a path) as its own bidi run: a U+202E
-- in it cannot reverse the text after it.
local function name(s) return "<bdi>" .. h(s) .. "</bdi>" end

local style = [[
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { padding: 0.25em 0.7em; text-align: left; }
#summary td { white-space: nowrap; }
thead th { border-bottom: 2px solid #999; } tbody tr { border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; vertical-align: -0.1em; }
.caution { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.4em 0.8em; }
.lead, .note { color: #555; } code, .mono { font-family: ui-monospace, monospace; font-size: 0.9em; }
figure { margin: 1.2em 0; } figcaption { font-weight: 600; margin-bottom: 0.3em; }
figure svg { width: 100%; height: auto; max-width: 900px; display: block; }
figure[data-scale=linear] .scale-log, figure[data-scale=log] .scale-linear { display: none; }
.controls label { margin-right: 1em; white-space: nowrap; } button { margin-left: 0.8em; font-size: 0.8em; }
td.hash { font-family: ui-monospace, monospace; font-size: 0.8em; word-break: break-all; }
]]

-- Variant check boxes and scale buttons: shown and wired only by script.
local script = [[
document.querySelectorAll(".js").forEach(function (e) { e.hidden = false; });
document.querySelectorAll("input.variant").forEach(function (box) {
  box.addEventListener("change", function () {
    document.querySelectorAll("svg .v" + box.value).forEach(function (g) {
      g.style.display = box.checked ? "" : "none";
    });
  });
});
document.querySelectorAll("button.scale").forEach(function (b) {
  b.addEventListener("click", function () {
    var f = b.closest("figure");
    f.dataset.scale = f.dataset.scale === "log" ? "linear" : "log";
    b.textContent = f.dataset.scale === "log" ? "linear scale" : "log scale";
  });
});
]]

local function swatch(i)
  return string.format('<span class="swatch" style="background:%s"></span>', plots.palette[(i - 1) % #plots.palette + 1])
end

-- The comparison table: the cells of the text table, one row per variant.
local function summary(out, tab)
  out[#out + 1] = "<section id=\"summary\"><h2>Summary</h2>\n<table><thead><tr>"
  for _, c in ipairs(tab.head) do out[#out + 1] = "<th>" .. h(c) .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>\n"
  for i, row in ipairs(tab.rows) do
    out[#out + 1] = "<tr class=\"variant\">"
    for c, v in ipairs(row) do
      out[#out + 1] = c == 1 and ("<td>" .. swatch(i) .. name(v) .. "</td>") or ("<td class=\"num\">" .. h(v) .. "</td>")
    end
    out[#out + 1] = "</tr>\n"
  end
  out[#out + 1] = "</tbody></table>\n"
  if tab.caution then out[#out + 1] = "<p class=\"caution\">" .. h(tab.caution) .. "</p>\n" end
  out[#out + 1] = "<p class=\"note\">" .. h(tab.note) .. "</p>\n"
  local forks = {}
  for _, v in ipairs(tab.variants) do
    local r = v.runs[1]
    local f = r and r.resumed_from
    if f and f.fork then
      forks[#forks + 1] = string.format("<li><b>%s</b> forked from <code>%s</code> at epoch %s</li>",
        name(v.name), name(f.path or "a checkpoint"), h(f.epoch))
    end
  end
  if #forks > 0 then out[#out + 1] = "<ul class=\"forks\">" .. table.concat(forks) .. "</ul>\n" end
  out[#out + 1] = "</section>\n"
end

-- Every diagnosis (its message carries the rule and the numbers), once
-- per variant with the seeds it fired for; runs that did not finish.
local function diagnoses(out, variants)
  local items = {}
  for _, v in ipairs(variants) do
    local seen, order = {}, {}
    for _, r in ipairs(v.runs) do
      if r.status ~= "ok" then
        local d = r.diverged or {}
        items[#items + 1] = string.format("<li><b>%s</b>, seed %s: %s at step %s (%s)</li>", name(v.name), h(r.seed),
          h(r.status), h(d.step), name(d.what or d.layer or ""))
      end
      for _, d in ipairs(r.diagnoses or {}) do
        local key = d.kind .. (d.layer or "")
        if not seen[key] then seen[key] = { d = d, seeds = {} }; order[#order + 1] = key end
        table.insert(seen[key].seeds, tostring(r.seed))
      end
    end
    for _, key in ipairs(order) do
      local e = seen[key]
      items[#items + 1] = string.format("<li class=\"diagnosis\"><b>%s</b> (seed%s %s) <code>%s</code>: %s</li>",
        name(v.name), #e.seeds > 1 and "s" or "", h(table.concat(e.seeds, ", ")), h(e.d.kind), h(e.d.message))
    end
  end
  out[#out + 1] = "<section id=\"diagnoses\"><h2>Diagnoses</h2>\n"
  out[#out + 1] = #items > 0 and ("<ul>\n" .. table.concat(items, "\n") .. "\n</ul>\n")
    or "<p>No diagnosis fired and every run finished.</p>\n"
  out[#out + 1] = "</section>\n"
end

local function figures(out, figs, variants, why)
  out[#out + 1] = "<section id=\"plots\"><h2>Plots</h2>\n"
  if #figs == 0 then
    out[#out + 1] = "<p>" .. h(why or "no plots") .. "</p>\n</section>\n"
    return
  end
  out[#out + 1] = "<p class=\"controls js\" hidden>variants: "
  for i, v in ipairs(variants) do
    out[#out + 1] = string.format('<label><input type="checkbox" class="variant" value="%d" checked> %s%s</label>',
      i, swatch(i), name(v.name))
  end
  out[#out + 1] = "</p>\n"
  for _, f in ipairs(figs) do
    out[#out + 1] = string.format('<figure id="plot-%s" data-scale="%s"><figcaption>%s', h(f.name), f.scale, h(f.title))
    if f.svg.linear and f.svg.log then
      out[#out + 1] = string.format('<button type="button" class="scale js" hidden>%s scale</button>',
        f.scale == "log" and "linear" or "log")
    end
    out[#out + 1] = "</figcaption>\n"
    for _, s in ipairs({ "linear", "log" }) do
      if f.svg[s] then out[#out + 1] = '<div class="scale-' .. s .. '">' .. f.svg[s] .. "</div>\n" end
    end
    out[#out + 1] = "</figure>\n"
  end
  out[#out + 1] = "</section>\n"
end

local function rows(out, list)
  out[#out + 1] = "<table><tbody>\n"
  for _, r in ipairs(list) do
    out[#out + 1] = "<tr><th>" .. name(r[1]) .. "</th><td class=\"mono\">" .. name(r[2] == nil and "-" or r[2]) .. "</td></tr>\n"
  end
  out[#out + 1] = "</tbody></table>\n"
end

-- What ran: versions, threads, BLAS, the script, the seeds, each variant's
-- options and every plugin file with its SHA-256.
local function manifest(out, sources)
  out[#out + 1] = "<section id=\"manifest\"><h2>Run manifest</h2>\n"
  for _, src in ipairs(sources) do
    local m = src.manifest or {}
    if #sources > 1 then out[#out + 1] = "<h3>" .. name(src.dir) .. "</h3>\n" end
    rows(out, { { "gradus", m.gradus_version }, { "plugin ABI", m.abi }, { "threads", m.threads },
      { "BLAS", m.blas }, { "script", m.script }, { "script SHA-256", m.script_sha256 }, { "written", m.date },
      { "repeats", src.repeats }, { "seeds", table.concat(src.seeds or {}, ", ") } })
    for _, v in ipairs(src.variants or {}) do
      out[#out + 1] = "<h4>options of " .. name(v.name) .. "</h4>\n"
      local keys, list = {}, {}
      for k in pairs(v.config or {}) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do list[#list + 1] = { k, v.config[k] } end
      rows(out, list)
    end
    out[#out + 1] = "<h4>plugins</h4>\n<table><thead><tr><th>plugin</th><th>version</th><th>file</th><th>SHA-256</th></tr></thead><tbody>\n"
    for _, p in ipairs(m.plugins or {}) do
      out[#out + 1] = string.format("<tr><td>%s</td><td>%s</td><td class=\"mono\">%s</td><td class=\"hash\">%s</td></tr>\n",
        name(p.plugin), h(p.version), name(p.file), h(p.sha256))
    end
    out[#out + 1] = "</tbody></table>\n"
  end
  out[#out + 1] = "</section>\n"
end

-- page{ title =, lead =, table = { head, rows, caution, note, variants },
--       figures = { { name, title, scale, svg = { linear =, log = } } },
--       no_plots = why, sources = { { dir, manifest, repeats, seeds, variants } } }
function M.html(page)
  local out = { "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>" .. h(page.title) .. "</title>\n<style>\n" .. style .. "</style></head>\n<body>\n",
    "<h1>" .. h(page.title) .. "</h1>\n<p class=\"lead\">" .. h(page.lead) .. "</p>\n" }
  summary(out, page.table)
  diagnoses(out, page.table.variants)
  figures(out, page.figures, page.table.variants, page.no_plots)
  manifest(out, page.sources)
  out[#out + 1] = "<script>\n" .. script .. "</script>\n</body></html>\n"
  return table.concat(out)
end

-- A gnuplot SVG made fit to inline: no XML prolog, ids unique to prefix,
-- each plot element's group classed by the variant it draws ("v3").
function M.inline_svg(svg, plot, prefix)
  local start = svg:find("<svg", 1, true)
  if not start then return nil end
  svg = svg:sub(start):gsub("<title>gnuplot_plot_[^<]*</title>", "")
  svg = svg:gsub("gpPt", prefix .. "Pt"):gsub('id="gnuplot_canvas"', 'id="' .. prefix .. '_canvas"')
  svg = svg:gsub('<g id="gnuplot_plot_(%d+)(%l?)"', function(n, letter)
    local pn = plot.panels[letter == "" and 1 or letter:byte() - 96]
    local e = pn and pn.elems[tonumber(n)]
    local v = e and e.v
    return string.format('<g id="%s_plot_%s%s"%s', prefix, n, letter, v and (' class="v' .. v .. '"') or "")
  end)
  return svg
end

return M
