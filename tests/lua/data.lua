-- tests/lua/data.lua: gd.data.* loaders and data set methods.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

T.test("test_data_synthetic", function()
  local s = gd.data.synthetic.spirals{ n = 90, classes = 3, noise = 0.1, seed = 1 }
  assert(s:size() == 90 and #s == 90 and s:features() == 2 and s:classes() == 3)
  local b = gd.data.synthetic.blobs{ n = 50, classes = 5, features = 4 }
  assert(b:features() == 4 and b:classes() == 5)
  local x = gd.data.synthetic.xor{ n = 40 }
  assert(x:classes() == 2)
  local r = gd.data.synthetic.regression{ n = 30, features = 3 }
  assert(r:classes() == 0 and r:features() == 3)
  -- deterministic given the seed
  local a1 = gd.data.synthetic.spirals{ n = 20, seed = 5 }:tensors()
  local a2 = gd.data.synthetic.spirals{ n = 20, seed = 5 }:tensors()
  for i = 1, #a1 do assert(a1[i] == a2[i]) end
  T.expect_error("gd.data.synthetic.spirals: unknown option 'size' " ..
                 "(options: n, classes, noise, seed)",
                 gd.data.synthetic.spirals, { size = 10 })
  T.expect_error("option 'n' must be an integer >= 1, got 0", gd.data.synthetic.xor, { n = 0 })
end)

T.test("test_data_split_subset", function()
  local d = gd.data.synthetic.blobs{ n = 100, classes = 2 }
  local tr, va = d:split{ validation = 20, seed = 1 }
  assert(tr:size() == 80 and va:size() == 20)
  local tr2, va2 = d:split{ validation = 0.25, seed = 1 }
  assert(tr2:size() == 75 and va2:size() == 25)
  assert(d:subset(10):size() == 10)
  T.expect_error("'validation' must leave both parts non-empty", d.split, d, { validation = 100 })
  T.expect_error("split: unknown option 'val'", d.split, d, { val = 10 })
  T.expect_error("subset: n must be in 1..100, got 101", d.subset, d, 101)
end)

T.test("test_data_tensor_and_get", function()
  local d = gd.data.tensor{ x = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }, y = { 1, 2, 2, 1 } }
  assert(d:classes() == 2 and d:size() == 4)
  local x, y = d:get(2)
  assert(x[2] == 1 and y == 2, "class numbers stay 1-based")
  local xs, ys = d:tensors()
  assert(table.concat(xs:shape(), ",") == "4,2" and ys[3] == 2)
  local r = gd.data.tensor{ x = gd.tensor{ { 1 }, { 2 }, { 3 } }, y = gd.tensor{ 2.5, 3.5, 4.5 } }
  assert(r:classes() == 0)
  local _, ry = r:get(3)
  assert(ry[1] == 4.5)
  T.expect_error("y[2] must be a class number in 1..K", gd.data.tensor,
                 { x = { { 1 }, { 2 } }, y = { 1, 0 } })
  T.expect_error("3 class numbers for 2 samples", gd.data.tensor,
                 { x = { { 1 }, { 2 } }, y = { 1, 2, 1 } })
  T.expect_error("option 'x' is required", gd.data.tensor, { y = { 1 } })
end)

T.test("test_data_standardize", function()
  local r = gd.data.synthetic.regression{ n = 200, features = 2 }
  local s = r:standardize()
  local x = s:tensors()
  local mean, sq = 0, 0
  for i = 1, #x, 2 do mean = mean + x[i]; sq = sq + x[i] * x[i] end
  mean, sq = mean / 200, sq / 200
  assert(math.abs(mean) < 1e-5 and math.abs(sq - 1) < 1e-4, mean .. " " .. sq)
end)

T.test("test_data_csv", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
  f:close()
  local d = gd.data.csv{ path = path, target = "label", classes = true }
  assert(d:size() == 3 and d:features() == 2 and d:classes() == 2)
  local _, y = d:get(2)
  assert(y == 2)
  local r = gd.data.csv{ path = path, target = 3 }
  assert(r:classes() == 0)
  os.remove(path)
  T.expect_error(path, gd.data.csv, { path = path })
  T.expect_error("gd.data.csv: option 'path' is required", gd.data.csv, {})
end)

T.test("test_data_fashion_mnist", function()
  local ok, d = pcall(gd.data.fashion_mnist, { split = "test", limit = 50 })
  if ok then
    assert(d:size() == 50 and d:features() == 784 and d:classes() == 10)
    local x = d:get(1)
    for i = 1, #x do assert(x[i] >= 0 and x[i] <= 1) end
  else
    assert(tostring(d):find("fashion", 1, true) or tostring(d):find("idx", 1, true), d)
  end
  T.expect_error("option 'split' must be \"train\" or \"test\"", gd.data.fashion_mnist,
                 { split = "valid" })
end)

T.run()
