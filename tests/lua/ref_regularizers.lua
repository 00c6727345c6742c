-- tests/lua/ref_regularizers.lua: every regularizer case through reg:penalty and
-- reg:grad / reg:add_grad.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("regularizers")

for _, c in ipairs(ref.cases) do
  T.test("test_regularizer_" .. c.name, function()
    local r = T.spec("reg", c.regularizer, c.options):build{}
    local W = gd.tensor(c.W)
    T.close_number(c.name .. " penalty", r:penalty(W), c.penalty, 1e-5)
    local added = r:grad(W)
    T.close(c.name .. " grad_added", added, c.grad_added, 1e-6 * T.maxabs(c.grad_added) + 1e-12)
    local g = gd.tensor(c.grad_in)
    r:add_grad(W, g)
    T.close(c.name .. " grad_out", g, c.grad_out, 1e-6 * T.maxabs(c.grad_out))
  end)
end

T.test("test_regularizer_shape_check", function()
  local r = gd.reg.l2{ lambda = 0.1 }:build{}
  T.expect_error("l2:add_grad: gradient has shape [3], expected [2]", r.add_grad, r,
                 gd.tensor{ 1, 2 }, gd.tensor{ 1, 2, 3 })
  T.expect_error("tensor expected, got table", r.penalty, r, { 1, 2 })
end)

T.run()
