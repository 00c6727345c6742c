-- tests/lua/report.lua: what gd.report shows: the plot scripts checked on
-- the data blocks they draw, the table and the diagnoses verbatim.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local plots = require "gradus.plots"
local report = require "gradus.report"

local spirals = gd.data.synthetic.spirals{ n = 300, classes = 2, noise = 0.05, seed = 3 }
local train, val = spirals:split{ validation = 100, seed = 2 }
local net = gd.sequential{ gd.layer.dense{ units = 16, init = "he_normal" }, gd.layer.relu{},
                           gd.layer.dense{ units = 2 } }
local res = gd.compare{
  base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val,
           epochs = 3, batch = 25, monitor = { every = 2 } },
  variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
               { name = "adam", optimizer = gd.optim.adam{ lr = 1e-2 } },
               { name = "adam2", optimizer = gd.optim.adam{ lr = 1e-2, beta1 = 0.8 } } },
  repeats = 2, progress = false,
}

-- name -> its rows (lists of numbers) from a gnuplot script's data blocks
local function blocks(script)
  local out = {}
  for name, body in script:gmatch("%$(%S+) << EOD\n(.-)\nEOD\n") do
    local rows = {}
    for line in body:gmatch("[^\n]+") do
      local row = {}
      for x in line:gmatch("%S+") do row[#row + 1] = tonumber(x) or (0 / 0) end
      rows[#rows + 1] = row
    end
    out[name] = rows
  end
  return out
end

local function by_name()
  local out = {}
  for _, p in ipairs(plots.all(res)) do out[p.name] = { plot = p, script = plots.script(p) } end
  return out
end

local function yranges(script)
  local out = {}
  for lo, hi in script:gmatch("set yrange %[([^:]+):([^%]]+)%]") do out[#out + 1] = { tonumber(lo), tonumber(hi) } end
  return out
end

T.test("every plot is drawn from a column per seed, the mean their mean", function()
  local all = by_name()
  for _, name in ipairs({ "loss", "accuracy", "grad_norms", "update_ratios" }) do
    local n = 0
    for bname, rows in pairs(blocks(all[name].script)) do
      for _, r in ipairs(rows) do
        assert(#r == 4 + 2, name .. "/" .. bname .. ": " .. #r .. " columns, want x, mean, min, max, 2 seeds")
        local a, b = r[5], r[6]
        if a == a and b == b then
          T.close_number(bname .. " mean", r[2], (a + b) / 2, 1e-6)
          assert(r[3] == math.min(a, b) and r[4] == math.max(a, b), bname .. ": band is not min-max")
        end
        n = n + 1
      end
    end
    assert(n > 0, name .. ": no data")
  end
end)

T.test("the loss axis fits its data, linear within a decade; per-step loss under the epochs", function()
  local s = by_name().loss.script
  local lo, hi = math.huge, -math.huge
  local b = blocks(s)
  for name, rows in pairs(b) do
    for _, r in ipairs(rows) do
      local cols = name:find("^loss_val") and { 2, 3, 4 } or { 2 }
      for _, c in ipairs(cols) do lo, hi = math.min(lo, r[c]), math.max(hi, r[c]) end
    end
  end
  local y = yranges(s)[1]
  assert(y[1] <= lo and y[2] >= hi, ("yrange %g:%g misses data %g:%g"):format(y[1], y[2], lo, hi))
  assert(hi / lo <= 10 and s:find("\nunset logscale y\n") and not s:find("\nset logscale y\n"),
    "data within a decade must get a linear axis")
  local pad = 0.1 * (hi - lo)
  assert(y[1] >= lo - pad and y[2] <= hi + pad, ("yrange %g:%g is not fitted to %g:%g"):format(y[1], y[2], lo, hi))
  -- the monitored steps, at fractional epochs, up to the last epoch
  local steps = b.loss_step1
  assert(#steps == 3 * 8 // 2, #steps .. " monitored steps")
  T.close_number("first step x", steps[1][1], 1 / 8, 1e-9)
  T.close_number("last step x", steps[#steps][1], 3 - 1 / 8, 1e-9)
  assert(s:find([[with lines lc rgb "#1f77b4" dt 1 lw 1.2 title 'sgd train %(per step%)']]), s)
  -- variants differ in dash type as well as colour
  assert(s:find("'adam validation'") and s:find("dt %(9,4%)[^\n]*'adam validation'"), "adam is not dashed")
end)

T.test("a loss that spans more than a decade gets a log axis", function()
  local v = { name = "x", runs = {} }
  for seed = 1, 2 do
    local ep = {}
    for e = 1, 4 do ep[e] = { epoch = e, train_loss = 10 ^ (1 - e) * seed } end
    v.runs[seed] = { seed = seed, history = { epochs = ep } }
  end
  local p = plots.all({ variants = { v } })[1]
  local s = plots.script(p)
  assert(p.name == "loss" and s:find("\nset logscale y\n"), s)
  local y = yranges(s)[1]
  -- the means over seeds run from 1.5e-3 to 1.5
  assert(y[1] < 1.5e-3 and y[1] > 1.5e-3 / 2 and y[2] > 1.5 and y[2] < 3, y[1] .. ":" .. y[2])
  assert(plots.script(p, "linear"):find("\nunset logscale y\n"), "the page's linear version")
end)

T.test("lr on a log axis; variants with the same lr are labelled together", function()
  local s = by_name().lr.script
  assert(s:find("\nset logscale y\n"), s)
  assert(s:find("set label 'adam, adam2 %(same lr%)' at 22, 0.01 right"), s)
  local y = yranges(s)[1]
  assert(y[1] < 1e-2 and y[2] > 0.1 and y[2] < 0.2, y[1] .. ":" .. y[2])
end)

T.test("update ratios: every guide lies inside its panel's range", function()
  local s = by_name().update_ratios.script
  local ys = yranges(s)
  assert(#ys == 3, #ys .. " panels, want one per variant")
  for i, y in ipairs(ys) do
    for _, g in ipairs({ 1e-1, 1e-2, 1e-4 }) do
      assert(g > y[1] * 1.1 and g < y[2] / 1.1, ("panel %d: guide %g on or outside %g:%g"):format(i, g, y[1], y[2]))
    end
  end
  assert(s:find('update / parameter norm per layer: adam %(mean over 2 seeds, band: min%-max%)'), s)
end)

T.test("the table names its metric, fills lr and cautions with 2 seeds", function()
  local t = report.table(res)
  local lines = {}
  for l in t:gmatch("[^\n]+") do lines[#lines + 1] = l end
  assert(lines[1]:find("diff in val_loss vs sgd", 1, true), lines[1])
  assert(lines[3]:find("%s0%.1$") and lines[4]:find("%s0%.01$") and lines[5]:find("%s0%.01$"), t)
  assert(lines[6] == "caution: 2 finished runs in a variant: confidence intervals and win rates "
    .. "from fewer than 3 seeds are not informative (use repeats >= 3)", lines[6])
  res.summary[1].n, res.summary[2].n, res.summary[3].n = 3, 3, 3
  assert(not report.table(res):find("caution"), "no caution with 3 runs")
  res.summary[1].n, res.summary[2].n, res.summary[3].n = 2, 2, 2
end)

-- A run whose relu layer (layer 2) is dead in every monitored step.
local function dead_run()
  local steps = {}
  for i = 1, 6 do
    steps[i] = { step = i, grad_norm = 1, layers = {
      { name = "dense1", grad_norm = 1, update_ratio = 1e-2 },
      { name = "relu1", dead = 0.75 },
      { name = "dense2", grad_norm = 1, update_ratio = 1e-2 } } }
  end
  return { status = "ok", history = { epochs = {}, steps = steps } }
end

local function dead_message(model)
  for _, d in ipairs(gd.diagnose(dead_run(), model and { model = model })) do
    if d.kind == "dead_relu" then return d.message end
  end
end

T.test("dead ReLUs: the advice fits the model's initialization", function()
  local head = "dead ReLUs: share of units that output 0 for a whole batch (median) is relu1 75% (rule: > 40%); "
  local he = gd.sequential{ gd.layer.dense{ units = 4, init = "he_normal" }, gd.layer.relu{}, gd.layer.dense{ units = 2 } }
  assert(dead_message(he) == head .. "lower the learning rate or use leaky_relu "
    .. "(He initialization is in use: dense1 uses he_normal)", dead_message(he))
  local xavier = gd.sequential{ gd.layer.dense{ units = 4 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } }
  assert(dead_message(xavier) == head .. "lower the learning rate, use He initialization "
    .. "(dense1 uses xavier_uniform) or leaky_relu", dead_message(xavier))
  assert(dead_message(nil) == head .. "lower the learning rate, use He initialization or leaky_relu",
    dead_message(nil))
end)

T.run()
