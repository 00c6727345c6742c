-- lua/profile.lua: AlgoPerf's performance profiles and score (embedded as
-- gradus.profile), as the AlgoPerf scoring code computes them:
--   a time to target that was not reached counts as infinite; each
--   problem's best time is the smallest over the optimizers; ratio =
--   time / best; a ratio beyond max_tau (4) counts as a miss;
--   ρ(τ) = the share of problems whose ratio is ≤ τ; the score is
--   ∫₁^max_tau ρ(τ) dτ / (max_tau − 1).
-- ρ is a step function, so the integral is exact here: a problem with
-- ratio r ≤ max_tau adds (max_tau − r) / (max_tau − 1) / #problems (AlgoPerf
-- samples τ on a fine grid; the values agree to its grid's resolution).
local M = { max_tau = 4 }

local inf = math.huge

local function time_of(t)
  if type(t) ~= "number" or t ~= t or t < 0 then return inf end
  return t
end

-- times[o][p]: optimizer o's time to target on problem p (nil or inf: not
-- reached), for the problems 1..np. Returns ratios[o][p] (inf: a miss).
function M.ratios(times, np, max_tau)
  max_tau = max_tau or M.max_tau
  local best = {}
  for p = 1, np do
    best[p] = inf
    for _, row in ipairs(times) do best[p] = math.min(best[p], time_of(row[p])) end
  end
  local out = {}
  for o, row in ipairs(times) do
    out[o] = {}
    for p = 1, np do
      local t = time_of(row[p])
      local r = inf
      if t < inf and best[p] < inf then
        -- a best time of 0 (reached before any work): every 0 ties at 1
        r = best[p] > 0 and t / best[p] or (t == 0 and 1 or inf)
      end
      out[o][p] = r <= max_tau and r or inf
    end
  end
  return out
end

-- ρ(τ) of one optimizer's ratios over np problems.
function M.rho(ratios, tau, np)
  local n = 0
  for p = 1, np do if ratios[p] <= tau then n = n + 1 end end
  return np > 0 and n / np or 0
end

-- ∫₁^max_tau ρ(τ) dτ / (max_tau − 1), exactly.
function M.score(ratios, np, max_tau)
  max_tau = max_tau or M.max_tau
  if np == 0 then return 0 end
  local s = 0
  for p = 1, np do
    local r = ratios[p]
    if r <= max_tau then s = s + (max_tau - math.max(r, 1)) / (max_tau - 1) end
  end
  return s / np
end

-- The step function's corners for a plot: { {τ, ρ}, ... } from 1 to max_tau.
function M.steps(ratios, np, max_tau)
  max_tau = max_tau or M.max_tau
  local pts, xs = {}, { 1 }
  for p = 1, np do if ratios[p] <= max_tau then xs[#xs + 1] = ratios[p] end end
  xs[#xs + 1] = max_tau
  table.sort(xs)
  for _, x in ipairs(xs) do pts[#pts + 1] = { x, M.rho(ratios, x, np) } end
  return pts
end

return M
