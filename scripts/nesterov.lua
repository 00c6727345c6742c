-- nesterov: on a smooth convex quadratic f(x) = sum_i lambda_i x_i^2 / 2
-- whose 200 curvatures are log-spaced from 1 down to 1e-9 (so it is
-- nowhere near strongly convex on the horizon of the run; from x = 1 this
-- is the spectrum on which gradient descent meets its 1/t worst case), fit
-- the log-log slope of f(x_t) against t:
--   gradient descent (lr = 1/L)                         claim: slope -1
--   Nesterov, momentum (t-1)/(t+2) (the accelerated method)   claim: slope -2
--   gd.optim.nesterov, constant gamma = 0.9                  (for comparison)
-- The accelerated method is written with the primitives: the look-ahead
-- point y = x + mu (x - x_prev) in Lua, the gradient step at y by
-- gd.optim.sgd.
--
--   build/gradus run scripts/nesterov.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local n, T = 200, L.pick(20000, 3000)
local lambda = {}
for i = 1, n do lambda[i] = 10 ^ (-9 * (i - 1) / (n - 1)) end
local lr = 1.0                     -- 1/L with L = max lambda = 1

local function f(x)
  local s = 0
  for i = 1, n do s = s + 0.5 * lambda[i] * x[i] ^ 2 end
  return s
end
local function grad(x)
  local g = {}
  for i = 1, n do g[i] = lambda[i] * x[i] end
  return gd.tensor(g)
end
local function ones() local v = {} for i = 1, n do v[i] = 1.0 end return gd.tensor(v) end

-- f after each of T steps of an optimizer spec used as a primitive.
local function plain(spec)
  local x = ones()
  local opt, fs = spec:build{ x }, {}
  for t = 1, T do opt:step{ grad(x) }; fs[t] = f(x) end
  return fs
end

-- Nesterov's accelerated gradient: y = x_t + (t-1)/(t+2) (x_t - x_{t-1}),
-- x_{t+1} = y - lr grad f(y); the step at y is gd.optim.sgd's.
local function accelerated()
  local y = ones()
  local opt, prev, fs = gd.optim.sgd{ lr = lr }:build{ y }, y:totable(), {}
  for t = 1, T do
    opt:step{ grad(y) }                  -- y is now x_{t+1}
    local x = y:totable()
    fs[t] = f(x)
    local mu = (t - 1) / (t + 2)
    for i = 1, n do y[i] = x[i] + mu * (x[i] - prev[i]) end
    prev = x
  end
  return fs
end

-- Least-squares slope of log f against log t on log-spaced t in [t0, T].
local function slope(fs, t0)
  local sx, sy, sxx, sxy, k = 0, 0, 0, 0, 0
  local t = t0
  while t <= T do
    local lx, ly = math.log(t), math.log(fs[math.floor(t)])
    sx, sy, sxx, sxy, k = sx + lx, sy + ly, sxx + lx * lx, sxy + lx * ly, k + 1
    t = t * 1.05
  end
  return (k * sxy - sx * sy) / (k * sxx - sx * sx)
end

local runs = {
  { name = "gradient descent", fs = plain(gd.optim.sgd{ lr = lr }), want = -1 },
  { name = "Nesterov (t-1)/(t+2)", fs = accelerated(), want = -2 },
  { name = "gd.optim.nesterov gamma 0.9", fs = plain(gd.optim.nesterov{ lr = lr, gamma = 0.9 }), want = -2 },
}
local t0 = 20
local series = {}
for _, r in ipairs(runs) do
  r.slope = slope(r.fs, t0)
  local ts, ys = {}, {}
  local t = 1
  while t <= T do ts[#ts + 1], ys[#ys + 1] = math.floor(t), r.fs[math.floor(t)]; t = t * 1.02 + 1 end
  series[#series + 1] = { x = ts, y = ys, label = string.format("%s (slope %.2f)", r.name, r.slope) }
end
L.plot{ title = "suboptimality f(x_t) - f* on a convex quadratic (200 curvatures in [1e-9, 1])",
  xlabel = "step t", ylabel = "f(x_t) - f*", logx = true, logy = true, series = series }

local function near(r, tol) return math.abs(r.slope - r.want) <= tol end
local function line(r, claim)
  L.verdict(L.grade(near(r, 0.25), near(r, 0.5)), claim, string.format(
    "fitted log-log slope of f over t = %d..%d: %.2f (claim %d; rule: within 0.25, MIXED within 0.5)",
    t0, T, r.slope, r.want))
end
line(runs[1], "gradient descent's suboptimality falls like 1/t")
line(runs[2], "Nesterov's (momentum (t-1)/(t+2)) falls like 1/t^2")
line(runs[3], "gd.optim.nesterov with a constant gamma 0.9 falls like 1/t^2")
