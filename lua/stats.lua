-- lua/stats.lua: summary statistics for gd.compare (embedded in the module).
--
-- Runs of one variant are repeats over seeds; variants are paired by seed
-- (common random numbers), so the difference to the first variant is
-- summarized per seed, which removes the seed-to-seed spread that a
-- comparison of two independent means would carry.
local M = {}

-- Two-sided 97.5% quantiles of Student's t for df = 1..30; beyond, 1.96
-- is within 2% of the exact value.
local t975 = {
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
  2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
  2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
}

function M.t_quantile(df)
  if df < 1 then return math.huge end
  return t975[df] or 1.96
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
M.finite = finite

-- mean, sample standard deviation (n-1), 95% CI half-width, n (finite values only)
function M.describe(xs)
  local n, s = 0, 0
  for _, x in ipairs(xs) do if finite(x) then n = n + 1; s = s + x end end
  if n == 0 then return 0 / 0, 0 / 0, 0 / 0, 0 end
  local mean = s / n
  if n == 1 then return mean, 0 / 0, 0 / 0, 1 end
  local ss = 0
  for _, x in ipairs(xs) do if finite(x) then ss = ss + (x - mean) ^ 2 end end
  local sd = math.sqrt(ss / (n - 1))
  return mean, sd, M.t_quantile(n - 1) * sd / math.sqrt(n), n
end

function M.median(xs)
  local v = {}
  for _, x in ipairs(xs) do if finite(x) then v[#v + 1] = x end end
  if #v == 0 then return 0 / 0 end
  table.sort(v)
  local m = #v // 2
  return #v % 2 == 1 and v[m + 1] or (v[m] + v[m + 1]) / 2
end

function M.logspace(lo, hi, n)
  assert(type(lo) == "number" and type(hi) == "number" and lo > 0 and hi > 0,
         "gd.logspace: bounds must be positive numbers")
  n = math.tointeger(n)
  assert(n and n >= 1, "gd.logspace: n must be an integer >= 1")
  if n == 1 then return { lo } end
  local out, a, b = {}, math.log(lo), math.log(hi)
  for i = 0, n - 1 do out[#out + 1] = math.exp(a + (b - a) * i / (n - 1)) end
  return out
end

return M
