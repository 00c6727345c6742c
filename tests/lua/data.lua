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
  -- out-of-range class counts are refused where they are read, never clamped
  T.expect_error("gd.data.synthetic.blobs: option 'classes' must be an integer in 2..1000, "
                 .. "got 1001", gd.data.synthetic.blobs, { classes = 1001 })
  T.expect_error("gd.data.synthetic.spirals: option 'classes' must be an integer in 2..1000, "
                 .. "got 5000", gd.data.synthetic.spirals, { classes = 5000 })
  local most = gd.data.synthetic.blobs{ n = 1000, classes = 1000 }
  assert(most:classes() == 1000 and most:recipe().classes == 1000)
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
  local d = T.fashion_mnist{ split = "test", limit = 50 }
  if d then
    assert(d:size() == 50 and d:features() == 784 and d:classes() == 10)
    local x = d:get(1)
    for i = 1, #x do assert(x[i] >= 0 and x[i] <= 1) end
  end
  T.expect_error("option 'split' must be \"train\" or \"test\"", gd.data.fashion_mnist,
                 { split = "valid" })
end)

-- ---- recipes and identities (what a checkpoint rebuilds its data from) ----

-- Structural equality of plain tables (recipes, identities).
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b and math.type(a) == math.type(b)
  end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function show(v, indent)
  if type(v) ~= "table" then return type(v) == "string" and ("%q"):format(v) or tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. " = " .. show(v[k]) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- ds rebuilt from its recipe has the same identity, sizes and recipe.
local function check_rebuild(what, ds)
  local r = ds:recipe()
  assert(type(r) == "table", what .. ": no recipe")
  local again = gd.data.rebuild(r)
  local a, b = ds:identity(), again:identity()
  assert(same(a, b), what .. ": identity " .. show(a) .. " rebuilt as " .. show(b))
  assert(math.type(a.crc) == "integer" and a.crc >= 0 and a.crc < 2 ^ 32, what)
  assert(a.size == ds:size() and a.features == ds:features() and a.classes == ds:classes(), what)
  assert(again:size() == ds:size() and again:name() == ds:name(), what)
  assert(same(again:recipe(), r), what .. ": recipe " .. show(r) .. " rebuilt as " ..
         show(again:recipe()))
  return again
end

local write_csv = T.spit

T.test("test_data_recipe_synthetic_defaults_explicit", function()
  local cases = {
    { gd.data.synthetic.spirals{}, { source = "synthetic.spirals", n = 300, classes = 3,
                                      noise = 0.2, seed = 1 } },
    { gd.data.synthetic.blobs{ n = 40, seed = 7 },
      { source = "synthetic.blobs", n = 40, classes = 3, features = 2, spread = 1.0, seed = 7 } },
    { gd.data.synthetic.xor{ noise = 0.3 }, { source = "synthetic.xor", n = 200, noise = 0.3,
                                              seed = 1 } },
    { gd.data.synthetic.regression{ features = 3 },
      { source = "synthetic.regression", n = 200, features = 3, noise = 0.1, seed = 1 } },
    { gd.data.synthetic.quadratic_deep{ n = 5, seed = 9 },
      { source = "synthetic.quadratic_deep", n = 5, noise = 0.6, problem = 42, seed = 9 } },
  }
  for _, c in ipairs(cases) do
    local ds, want = c[1], c[2]
    assert(same(ds:recipe(), want), want.source .. ": recipe " .. show(ds:recipe()))
    check_rebuild(want.source, ds)
  end
  -- a copy: changing it changes neither the set's recipe nor the set
  local s = gd.data.synthetic.spirals{ n = 30 }
  local r = s:recipe()
  r.n, r.source = 31, "csv"
  assert(s:recipe().n == 30 and s:recipe().source == "synthetic.spirals")
end)

T.test("test_data_identity_tells_data_apart", function()
  local id = function(ds) return ds:identity().crc end
  local s1 = gd.data.synthetic.spirals{ n = 60, seed = 1 }
  assert(id(s1) == id(gd.data.synthetic.spirals{ n = 60, seed = 1 }))
  assert(id(s1) ~= id(gd.data.synthetic.spirals{ n = 60, seed = 2 }))
  assert(id(s1) ~= id(gd.data.synthetic.spirals{ n = 60, seed = 1, noise = 0.21 }))
  assert(id(s1) ~= id(s1:subset(59)))
  local tr, va = s1:split{ validation = 30, seed = 1 }
  assert(id(tr) ~= id(va) and tr:identity().size == va:identity().size)
  local tr2 = s1:split{ validation = 30, seed = 2 }
  assert(id(tr) ~= id(tr2))
  -- the same samples in the same order, however made, are the same data
  local x, y = s1:tensors()
  local t = gd.data.tensor{ x = x, y = y }
  assert(same(t:identity(), s1:identity()), show(t:identity()) .. " " .. show(s1:identity()))
  local i = gd.data.synthetic.regression{ n = 10, features = 2 }:identity()
  assert(i.classes == 0 and i.target_width == 1 and i.features == 2 and i.size == 10)
end)

T.test("test_data_recipe_views", function()
  local base = gd.data.synthetic.blobs{ n = 120, classes = 4, features = 3, seed = 3 }
  local tr, va = base:split{ validation = 0.25, seed = 5 }
  local r1, r2 = tr:recipe(), va:recipe()
  assert(r1.view == "split" and r1.part == 1 and r2.part == 2, show(r1))
  assert(r1.validation == 0.25 and r1.seed == 5 and same(r1.of, base:recipe()), show(r1))
  check_rebuild("split part 1", tr)
  check_rebuild("split part 2", va)
  -- standardize with statistics from the train part, and with its own
  local trs, vas = tr:standardize(), va:standardize(tr)
  assert(trs:recipe().stats_from == nil, show(trs:recipe()))
  assert(same(vas:recipe().stats_from, tr:recipe()) and same(vas:recipe().of, va:recipe()))
  check_rebuild("standardize own", trs)
  check_rebuild("standardize from train", vas)
  assert(vas:identity().crc ~= va:standardize():identity().crc, "stats_from matters")
  assert(tr:standardize(tr):recipe().stats_from == nil, "its own statistics, by either form")
  local twin = gd.data.synthetic.blobs{ n = 120, classes = 4, features = 3, seed = 3 }
  assert(base:standardize(twin):recipe().stats_from == nil, "an equal recipe is its own")
  check_rebuild("standardize from an equal set", base:standardize(twin))
  -- subset of a split, split of a subset, a longer chain
  local sub = tr:subset(17)
  assert(same(sub:recipe(), { view = "subset", n = 17, of = tr:recipe() }), show(sub:recipe()))
  check_rebuild("subset of split", sub)
  local a, b = base:subset(50):split{ validation = 10 }
  assert(b:recipe().seed == 1, "split seed default explicit")
  check_rebuild("split of subset", a)
  check_rebuild("chain", b:standardize(a):subset(4))
end)

T.test("test_data_recipe_csv", function()
  local path = os.tmpname()
  write_csv(path, "a,b,label\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n")
  local d = gd.data.csv{ path = path, target = "label", classes = true }
  assert(same(d:recipe(), { source = "csv", path = d:recipe().path, target = "label",
                            header = true, classes = true }), show(d:recipe()))
  check_rebuild("csv", d)
  check_rebuild("csv split standardize", (d:split{ validation = 1 }):standardize())
  local r = gd.data.csv{ path = path, target = 3 }
  assert(r:recipe().target == 3 and r:recipe().classes == false)
  check_rebuild("csv regression", r)
  -- another content, another crc
  local before = d:identity().crc
  write_csv(path, "a,b,label\n1,2,0\n3,4,1\n5,6,1\n7,9,0\n")
  local changed = gd.data.rebuild(d:recipe())
  assert(changed:identity().crc ~= before and changed:size() == d:size())
  -- the file gone: the loader's own error comes through unchanged
  os.remove(path)
  local direct = T.expect_error(path, gd.data.csv, { path = path })
  local rebuilt = T.expect_error(path, gd.data.rebuild, d:recipe())
  assert(direct:gsub("^[^:]*:%d+: ", "") == rebuilt:gsub("^[^:]*:%d+: ", ""),
         direct .. " / " .. rebuilt)

  -- a relative path is recorded absolute
  local name = "gradus-recipe-" .. path:match("[^/]*$") .. ".csv"
  write_csv(name, "x,y\n1,0\n2,1\n")
  local ok, rel = pcall(gd.data.csv, { path = name, classes = true })
  os.remove(name)
  assert(ok, rel)
  local p = rel:recipe().path
  assert(p:sub(1, 1) == "/" and p:sub(-#name - 1) == "/" .. name, p)
  assert(not p:find("/./", 1, true) and not p:find("//", 1, true), p)
end)

T.test("test_data_recipe_fashion_mnist", function()
  local d = T.fashion_mnist{ split = "test", limit = 300 }
  if not d then return end
  assert(same(d:recipe(), { source = "fashion_mnist", split = "test", limit = 300 }),
         show(d:recipe()))
  check_rebuild("fashion_mnist", d)
  local tr, va = d:split{ validation = 50, seed = 2 }
  check_rebuild("fashion_mnist split standardize", va:standardize(tr))
  assert(gd.data.fashion_mnist{ split = "test", limit = 299 }:identity().crc ~=
         d:identity().crc)
  local dir = os.getenv("GRADUS_DATA")
  if not dir or dir == "" then dir = "/usr/share/datasets/fashion-mnist" end
  local e = gd.data.fashion_mnist{ split = "test", limit = 10, dir = dir .. "/." }
  assert(e:recipe().dir:sub(1, 1) == "/" and not e:recipe().dir:find("/.", 1, true),
         e:recipe().dir)
  check_rebuild("fashion_mnist dir", e)
  assert(gd.data.fashion_mnist():recipe().split == "train", "default split explicit")
end)

T.test("test_data_no_recipe_for_tensors", function()
  local t = gd.data.tensor{ x = { { 0 }, { 1 }, { 2 }, { 3 } }, y = { 1, 2, 1, 2 } }
  assert(t:recipe() == nil)
  local a, b = t:split{ validation = 1 }
  assert(a:recipe() == nil and b:recipe() == nil and t:subset(2):recipe() == nil)
  assert(t:standardize():recipe() == nil)
  -- statistics from a set without a recipe: the result cannot be rebuilt
  local s = gd.data.synthetic.regression{ n = 4, features = 1 }
  assert(s:standardize(t):recipe() == nil and t:standardize(s):recipe() == nil)
  assert(type(t:identity().crc) == "number")
end)

T.test("test_data_recipe_depth", function()
  local d = gd.data.synthetic.xor{ n = 100 }
  for _ = 1, 15 do d = d:subset(d:size() - 1) end   -- 16 levels: rebuildable
  check_rebuild("15 views", d)
  local deeper = d:subset(10)
  assert(deeper:recipe() == nil, "a 17th level has no recipe")
  local r = d:recipe()
  local r17 = { view = "subset", n = 1, of = r }
  T.expect_error("gd.data.rebuild: in recipe" .. ("." .. "of"):rep(16) ..
                 ": recipe nested deeper than 16 levels", gd.data.rebuild, r17)
  local cyclic = { view = "subset", n = 1 }
  cyclic.of = cyclic
  T.expect_error("recipe nested deeper than 16 levels", gd.data.rebuild, cyclic)
end)

T.test("test_data_rebuild_malformed", function()
  local ok_src = { source = "synthetic.xor", n = 10, noise = 0.1, seed = 1 }
  local cases = {
    { 42, "gd.data.rebuild: recipe must be a table (from ds:recipe()), got 42" },
    { nil, "gd.data.rebuild: recipe must be a table (from ds:recipe()), got nil" },
    { { source = "foo" }, "gd.data.rebuild: unknown source 'foo' (sources: fashion_mnist, " ..
      "csv, text, synthetic.spirals, synthetic.blobs, synthetic.xor, synthetic.regression, "
      .. "synthetic.quadratic_deep)" },
    { { source = "tensor" }, "gd.data.rebuild: unknown source 'tensor'" },
    { { view = "shuffle", of = ok_src },
      "gd.data.rebuild: unknown view 'shuffle' (views: split, subset, standardize)" },
    { { view = "subset", n = 2 },
      "gd.data.rebuild: view 'subset' needs 'of' (the recipe of the set it views)" },
    { { view = "subset", n = 2, of = "synthetic.xor" },
      "gd.data.rebuild: 'of' must be a recipe table, got 'synthetic.xor'" },
    { {}, "gd.data.rebuild: a recipe needs 'source' (a constructor) or 'view' (with 'of')" },
    { { source = "csv", view = "subset" }, "gd.data.rebuild: a recipe has 'source' or " ..
      "'view', not both" },
    { { source = 3 }, "gd.data.rebuild: 'source' must be a string, got 3" },
    { { source = "csv", [1] = "x" }, "gd.data.rebuild: recipe keys must be strings, got 1" },
    { { source = "csv", path = print }, "gd.data.rebuild: field 'path' must be a string, " ..
      "number, boolean or table, got function" },
    { setmetatable({ source = "csv" }, {}),
      "gd.data.rebuild: recipe tables must be plain, this one has a metatable" },
    { { view = "split", part = 3, of = ok_src, validation = 2 },
      "gd.data.rebuild: split 'part' must be 1 (train) or 2 (validation), got 3" },
    { { view = "split", of = ok_src, validation = 2 },
      "gd.data.rebuild: split 'part' must be 1 (train) or 2 (validation), got nil" },
    { { view = "subset", of = ok_src, n = "5" },
      "gd.data.rebuild: subset 'n' must be an integer, got '5'" },
    { { view = "subset", of = ok_src, n = 5, seed = 1 },
      "gd.data.rebuild: subset recipe: unknown option 'seed' (options: view, of, n)" },
    { { view = "standardize", of = ok_src, stats_from = 1 },
      "gd.data.rebuild: 'stats_from' must be a recipe table, got 1" },
    -- nested: the place is named
    { { view = "standardize", of = { view = "subset", n = 1, of = { source = "bar" } } },
      "gd.data.rebuild: in recipe.of.of: unknown source 'bar'" },
    { { view = "standardize", of = ok_src, stats_from = { view = "x", of = ok_src } },
      "gd.data.rebuild: in recipe.stats_from: unknown view 'x'" },
    { { source = "csv", path = "/x", target = { a = setmetatable({}, {}) } },
      "gd.data.rebuild: in recipe.target.a: recipe tables must be plain" },
    -- the constructors' and view methods' own checks
    { { source = "synthetic.xor", n = 0 }, "gd.data.synthetic.xor: option 'n' must be an " ..
      "integer >= 1, got 0" },
    { { source = "synthetic.xor", size = 3 }, "gd.data.synthetic.xor: unknown option 'size'" },
    { { view = "split", part = 1, of = ok_src, validation = 10 },
      "'validation' must leave both parts non-empty" },
    { { view = "subset", of = ok_src, n = 11 }, "subset: n must be in 1..10, got 11" },
  }
  for _, c in ipairs(cases) do T.expect_error(c[2], gd.data.rebuild, c[1]) end
  -- integral floats pass for integers (an encoding may not keep the subtype)
  local d = gd.data.rebuild{ view = "split", part = 2.0, validation = 3.0, seed = 4.0,
                             of = { view = "subset", n = 8.0, of = ok_src } }
  local _, want = gd.data.synthetic.xor{ n = 10 }:subset(8):split{ validation = 3, seed = 4 }
  assert(d:size() == 3 and d:identity().crc == want:identity().crc)
  -- a metamethod of a recipe never runs
  local ran = false
  local trap = setmetatable({}, { __index = function() ran = true end })
  pcall(gd.data.rebuild, { view = "subset", n = 1, of = trap })
  assert(not ran)
end)

T.run()
