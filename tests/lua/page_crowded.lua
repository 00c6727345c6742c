-- tests/lua/page_crowded.lua: a report of 50 variants, some with names of
-- 120 characters, one with U+202E, losses of 1e38: the page never grows
-- wider than the window, the losses print compactly, every plot is drawn
-- with its key beside it or under it. (Its own file: the browser has a
-- minute per file.)
local here = arg[0]:match("^(.-)[^/]*$")
local T = dofile(here .. "support.lua")
local B = dofile(here .. "browser.lua")
local gd = T.gd

local function slurp(path) return assert(T.slurp(path), path) end
local work = T.tmpdir()
local plots = { "loss", "accuracy", "lr", "grad_norms", "update_ratios" }

-- 50 variants, some with names of 120 characters, one with U+202E, and
-- losses of 1e38 (a diverging run's): made by hand, no training.
local function crowded()
  local compare_ = require "gradus.compare"
  local variants = {}
  for i = 1, 50 do
    local name = i % 5 == 0 and ("a_variant_with_a_long_name_" .. i .. "_" .. string.rep("y", 90))
      or (i == 7 and "\u{202E}reversed" or "v" .. i)
    local runs = {}
    for s = 1, 2 do
      local ep, steps = {}, {}
      for e = 1, 3 do ep[e] = { epoch = e, train_loss = 1e38 * i / e, val_loss = 2e38 * i / e, val_accuracy = 0.5, lr = 0.1, seconds = 1 } end
      for k = 1, i <= 2 and 4 or 0 do   -- per-layer plots for two of them: one panel each
        steps[k] = { step = k * 2, loss = 1e38, lr = 0.1, grad_norm = 1, layers = {
          { name = "dense1", grad_norm = k * i, update_ratio = 0.01 }, { name = "dense2", grad_norm = 2, update_ratio = 0.02 } } }
      end
      runs[s] = { seed = s, status = "ok", metrics = { train_loss = 1e38 * i, val_loss = 2e38 * i, val_accuracy = 0.5, seconds = 1 },
                  history = { epochs = ep, steps = steps }, steps = 12, steps_per_epoch = 4 }
    end
    variants[i] = { name = name, runs = runs, config = {} }
  end
  local res = { variants = variants, repeats = 2, seeds = { 1, 2 } }
  res.summary = compare_.summarize(variants, variants[1])
  return res
end

-- the report first: the browser has its minute for the page alone
local crowd = work .. "/crowd"
do
  local saved = io.output()
  io.output(os.tmpname())
  local okr, e = pcall(gd.report, crowded(), { dir = crowd })
  io.output():close()
  io.output(saved)
  assert(okr, e)
end

local browser = B.open(work)

local function figure_rect(name)
  return browser:eval(([[(function () { const r = document.querySelector("#plot-%s").getBoundingClientRect();
    return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height }; })()]]):format(name))
end

T.test("50 variants with long names and huge losses: nothing overflows the page, every plot drawn", function()
  local page = slurp(crowd .. "/index.html")
  local summary = page:match('<section id="summary">.-</section>')
  assert(not summary:find("%d%d%d%d%d%d%d%d%d%d%d%d"), "a loss printed with a dozen digits or more")
  assert(summary:find("1e+39 ± ", 1, true), "the huge losses are not printed compactly")
  browser:navigate("file://" .. crowd .. "/index.html")
  assert(#browser:errors() == 0, table.concat(browser:errors(), "; "))
  local wide = browser:eval("document.documentElement.scrollWidth")
  local view = browser:eval("window.innerWidth")
  assert(wide <= view, ("the page is %d px wide in a %d px window"):format(wide, view))
  assert(browser:eval('document.querySelectorAll("#summary tr.variant").length') == 50)
  for _, name in ipairs(plots) do
    local r = figure_rect(name)
    assert(r.width > 400 and r.height > 250, name .. ": " .. r.width .. "x" .. r.height)
    assert(browser:ink(r) > 0.01 * r.width * r.height, name .. " is not drawn")
  end
  -- the loss plot's key sits under it, in columns: the drawing keeps its width
  local key_below = slurp(crowd .. "/loss.svg")
  assert(key_below:find('height="%d+"') and tonumber(key_below:match('height="(%d+)"')) > 560, "no room made for the key")
end)

local ok, err = pcall(T.run)
browser:close()  -- and removes work
if not ok then error(err, 0) end
