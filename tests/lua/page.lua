-- tests/lua/page.lua: index.html in a real headless chromium: no console
-- errors, a row per variant, every plot drawn, toggles that change the
-- drawing, a page that reads with scripts off; `gradus report` rebuilds it.
local here = arg[0]:match("^(.-)[^/]*$")
local T = dofile(here .. "support.lua")
local B = dofile(here .. "browser.lua")
local gd = T.gd

local function slurp(path) return assert(T.slurp(path), path) end

local work = T.tmpdir()
local spirals = gd.data.synthetic.spirals{ n = 300, classes = 2, noise = 0.05, seed = 3 }
local train, val = spirals:split{ validation = 100, seed = 2 }
local function compare(names)
  local variants = {}
  for _, n in ipairs(names) do
    variants[#variants + 1] = { name = n, optimizer = n == "sgd" and gd.optim.sgd{ lr = 0.1 } or gd.optim.adam{ lr = 1e-2 } }
  end
  return gd.compare{
    base = { model = gd.sequential{ gd.layer.dense{ units = 16, init = "he_normal" }, gd.layer.relu{},
                                    gd.layer.dense{ units = 2 } },
             loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = 3, batch = 25,
             monitor = { every = 2 } },
    variants = variants, repeats = 2, progress = false }
end
local dir = work .. "/report"
gd.report(compare({ "sgd", "adam" }), { dir = dir })
local html = slurp(dir .. "/index.html")
local plots = { "loss", "accuracy", "lr", "grad_norms", "update_ratios" }

T.test("the page is one file: nothing to fetch, no external script", function()
  assert(not html:find("<script[^>]*src") and not html:find("<link") and not html:find("<img"), "an external resource")
  for url in html:gmatch("https?://[^\"'%s<]+") do
    assert(url:find("^http://www%.w3%.org/"), "a network address in the page: " .. url)
  end
  assert(html:find("caution: 2 finished runs in a variant", 1, true), "the caution")
  assert(html:find("<th>diff in val_loss vs sgd</th>", 1, true), "the metric in the header")
  for _, p in ipairs(gd._util.plugins()) do
    assert(html:find(p.sha256, 1, true), "the manifest lacks " .. p.file)
  end
end)

local browser = B.open(work)

local function figure_rect(name)
  return browser:eval(([[(function () { const r = document.querySelector("#plot-%s").getBoundingClientRect();
    return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height }; })()]]):format(name))
end

T.test("the page loads with no console error and a table row per variant", function()
  browser:navigate("file://" .. dir .. "/index.html")
  local errs = browser:errors()
  assert(#errs == 0, "console: " .. table.concat(errs, "; "))
  assert(browser:eval('document.querySelectorAll("#summary tr.variant").length') == 2)
  assert(browser:eval('document.querySelector("#summary tbody td").textContent') == "sgd")
  assert(browser:eval('document.querySelectorAll("#diagnoses, #manifest").length') == 2)
end)

T.test("every plot is present and drawn in the screenshot", function()
  for _, name in ipairs(plots) do
    local r = figure_rect(name)
    assert(r.width > 400 and r.height > 250, name .. ": " .. r.width .. "x" .. r.height)
    local ink = browser:ink(r)
    -- axes, tics, key and curves: a caption alone has a few hundred pixels
    assert(ink > 0.01 * r.width * r.height, ("%s: only %d drawn pixels"):format(name, ink))
  end
end)

T.test("a variant toggled off disappears; the scale button redraws the plot", function()
  local r = figure_rect("loss")
  local before = browser:ink(r)
  browser:eval('document.querySelector("input.variant[value=\'2\']").click()')
  local off = browser:ink(r)
  assert(off < 0.9 * before, ("adam off: %d drawn pixels, %d before"):format(off, before))
  assert(browser:eval('getComputedStyle(document.querySelector("#plot-loss svg .v2")).display') == "none")
  browser:eval('document.querySelector("input.variant[value=\'2\']").click()')
  assert(browser:ink(r) == before, "adam back on")
  local scale = browser:eval('document.querySelector("#plot-loss").dataset.scale')
  browser:eval('document.querySelector("#plot-loss button.scale").click()')
  assert(browser:eval('document.querySelector("#plot-loss").dataset.scale') ~= scale)
  local other = browser:ink(figure_rect("loss"))
  assert(other ~= before, "the other scale draws the same pixels")
  assert(#browser:errors() == 0, table.concat(browser:errors(), "; "))
end)

T.test("with scripts off the page shows the same table and one scale of every plot", function()
  browser:call("Emulation.setScriptExecutionDisabled", { value = true })
  browser:navigate("file://" .. dir .. "/index.html")
  assert(browser:eval('document.querySelectorAll("#summary tr.variant").length') == 2)
  for _, name in ipairs(plots) do
    local shown = browser:eval(([[Array.from(document.querySelectorAll("#plot-%s > div"))
      .filter(function (d) { return d.getBoundingClientRect().height > 100; }).length]]):format(name))
    assert(shown == 1, name .. ": " .. shown .. " plots shown")
  end
  assert(browser:eval('document.querySelector(".controls").getBoundingClientRect().height') == 0, "controls shown")
  browser:call("Emulation.setScriptExecutionDisabled", { value = false })
end)

T.test("gradus report rebuilds the page and merges result directories", function()
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local other = work .. "/other"
  gd.report(compare({ "adam", "adam2" }), { dir = other })
  local function run(args)
    return io.popen(("'%s' report %s 2>&1; echo \"rc=$?\""):format(exe, args)):read("a")
  end
  local out = run("'" .. dir .. "'")
  assert(out == "report: " .. dir .. "/index.html\nrc=0\n", out)
  assert(slurp(dir .. "/index.html") == html, "the rebuilt page differs from gd.report's")
  out = run(("'%s' '%s'"):format(dir, other))
  assert(out:find("rc=0"), out)
  browser:navigate("file://" .. dir .. "/index.html")
  local names = browser:eval([[Array.from(document.querySelectorAll("#summary tr.variant td:first-child"))
    .map(function (td) { return td.textContent; }).join(", ")]])
  assert(names == "sgd, adam, adam (other), adam2", names)
  assert(#browser:errors() == 0, table.concat(browser:errors(), "; "))
  out = run("'" .. work .. "'")
  assert(out == "gradus: report: cannot read " .. work .. "/results.json: No such file or directory "
    .. "(expected a directory gd.report wrote)\nrc=1\n", out)
end)

local ok, err = pcall(T.run)
browser:close()  -- and removes work
if not ok then error(err, 0) end
