-- momentum: on the ill-conditioned quadratic f(x, y) = (x^2 + 100 y^2)/2
-- (condition number 100), gradient descent and classical momentum
-- (gamma = 0.9) run from (1, 1) at the same lr, close to GD's stability
-- limit 2/100; and momentum with gamma and lr tuned to the conditioning
-- (gamma = ((sqrt k - 1)/(sqrt k + 1))^2, lr = 4/(sqrt a + sqrt b)^2).
-- Claims: momentum reaches f < 1e-6 in far fewer steps (rule: >= 3x), and
-- it damps the zig-zag across the steep direction y (sign changes of y's
-- updates in the first 50 steps, and the largest |y| left after step 10). The closed form is the point, so the optimizers run as
-- primitives: opt:step{ gradient } on a two-element tensor.
--
--   build/gradus run scripts/momentum.lua [--quick]
local L = dofile(arg[0]:match("^(.-)[^/]*$") .. "lib/lecture.lua")
local gd = L.gd

local a, b = 1, 100            -- curvatures: x flat, y steep
local lr = 0.019               -- GD's best lr is 2/(a+b) = 0.0198
local target = 1e-6
local max_steps = L.pick(5000, 2000)
local window = 50              -- the first steps, where the zig-zag is

local function f(p) return 0.5 * (a * p[1] ^ 2 + b * p[2] ^ 2) end

-- Runs an optimizer spec from (1, 1); returns the steps to the target, the
-- fraction of y's updates (among the first `window`) that change sign, the
-- largest |y| from step 10 to `window`, and the path.
local function descend(spec)
  local p = gd.tensor{ 1.0, 1.0 }
  local opt = spec:build{ p }
  local xs, ys, fs = { p[1] }, { p[2] }, { f(p) }
  local hit, flips, prev_dy = nil, 0, 0
  for t = 1, max_steps do
    local y0 = p[2]
    opt:step{ gd.tensor{ a * p[1], b * p[2] } }
    local dy = p[2] - y0
    if t <= window and prev_dy ~= 0 and (dy > 0) ~= (prev_dy > 0) then flips = flips + 1 end
    prev_dy = dy
    xs[#xs + 1], ys[#ys + 1], fs[#fs + 1] = p[1], p[2], f(p)
    if not hit and fs[#fs] < target then hit = t end
  end
  local amp = 0
  for i = 11, math.min(#ys, window + 1) do amp = math.max(amp, math.abs(ys[i])) end
  return { steps = hit or math.huge, flips = flips / (window - 1), amp = amp, xs = xs, ys = ys, fs = fs }
end

local gd_run = descend(gd.optim.sgd{ lr = lr })
local mom = descend(gd.optim.momentum{ lr = lr, gamma = 0.9 })
local rk = math.sqrt(b / a)
local gamma_opt, lr_opt = ((rk - 1) / (rk + 1)) ^ 2, 4 / (math.sqrt(a) + math.sqrt(b)) ^ 2
local tuned = descend(gd.optim.momentum{ lr = lr_opt, gamma = gamma_opt })

local n = 80
local function head(xs) local o = {} for i = 1, math.min(n, #xs) do o[i] = xs[i] end return o end
L.plot{ title = string.format("f = (x^2 + 100 y^2)/2 from (1, 1), lr %g: the first %d steps", lr, n),
  xlabel = "x (flat direction)", ylabel = "y (steep direction)",
  series = { { x = head(gd_run.xs), y = head(gd_run.ys), label = "gradient descent", style = "linespoints" },
             { x = head(mom.xs), y = head(mom.ys), label = "momentum 0.9", style = "linespoints" } } }

local function fewer_steps(claim, m, what)
  local speedup = gd_run.steps / m.steps
  L.verdict(L.grade(speedup >= 3, speedup > 1), claim,
    string.format("steps to f < %g: gd %s, %s %s (%.1fx fewer; rule: >= 3x)", target,
      L.fmt(gd_run.steps), what, L.fmt(m.steps), speedup))
end
fewer_steps("momentum 0.9 at GD's lr reaches the target in far fewer steps than GD", mom, "momentum")
fewer_steps("momentum tuned to the conditioning reaches the target in far fewer steps than GD", tuned,
  string.format("momentum(lr %.3g, gamma %.3g)", lr_opt, gamma_opt))
local fewer, smaller = mom.flips <= 0.5 * gd_run.flips, mom.amp < gd_run.amp
L.verdict(L.grade(fewer and smaller, fewer or smaller), "momentum damps the oscillation across the steep direction",
  string.format("sign changes of y's updates in the first %d steps: gd %.0f%%, momentum %.0f%%; "
    .. "largest |y| in steps 10-%d: gd %s, momentum %s (rule: <= half the sign changes and a smaller |y|)",
    window, 100 * gd_run.flips, 100 * mom.flips, window, L.fmt(gd_run.amp), L.fmt(mom.amp)))
