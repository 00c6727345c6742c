-- tests/lua/ref_residual.lua: every residual block case of the spatial
-- reference (block = "residual") through gd.residual{...}:build{ inputs = },
-- parameters set through params() (depth first: the body's layers in order,
-- then the shortcut's), forward and backward compared with y, grad_x and
-- every parameter gradient. A case added to the file is picked up as it is.
-- Tolerance (README): |got - want| <= 1e-5*max|want| + 1e-6*max|grad_y| per tensor.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("layers_spatial")

local function check(c, what, got, want)
  T.close(c.name .. " " .. what, got, want, 1e-5 * T.maxabs(want) + 1e-6 * T.maxabs(c.grad_y))
end

local function part(p) return T.spec("layer", p.layer, p.options) end

local function residual_case(c)
  local body = {}
  for i, p in ipairs(c.body) do body[i] = part(p) end
  body.shortcut = c.shortcut and part(c.shortcut) or nil
  local x = gd.tensor(c.x)
  local inputs = {}
  for d = 2, #c.x.shape do inputs[d - 1] = c.x.shape[d] end
  local block = gd.residual(body):build{ inputs = inputs, seed = 1 }
  local params = block:params()
  assert(#params == #c.params, ("%s: %d parameter tensors, the case has %d"):format(c.name,
    #params, #c.params))
  for i, p in ipairs(params) do p.value:copy(c.params[i]) end
  block:zero_grad()
  local training = c.mode == "train"
  assert(training or c.mode == "eval", "unknown mode " .. tostring(c.mode))
  local y = block:forward(x, { training = training })
  check(c, "y", y, c.y)
  if not training then return end
  local gx = block:backward(gd.tensor(c.grad_y))
  check(c, "grad_x", gx, c.grad_x)
  for i, p in ipairs(params) do check(c, "grad of " .. p.name, p.grad, c.grads[i]) end
end

local n = 0
for _, c in ipairs(ref.cases) do
  if c.block == "residual" then
    n = n + 1
    T.test("test_residual_" .. c.name, function() residual_case(c) end)
  elseif c.block ~= nil then
    error("case " .. c.name .. ": unknown block '" .. tostring(c.block) .. "'")
  end
end
assert(n >= 2, "the reference has residual cases")

T.run()
