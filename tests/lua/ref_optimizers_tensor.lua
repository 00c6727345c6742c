-- tests/lua/ref_optimizers_tensor.lua: every case of the tensor-aware
-- reference (lars, lamb, adafactor, muon, lookahead, sam), through the Lua
-- primitives, both ways the README describes:
--   teacher-forced: the recorded grads[t] (sam: and grads2[t]) fed at update t;
--   free-running: gradients from the case's problem, computed by a dense
--   layer and the mse loss, the optimizer stepping the layer's parameters.
-- Tolerance per element |got - want| <= 1e-5*S + 4*dev, S = max |want| of the
-- field over the whole case, dev from the case's dev table (README).

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("optimizers_tensor")

local function tensor(r)
  local v = {}
  for i = 1, #r do v[i] = r[i] end
  return gd.tensor(v, r.shape)
end

-- S of a field: the largest |value| over every step and tensor.
local function field_scale(rows)
  local s = 0
  for _, pair in ipairs(rows) do
    for _, t in ipairs(pair) do s = math.max(s, T.maxabs(t)) end
  end
  return s
end

local function close_pair(what, got, want, tol)
  T.close(what .. " W", got[1], want[1], tol)
  T.close(what .. " b", got[2], want[2], tol)
end

local function tol_of(c, field, dev)
  if type(c[field]) == "table" and type(c[field][1]) == "number" then
    return 1e-5 * T.maxabs(c[field]) + 4 * dev
  end
  return 1e-5 * field_scale(c[field]) + 4 * dev
end

local function teacher_forced(c)
  local W, b = tensor(c.params0[1]), tensor(c.params0[2])
  local opt = T.spec("optim", c.optimizer, c.options):build{ W, b }
  local tol = tol_of(c, "params", c.dev.forced)
  local ptol = c.perturbed and tol_of(c, "perturbed", c.dev.forced)
  for t = 1, c.steps do
    local g = { tensor(c.grads[t][1]), tensor(c.grads[t][2]) }
    local extra
    if c.grads2 then
      local called = 0
      extra = { closure = function()
        called = called + 1
        close_pair(("%s step %d perturbed"):format(c.name, t), { W, b }, c.perturbed[t], ptol)
        return { tensor(c.grads2[t][1]), tensor(c.grads2[t][2]) }
      end }
      assert(opt:step(g, extra) == t)
      assert(called == 1, "the closure runs once per step")
    else
      assert(opt:step(g) == t)
    end
    close_pair(("%s step %d"):format(c.name, t), { W, b }, c.params[t], tol)
  end
end

-- The problem's gradient through gd.layer.dense and gd.loss.mse.
local function free_running(c)
  local X, Y = tensor(c.problem.X), tensor(c.problem.Y)
  local out, inp = c.params0[1].shape[1], c.params0[1].shape[2]
  local d = gd.layer.dense{ units = out }:build{ inputs = inp, seed = 1 }
  local p = d:params()
  for i = 1, 2 do p[i].value:copy(tensor(c.params0[i])) end
  local mse = gd.loss.mse{}:build{}
  local function grad_at()
    d:zero_grad()
    local loss = mse:forward(d:forward(X, { training = true }), Y)
    d:backward(mse:backward())
    return loss
  end
  local opt = T.spec("optim", c.optimizer, c.options):build(p)
  local tol = tol_of(c, "params", c.dev.free)
  local gtol = tol_of(c, "grads", c.dev.grads)
  local ltol = 1e-5 * T.maxabs(c.loss) + 4 * c.dev.loss
  for t = 1, c.steps do
    local loss = grad_at()
    local what = ("%s free step %d"):format(c.name, t)
    if not (math.abs(loss - c.loss[t]) <= ltol) then
      error(("%s: loss %.9g, expected %.9g"):format(what, loss, c.loss[t]))
    end
    close_pair(what .. " grads", { p[1].grad, p[2].grad }, c.grads[t], gtol)
    local extra
    if c.grads2 then
      local g2tol = tol_of(c, "grads2", c.dev.grads)
      local ptol = tol_of(c, "perturbed", c.dev.free)
      extra = { closure = function()
        close_pair(what .. " perturbed", { p[1].value, p[2].value }, c.perturbed[t], ptol)
        grad_at()
        close_pair(what .. " grads2", { p[1].grad, p[2].grad }, c.grads2[t], g2tol)
        return { p[1].grad, p[2].grad }
      end }
    end
    opt:step(nil, extra)
    close_pair(what, { p[1].value, p[2].value }, c.params[t], tol)
  end
end

for _, c in ipairs(ref.cases) do
  T.test("test_tensor_optimizer_" .. c.name .. "_forced", function() teacher_forced(c) end)
  T.test("test_tensor_optimizer_" .. c.name .. "_free", function() free_running(c) end)
end

T.run()
