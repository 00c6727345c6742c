-- tests/lua/ref_curvature.lua: every case of the reference curvature.lua
-- (exact float64 values of small MLPs) through gd.probe, within the
-- README's tolerances; a case added to the file is picked up as it is.
-- Each probe must leave the weights bit-identical.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("curvature")

local ACT = { tanh = gd.layer.tanh, relu = gd.layer.relu }

-- The case's MLP with its parameters, its data set and a probe on all of it.
local function setup(c)
  local pb = c.problem
  assert(pb.kind == "mlp", c.name .. ": unknown problem kind " .. tostring(pb.kind))
  local layers = {}
  for i = 2, #pb.sizes do
    layers[#layers + 1] = gd.layer.dense{ units = pb.sizes[i] }
    if i < #pb.sizes then
      layers[#layers + 1] = assert(ACT[pb.activation], "activation " .. pb.activation){}
    end
  end
  local m = gd.sequential(layers):build{ inputs = pb.sizes[1], seed = 1 }
  local params = m:params()
  assert(#params == #c.params, c.name .. ": parameter count")
  for i, p in ipairs(params) do p.value:copy(c.params[i]) end
  local data, loss
  if pb.loss == "cross_entropy" then
    data = gd.data.tensor{ x = gd.tensor(c.X), y = c.Y, classes = pb.sizes[#pb.sizes] }
    loss = gd.loss.cross_entropy{}
  else
    data = gd.data.tensor{ x = gd.tensor(c.X), y = gd.tensor(c.Y) }
    loss = gd.loss.mse{}
  end
  local p = gd.probe{ model = m, loss = loss, data = data, samples = "all", seed = 3 }
  return p, m
end

-- fn(p) must leave the model's parameters bit for bit as they were.
local function untouched(c, m, what, fn)
  local before = m:flat_params():copy()
  local r = fn()
  local after = m:flat_params()
  for i = 1, #before do
    if before[i] ~= after[i] then
      error(("%s %s: parameter %d changed from %.9g to %.9g"):format(c.name, what, i,
            before[i], after[i]), 2)
    end
  end
  return r
end

local function vec_close(what, got, want, rel)
  local d, n = 0, 0
  for i = 1, #want do
    d = d + (got[i] - want[i]) ^ 2
    n = n + want[i] ^ 2
  end
  if not (math.sqrt(d) <= rel * math.sqrt(n)) then
    error(("%s: |got - want| = %.3g > %.3g |want| (%.3g)"):format(what, math.sqrt(d), rel,
          math.sqrt(n)), 2)
  end
end

for _, c in ipairs(ref.cases) do
  T.test(c.name .. " loss and gradient", function()
    local p, m = setup(c)
    assert(#m:flat_params() == c.nparams, "nparams")
    T.close_number(c.name .. " loss", untouched(c, m, "loss", function() return p:loss() end),
                   c.loss_value[1] or c.loss_value, 1e-5)
    local g = untouched(c, m, "grad", function() return p:grad() end)
    T.close(c.name .. " grad", g, c.grad, 1e-6 * T.maxabs(c.grad) + 1e-7)
  end)

  T.test(c.name .. " hvp", function()
    local p, m = setup(c)
    local hv = untouched(c, m, "hvp", function() return p:hvp(gd.tensor(c.v)) end)
    vec_close(c.name .. " hvp", hv, c.hvp, 1e-2)
  end)

  T.test(c.name .. " eigenvalues", function()
    local p, m = setup(c)
    local k = #c.eigenvalues_top
    local e = untouched(c, m, "eigen", function()
      return p:eigen{ k = k, iters = c.nparams, tol = 1e-6 }
    end)
    for i = 1, k do
      T.close_number(("%s eigenvalue %d"):format(c.name, i), e.values[i], c.eigenvalues_top[i], 0.02)
    end
    assert(e.iters >= k and e.iters <= c.nparams, "iters used")
    -- each vector is a unit eigenvector: |H y - θ y| small against θ
    local hy = p:hvp(e.vectors[1])
    local r = hy:copy():axpy(-e.values[1], e.vectors[1]):norm()
    assert(math.abs(e.vectors[1]:norm() - 1) < 1e-4, "unit vector")
    assert(r <= 0.05 * math.abs(e.values[1]), ("residual %.3g of the top pair"):format(r))
    local lo = p:eigen{ k = 1, iters = c.nparams, tol = 1e-6, which = "smallest" }
    local want = c.eigenvalue_min[1] or c.eigenvalue_min
    T.close_number(c.name .. " smallest eigenvalue", lo.values[1], want, 0.02)
  end)

  T.test(c.name .. " trace", function()
    local p, m = setup(c)
    local t = untouched(c, m, "trace", function() return p:trace{ method = "exact" } end)
    T.close_number(c.name .. " trace", t.trace, c.trace[1] or c.trace, 0.02)
    assert(t.probes == c.nparams and t.method == "exact")
  end)

  T.test(c.name .. " noise scale", function()
    local p, m = setup(c)
    local ns = untouched(c, m, "noise_scale", function() return p:noise_scale{ exact = true } end)
    T.close_number(c.name .. " noise scale", ns.b_simple,
                   c.noise_scale_simple[1] or c.noise_scale_simple, 1e-3)
  end)

  T.test(c.name .. " slice", function()
    local p, m = setup(c)
    local s = untouched(c, m, "slice", function()
      return p:slice{ direction = gd.tensor(c.v), normalize = "unit", alphas = c.slice_alphas }
    end)
    for i = 1, #c.slice_alphas do
      T.close_number(("%s slice %d"):format(c.name, i), s.loss[i], c.slice_loss[i], 1e-5)
    end
  end)
end

T.run()
