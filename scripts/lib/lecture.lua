-- scripts/lib/lecture.lua: what the lecture experiments share: the --quick
-- flag, Fashion-MNIST subsets, paired statistics over seeds, and the
-- verdict lines
--
--   verdict: HOLDS|FAILS|MIXED  <claim>  <the numbers behind it>
--
-- (two spaces between the fields; tests/lua/lecture.lua reads them).
-- A script loads it with
--   local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = require "gradus"
local stats = require "gradus.stats"

local L = { gd = gd, stats = stats, finite = stats.finite, median = stats.median }

local script = arg and arg[0] or "experiment.lua"
L.dir = script:match("^(.-)[^/]*$")
L.name = script:match("([^/]*)%.lua$") or "experiment"
L.quick = false
-- --quick; --out DIR (default out, under the working directory);
-- --plots DIR, where the claim's plot goes (default DIR/plots)
local out_dir, plots_dir
do
  local a, i = arg or {}, 1
  while a[i] do
    if a[i] == "--quick" then L.quick = true
    elseif a[i] == "--out" or a[i] == "--plots" then
      if not a[i + 1] then error(L.name .. ": " .. a[i] .. " needs a directory", 0) end
      if a[i] == "--out" then out_dir = a[i + 1] else plots_dir = a[i + 1] end
      i = i + 1
    end
    i = i + 1
  end
end
out_dir = out_dir or "out"

-- The full-size value, or the reduced one under --quick.
function L.pick(full, quick) if L.quick then return quick end return full end

-- Reports go to DIR/<name> (DIR/<name>-quick); the claim's plot of a full
-- run to DIR/plots/<name>.png, never into the checkout whatever the
-- working directory (--plots scripts/plots refreshes the committed one).
L.out = out_dir .. "/" .. L.name .. (L.quick and "-quick" or "")
L.plot_file = L.quick and not plots_dir and (L.out .. "/" .. L.name .. ".png")
  or ((plots_dir or (out_dir .. "/plots")) .. "/" .. L.name .. ".png")

function L.plot(p)
  p.file = L.plot_file
  return gd.plot(p)
end

-- gd.report into L.out: the table, the diagnoses, the data files; its
-- standard plots only at full size (they cost a second of gnuplot).
function L.report(results)
  return gd.report(results, { dir = L.out, plots = not L.quick })
end

-- An MLP: `depth` hidden layers of `width` units, each a dense layer
-- (initializer `init`), batch norm when `bn`, the activation `act` (ReLU)
-- and dropout when `dropout` is a rate; then a dense layer of `out` (10).
function L.mlp(o)
  local layers = {}
  for _ = 1, o.depth do
    layers[#layers + 1] = gd.layer.dense{ units = o.width, init = o.init }
    if o.bn then layers[#layers + 1] = gd.layer.batchnorm{} end
    layers[#layers + 1] = o.act or gd.layer.relu{}
    if o.dropout then layers[#layers + 1] = gd.layer.dropout{ rate = o.dropout } end
  end
  layers[#layers + 1] = gd.layer.dense{ units = o.out or 10 }
  return gd.sequential(layers)
end

-- gd.compare's runs do not keep their trained models; each run's last
-- checkpoint does. L.keep_models(base, variants, seeds) makes every run
-- write one when it ends, in L.out .. "-models/" (not inside L.out, which
-- gd.report replaces whole; older ones are removed first: compare would
-- resume from them), and L.load_models(results) puts each
-- run's model (gd.load_model) at results.variants[i].runs[r].model.
local models = L.out .. "-models/run.ckpt"
local function model_path(name, seed)
  return (models:gsub("run%.ckpt$", "run-" .. name:gsub("[^%w_.-]+", "_") .. "-seed" .. seed .. ".ckpt"))
end

function L.keep_models(base, variants, seeds)
  assert(gd._util.mkdir_p(L.out .. "-models"))
  for _, v in ipairs(variants) do
    for s = 1, seeds do os.remove(model_path(v.name, (base.seed or 1) + s - 1)) end
  end
  base.checkpoint = { path = models, every = { epochs = 1000000 } }
end

function L.load_models(results)
  for _, v in ipairs(results.variants) do
    for _, r in ipairs(v.runs) do r.model = gd.load_model(model_path(v.name, r.seed)) end
  end
end

-- A train/validation pair of ntrain + nval Fashion-MNIST training images.
function L.fmnist(ntrain, nval)
  return gd.data.fashion_mnist{ split = "train", limit = ntrain + nval }:split{ validation = nval, seed = 1 }
end

function L.fmt(x)
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x ~= x then return "nan" end
  return string.format("%.3g", x)
end

-- "HOLDS" when the claim's test passed, "MIXED" when only part of it did.
function L.grade(holds, partly)
  return holds and "HOLDS" or (partly and "MIXED" or "FAILS")
end

local printed = {}
function L.verdict(status, claim, numbers)
  assert(status == "HOLDS" or status == "FAILS" or status == "MIXED", "bad verdict " .. tostring(status))
  if #printed == 0 then
    io.stdout:write(string.format("\n%s%s verdicts:\n", L.name, L.quick and " (--quick)" or ""))
  end
  printed[#printed + 1] = status
  io.stdout:write(string.format("verdict: %s  %s  %s\n", status, claim, numbers))
end

-- A variant of a gd.compare result by name.
function L.variant(results, name)
  for i, v in ipairs(results.variants) do
    if v.name == name then return v, results.summary[i] end
  end
  error("no variant named '" .. tostring(name) .. "'", 2)
end

-- f(run) for every run of a variant, in seed order.
function L.each(results, name, f)
  local out = {}
  for i, r in ipairs(L.variant(results, name).runs) do out[i] = f(r) end
  return out
end

-- Paired over seeds: d = metric(a) - metric(b) seed by seed. Returns
-- { mean, ci (95% half-width, Student's t), n, wins (seeds where a < b),
-- text } - `metric` is a field of run.metrics or a function of the run.
function L.paired(results, a, b, metric)
  local f = type(metric) == "function" and metric or function(r) return r.metrics[metric] end
  local xa, xb = L.each(results, a, f), L.each(results, b, f)
  local d, wins = {}, 0
  for i = 1, math.min(#xa, #xb) do
    d[#d + 1] = xa[i] - xb[i]
    if xa[i] < xb[i] then wins = wins + 1 end
  end
  local mean, _, ci, n = stats.describe(d)
  local p = { mean = mean, ci = ci, n = n, wins = wins, seeds = #d }
  p.text = string.format("%s - %s = %s +- %s over %d seeds (%d/%d lower)", a, b, L.fmt(mean),
    L.fmt(ci), #d, wins, #d)
  return p
end

-- A variant's per-epoch field, mean over its finished runs: a gd.plot
-- series labelled with the variant's name (or `label`).
function L.epoch_series(results, name, field, label)
  local sums, counts = {}, {}
  for _, r in ipairs(L.variant(results, name).runs) do
    for e, ep in ipairs(r.history.epochs) do
      if L.finite(ep[field]) then
        sums[e], counts[e] = (sums[e] or 0) + ep[field], (counts[e] or 0) + 1
      end
    end
  end
  local xs, ys = {}, {}
  for e = 1, #sums do
    if counts[e] then xs[#xs + 1], ys[#ys + 1] = e, sums[e] / counts[e] end
  end
  return { x = xs, y = ys, label = label or name }
end

-- The median of numbers that may be inf ("never reached"); NaN are dropped.
function L.median_inf(xs)
  local v = {}
  for _, x in ipairs(xs) do if x == x then v[#v + 1] = x end end
  if #v == 0 then return 0 / 0 end
  table.sort(v)
  local m = #v // 2
  return #v % 2 == 1 and v[m + 1] or (v[m] + v[m + 1]) / 2
end

-- The mean of a list of finite numbers.
function L.mean(xs)
  local m = stats.describe(xs)
  return m
end

-- Per trained layer (those with a gradient), the median over monitored
-- steps i0..i1 of a per-layer field: { names = {...}, values = {...} }.
function L.layer_medians(run, field, i0, i1)
  local steps = run.history.steps
  i0, i1 = i0 or 1, i1 or #steps
  local names, values = {}, {}
  for li, l in ipairs(steps[1].layers) do
    if L.finite(l.grad_norm) then
      local xs = {}
      for s = i0, i1 do xs[#xs + 1] = steps[s].layers[li][field] end
      names[#names + 1], values[#values + 1] = l.name, stats.median(xs)
    end
  end
  return { names = names, values = values }
end

-- All weight elements of a trained model (biases and BN scales left out).
function L.weights(model)
  local out = {}
  for _, p in ipairs(model:params()) do
    if p.role == "weight" then
      for _, w in ipairs(p.value:totable()) do out[#out + 1] = w end
    end
  end
  return out
end

-- Does any run of the variant carry a diagnosis of this kind?
function L.diagnosed(run, kind)
  for _, d in ipairs(run.diagnoses or {}) do if d.kind == kind then return d end end
  return nil
end

return L
