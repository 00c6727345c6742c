-- benchmarks/quadratic_deep.lua: DeepOBS's quadratic_deep, written from its
-- definition (Schneider, Balles & Hennig, DeepOBS, ICLR 2019, §3):
--   loss(θ) = mean over samples x of ½ (θ − x)ᵀ Q (θ − x),  θ ∈ R¹⁰⁰, θ₀ = 1,
--   Q = Rᵀ D R, D = diag(90 eigenvalues from U(0, 1), 10 from U(30, 60)),
--   R a Haar-distributed rotation, x ~ N(0, 0.6² I); 1000 train and 1000
--   test points (and 1000 validation points for tuning), batch 128.
-- Every random number comes from gradus's own seeded generator (a layer's
-- initializer streams), so the problem is the same on every machine.
--
-- How it is a gradus model: with A = √50 · D^½ R, ½ (θ − x)ᵀ Q (θ − x) =
-- (1/100) ‖Aθ − Ax‖², the mse of prediction Aθ against target Ax. Each
-- sample's input is A laid out as [100 channels, 100, 1] and a bias-free
-- 1×1 conv2d with one filter (its weight is θ, started at 1) computes Aθ at
-- the 100 positions. The gradient and the noise of a batch are DeepOBS's.
local gd = require "gradus"

local dim, noise = 100, 0.6

-- n·m numbers from gradus's RNG: a dense layer's initial weights.
local function draw(init, n, m, seed)
  local l = gd.layer.dense{ units = n, bias = false, init = init }:build{ inputs = m, seed = seed }
  return l:params()[1].value:totable()
end

-- A Haar rotation: Gram–Schmidt (twice, for float accuracy) on a Gaussian
-- matrix, which is the QR with R's diagonal made positive (Mezzadri 2007).
local function haar(seed)
  local g = draw(gd.init.normal{ std = 1 }, dim, dim, seed)
  local q = {}
  for i = 1, dim do
    local v = {}
    for k = 1, dim do v[k] = g[(i - 1) * dim + k] end
    for _ = 1, 2 do
      for j = 1, i - 1 do
        local d = 0
        for k = 1, dim do d = d + v[k] * q[j][k] end
        for k = 1, dim do v[k] = v[k] - d * q[j][k] end
      end
    end
    local nrm = 0
    for k = 1, dim do nrm = nrm + v[k] * v[k] end
    nrm = math.sqrt(nrm)
    for k = 1, dim do v[k] = v[k] / nrm end
    q[i] = v
  end
  return q   -- rows orthonormal
end

local M = {}

-- The eigenvalues (D's diagonal) and R, as numbers; Q = Rᵀ D R.
function M.hessian(seed)
  seed = seed or 42
  local small = draw(gd.init.uniform{ low = 0, high = 1 }, 90, 1, seed + 1)
  local large = draw(gd.init.uniform{ low = 30, high = 60 }, 10, 1, seed + 2)
  local eig = {}
  for i = 1, 90 do eig[i] = small[i] end
  for i = 1, 10 do eig[90 + i] = large[i] end
  return eig, haar(seed + 3)
end

-- n samples x ~ N(0, 0.6² I) as inputs A (shape [n, 100, 100, 1]) and targets Ax.
local function samples(n, A, seed)
  local xs = draw(gd.init.normal{ std = noise }, n, dim, seed)
  local x = gd.tensor.zeros{ n, dim, dim, 1 }
  local flatA = {}
  -- input[c, h] = A[h, c]: channel c holds column c of A
  for c = 1, dim do
    for h = 1, dim do flatA[(c - 1) * dim + h] = A[h][c] end
  end
  local per = dim * dim
  for s = 0, n - 1 do
    local base = s * per
    for k = 1, per do x[base + k] = flatA[k] end
  end
  local y = gd.tensor.zeros{ n, dim }
  for s = 0, n - 1 do
    for h = 1, dim do
      local acc = 0
      for k = 1, dim do acc = acc + A[h][k] * xs[s * dim + k] end
      y[s * dim + h] = acc
    end
  end
  return gd.data.tensor{ x = x, y = y }, xs
end

M.samples = samples

function M.operator(seed)
  local eig, R = M.hessian(seed)
  local A = {}
  for h = 1, dim do
    A[h] = {}
    local s = math.sqrt(50 * eig[h])
    for k = 1, dim do A[h][k] = s * R[h][k] end
  end
  return A, eig, R
end

local cache = {}
local counts = { smoke = { 256, 256, 256 }, small = { 1000, 1000, 1000 }, full = { 1000, 1000, 1000 } }

return {
  name = "quadratic_deep",
  model = gd.sequential{
    gd.layer.conv2d{ filters = 1, kernel = 1, bias = false, init = gd.init.constant{ value = 1 } },
    gd.layer.flatten{},
  },
  data = function(size)
    if cache[size] then return table.unpack(cache[size]) end
    local A = M.operator(42)
    local n = counts[size]
    local train = samples(n[1], A, 1001)
    local val = samples(n[2], A, 1002)
    local test = samples(n[3], A, 1003)
    cache[size] = { train, val, test }
    return train, val, test
  end,
  loss = gd.loss.mse{},
  batch = 128,
  epochs = { smoke = 1, small = 20, full = 100 },
  metric = "loss",
  -- the test loss at θ = 0 (the noise's mean) is E ½ xᵀQx = 0.18 tr Q ≈ 89
  -- for these eigenvalues; the target asks for within about 10 % of it
  target = 100,
  definition = M,
}
