-- tests/lua/tensors.lua: gd.tensor construction, indexing, views.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

T.test("test_tensor_flat", function()
  local x = gd.tensor{ -1.5, 2.0 }
  assert(#x == 2 and x[1] == -1.5 and x[2] == 2.0)
  local s = x:shape()
  assert(#s == 1 and s[1] == 2)
  x[2] = 0.1
  assert(x[2] == T.f32(0.1), "stored as float32")
  local t = x:totable()
  assert(#t == 2 and t[1] == -1.5)
end)

T.test("test_tensor_shapes", function()
  local m = gd.tensor({ 1, 2, 3, 4, 5, 6 }, { 2, 3 })
  assert(table.concat(m:shape(), ",") == "2,3" and m[4] == 4)
  local n = gd.tensor{ { 1, 2, 3 }, { 4, 5, 6 } }
  assert(table.concat(n:shape(), ",") == "2,3" and n[6] == 6)
  local r = gd.tensor{ shape = { 3, 2 }, 1, 2, 3, 4, 5, 6 }   -- the reference format
  assert(table.concat(r:shape(), ",") == "3,2" and r[5] == 5)
  local z = gd.tensor.zeros{ 2, 2 }
  assert(#z == 4 and z[4] == 0)
  assert(#gd.tensor.zeros(2, 3, 4) == 24)
  local c = gd.tensor(m)                -- a copy
  c[1] = 9
  assert(m[1] == 1)
  local v = m:reshape{ 3, 2 }           -- a view
  v[1] = 7
  assert(m[1] == 7 and table.concat(v:shape(), ",") == "3,2")
  assert(tostring(m):find("tensor[2, 3]", 1, true), tostring(m))
end)

T.test("test_tensor_copy_fill", function()
  local x = gd.tensor.zeros{ 2, 2 }
  x:copy{ { 1, 2 }, { 3, 4 } }
  assert(x[3] == 3)
  x:fill(0.5)
  assert(x[4] == 0.5)
  T.expect_error("source has shape [3], expected [2, 2]", x.copy, x, { 1, 2, 3 })
end)

T.test("test_tensor_errors", function()
  local x = gd.tensor{ 1, 2 }
  T.expect_error("tensor index 3 out of range (1..2)", function() return x[3] end)
  T.expect_error("tensor index 0 out of range (1..2)", function() x[0] = 1 end)
  T.expect_error("tensor index must be an integer, got 1.5", function() return x[1.5] end)
  T.expect_error("tensor element must be a number, got string", function() x[1] = "a" end)
  T.expect_error("3 values do not fill shape [2, 2]", gd.tensor, { 1, 2, 3 }, { 2, 2 })
  T.expect_error("ragged table", gd.tensor, { { 1, 2 }, { 3 } })
  T.expect_error("empty table", gd.tensor, {})
  T.expect_error("element 2 must be a number, got string", gd.tensor, { 1, "x" })
  T.expect_error("dimensions must be integers >= 1, got 0", gd.tensor.zeros, { 2, 0 })
  T.expect_error("dimensions must be integers >= 1, got 1.5", gd.tensor.zeros, { 1.5 })
  T.expect_error("1 to 4 dimensions", gd.tensor.zeros, { 1, 1, 1, 1, 1 })
  T.expect_error("tensor expected, got number", x.norm, 5)
end)

T.test("test_tensor_integral_index_float", function()
  local x = gd.tensor{ 1, 2, 3 }
  assert(x[2.0] == 2)
end)

T.run()
