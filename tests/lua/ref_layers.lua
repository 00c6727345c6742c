-- tests/lua/ref_layers.lua: every layer and loss case of the reference through
-- layer:forward / layer:backward and loss:forward / loss:backward.
-- Tolerance (README): |got - want| <= 1e-5*max|want| + 1e-6*max|grad_y| per
-- tensor; losses 1e-5 relative.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("layers")

local ACTIVATIONS = { sigmoid = true, tanh = true, relu = true, leaky_relu = true }

local function by(list, key, value)
  for _, e in ipairs(list) do if e[key] == value then return e end end
  error(("no entry with %s = %s"):format(key, value))
end

local function check(c, what, got, want)
  local gy = c.grad_y and T.maxabs(c.grad_y) or 0
  T.close(c.name .. " " .. what, got, want, 1e-5 * T.maxabs(want) + 1e-6 * gy)
end

local function layer_case(c)
  local training = c.mode == "train"
  if c.mode ~= "train" and c.mode ~= "eval" then error("unknown mode " .. tostring(c.mode)) end
  local x = gd.tensor(c.x)
  local l = T.spec("layer", c.layer, c.options):build{ inputs = x:shape()[2], seed = 1 }
  local params, buffers = l:params(), l:buffers()
  if c.layer == "dense" then
    by(params, "role", "weight").value:copy(c.W)
    by(params, "role", "bias").value:copy(c.b)
  elseif c.layer == "batchnorm" then
    by(params, "role", "scale").value:copy(c.gamma)
    by(params, "role", "shift").value:copy(c.beta)
    by(buffers, "name", "running_mean").value:copy(c.running_mean)
    by(buffers, "name", "running_var").value:copy(c.running_var)
  elseif not ACTIVATIONS[c.layer] then
    error("unknown layer case type '" .. tostring(c.layer) .. "'")
  end
  l:zero_grad()
  local y = l:forward(x, { training = training })
  check(c, "y", y, c.y)
  local gx = l:backward(gd.tensor(c.grad_y))
  check(c, "grad_x", gx, c.grad_x)
  if c.layer == "dense" then
    check(c, "grad_W", by(params, "role", "weight").grad, c.grad_W)
    check(c, "grad_b", by(params, "role", "bias").grad, c.grad_b)
  elseif c.layer == "batchnorm" then
    check(c, "grad_gamma", by(params, "role", "scale").grad, c.grad_gamma)
    check(c, "grad_beta", by(params, "role", "shift").grad, c.grad_beta)
    local rm = by(buffers, "name", "running_mean").value
    local rv = by(buffers, "name", "running_var").value
    check(c, "running_mean", rm, c.running_mean_after or c.running_mean)
    check(c, "running_var", rv, c.running_var_after or c.running_var)
  end
end

local function loss_case(c)
  local l = T.spec("loss", c.loss, c.options):build{}
  local pred, target, grad
  if c.loss == "cross_entropy" then
    assert(c.targets_base == 1, "targets are 1-based class numbers")
    pred, target, grad = c.logits, c.targets, c.grad_logits
  elseif c.loss == "mse" then
    pred, target, grad = c.pred, c.target, c.grad
  else
    error("unknown loss case type '" .. tostring(c.loss) .. "'")
  end
  local v = l:forward(gd.tensor(pred), gd.tensor(target))
  T.close_number(c.name .. " loss", v, c.loss_value, 1e-5)
  T.close(c.name .. " grad", l:backward(), grad, 1e-5 * T.maxabs(grad))
end

for _, c in ipairs(ref.cases) do
  T.test("test_" .. (c.layer and "layer_" or "loss_") .. c.name, function()
    if c.layer then layer_case(c) elseif c.loss then loss_case(c)
    else error("case " .. c.name .. " is neither a layer nor a loss case") end
  end)
end

T.test("test_layer_shape_checks", function()
  local d = gd.layer.dense{ units = 3 }:build{ inputs = 7, seed = 1 }
  T.expect_error("dense1:forward: input has shape [4, 6], expected [batch, 7]", d.forward, d,
                 gd.tensor.zeros{ 4, 6 })
  T.expect_error("dense1:forward: input has shape [7], expected [batch, 7]", d.forward, d,
                 gd.tensor.zeros{ 7 })
  T.expect_error("call forward first", d.backward, d, gd.tensor.zeros{ 4, 3 })
  d:forward(gd.tensor.zeros{ 4, 7 })
  T.expect_error("dense1:backward: gradient has shape [4, 2], expected [4, 3]", d.backward, d,
                 gd.tensor.zeros{ 4, 2 })
  local spec = gd.layer.dense{ units = 3 }
  T.expect_error("'inputs' is required", spec.build, spec, {})
  T.expect_error("dense: option 'units'", function() return gd.layer.dense{ units = 3.5 } end)
  T.expect_error("tensor expected, got table", d.forward, d, { 1, 2 })
  assert(table.concat(d:output_shape(), ",") == "3")
end)

T.test("test_layer_params_are_live_and_seeded", function()
  local a = gd.layer.dense{ units = 3 }:build{ inputs = 4, seed = 7 }
  local b = gd.layer.dense{ units = 3 }:build{ inputs = 4, seed = 7 }
  local c = gd.layer.dense{ units = 3 }:build{ inputs = 4, seed = 8 }
  local wa, wb, wc = a:params()[1].value, b:params()[1].value, c:params()[1].value
  assert(wa[1] == wb[1] and wa[1] ~= wc[1], "same seed, same weights")
  assert(a:params()[1].role == "weight" and a:params()[2].role == "bias")
  wa[1] = 1.25
  assert(a:params()[1].value[1] == 1.25, "writes go through")
  a:forward(gd.tensor.full({ 2, 4 }, 1), { training = true })
  a:backward(gd.tensor.full({ 2, 3 }, 1))
  local g1 = a:params()[2].grad[1]
  assert(g1 == 2, "bias grad sums the batch")
  a:forward(gd.tensor.full({ 2, 4 }, 1), { training = true })
  a:backward(gd.tensor.full({ 2, 3 }, 1))
  assert(a:params()[2].grad[1] == 4, "backward accumulates")
  a:zero_grad()
  assert(a:params()[2].grad[1] == 0)
  collectgarbage()
  local w = gd.layer.dense{ units = 2 }:build{ inputs = 2 }:params()[1].value
  collectgarbage()
  w[1] = 3                          -- the view keeps its layer alive
  assert(w[1] == 3)
end)

T.test("test_loss_checks", function()
  local ce = gd.loss.cross_entropy{}:build{}
  local logits = gd.tensor.zeros{ 2, 3 }
  T.expect_error("target 2 is 4, expected a class number in 1..3", ce.forward, ce, logits, { 1, 4 })
  T.expect_error("target 1 is 0, expected a class number in 1..3", ce.forward, ce, logits, { 0, 1 })
  T.expect_error("3 targets for a batch of 2", ce.forward, ce, logits, { 1, 2, 3 })
  local v = ce:forward(logits, { 1, 3 })
  assert(math.abs(v - math.log(3)) < 1e-6)
  local mse = gd.loss.mse{}:build{}
  T.expect_error("mse:backward: call forward first", mse.backward, mse)
  T.expect_error("target has shape [3, 2], expected [2, 3]", mse.forward, mse, logits,
                 gd.tensor.zeros{ 3, 2 })
end)

T.run()
