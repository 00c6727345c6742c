-- tests/lua/specs.lua: specs from Lua, and every message a bad spec gets.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

T.test("test_spec_fields", function()
  local s = gd.optim.adam{ lr = 1e-2 }
  assert(s.kind == "optimizer", s.kind)
  assert(s.name == "adam", s.name)
  assert(s.options.lr == 1e-2)
  assert(s:options().beta1 == 0.9)            -- spec:options() as well as spec.options
  assert(s.options.eps_inside == true)
  assert(type(s.doc) == "string" and #s.doc > 0)
  assert(s.file:match("adam%.so$"), s.file)
  local text = tostring(s)
  assert(text:find("adam{lr=0.01", 1, true), text)
  T.expect_error("immutable", function() s.lr = 1 end)
end)

T.test("test_spec_defaults_without_table", function()
  local a, b = gd.optim.sgd{}, gd.optim.sgd()
  assert(a.options.lr == 0.01 and b.options.lr == 0.01)
  assert(gd.layer.relu{}.kind == "layer")
end)

T.test("test_spec_integer_option", function()
  local w = gd.sched.warmup{ steps = 10.0 }
  assert(math.type(w.options.steps) == "integer" and w.options.steps == 10)
  T.expect_error("warmup: option 'steps' must be an integer, got 10.5",
                 gd.sched.warmup, { steps = 10.5 })
  -- an integer is fine for a number option
  assert(gd.optim.sgd{ lr = 1 }.options.lr == 1)
end)

T.test("test_spec_enum_and_boolean", function()
  assert(gd.sched.constant{ unit = "epoch" }.options.unit == "epoch")
  T.expect_error("constant: option 'unit' must be one of 'step', 'epoch', got 'epochs'",
                 gd.sched.constant, { unit = "epochs" })
  T.expect_error("adam: option 'eps_inside' must be a boolean, got integer",
                 gd.optim.adam, { eps_inside = 1 })
end)

T.test("test_spec_nested", function()
  local w = gd.sched.warmup{ steps = 5, after = gd.sched.cosine{ T = 10 } }
  local after = w.options.after
  assert(after.kind == "scheduler" and after.name == "cosine" and after.options.T == 10)
  local d = gd.layer.dense{ units = 3, init = "he_normal" }
  assert(d.options.init.name == "he_normal")
  local d2 = gd.layer.dense{ units = 3, init = gd.init.normal{ std = 0.1 } }
  assert(d2.options.init.options.std == 0.1)
  assert(gd.layer.dense{ units = 3 }.options.init.name == "xavier_uniform")
end)

T.test("test_spec_unknown_component", function()
  local msg = T.expect_error("unknown optimizer 'adamm' (did you mean 'adam'? available: ",
                             function() return gd.optim.adamm{} end)
  assert(msg:find("sgd", 1, true), msg)
  -- near a built-in, a plugin's name still gets the hint to load the plugin
  msg = T.expect_error("unknown optimizer 'lion' (did you mean 'muon'? available: ",
                       function() return gd.optim.lion{} end)
  assert(msg:find("if a plugin provides it, load it: gradus -l FILE.so, gd.plugins.load(FILE)",
                  1, true), msg)
  T.expect_error("unknown scheduler 'cosin' (did you mean 'cosine'?",
                 function() return gd.sched.cosin end)
  T.expect_error("dense: option 'init': unknown initializer 'he_normall' " ..
                 "(did you mean 'he_normal'?",
                 gd.layer.dense, { units = 3, init = "he_normall" })
end)

T.test("test_spec_unknown_option", function()
  T.expect_error("adam: unknown option 'beta_1' (did you mean 'beta1'? options: lr, beta1, " ..
                 "beta2, eps, eps_inside, bias_correction)", gd.optim.adam, { beta_1 = 0.9 })
  T.expect_error("relu: unknown option 'slope' (it takes no options)", gd.layer.relu,
                 { slope = 1 })
end)

T.test("test_spec_wrong_type", function()
  T.expect_error("adam: option 'lr' must be a number, got string", gd.optim.adam, { lr = "big" })
  T.expect_error("adam: option 'lr' must be a number, got table", gd.optim.adam, { lr = {} })
  T.expect_error("adam: options are named", gd.optim.adam, { 0.1 })
  T.expect_error("adam: options must be a table, got number", gd.optim.adam, 0.1)
end)

T.test("test_spec_out_of_range", function()
  T.expect_error("adam: option 'lr' must be >= 0, got -1", gd.optim.adam, { lr = -1 })
  T.expect_error("adam: option 'beta1' must be in [0, 1), got 1", gd.optim.adam, { beta1 = 1 })
  T.expect_error("dense: option 'units' must be >= 1, got 0", gd.layer.dense, { units = 0 })
end)

T.test("test_spec_missing_required", function()
  T.expect_error("dense: option 'units' is required", gd.layer.dense, {})
  T.expect_error("warmup: option 'steps' is required", gd.sched.warmup, {})
end)

T.test("test_spec_wrong_kind", function()
  T.expect_error("warmup: option 'after' must be a scheduler, got layer 'relu'",
                 gd.sched.warmup, { steps = 2, after = gd.layer.relu{} })
  T.expect_error("warmup: option 'after' must be a scheduler (a spec or a name), got the " ..
                 "constructor gd.sched.cosine (call it: gd.sched.cosine{})",
                 gd.sched.warmup, { steps = 2, after = gd.sched.cosine })
  -- a layer spec where a schedule is expected, through a method
  local lr = gd.sched.constant{}.lr
  T.expect_error("scheduler spec expected, got layer spec 'dense'", lr,
                 gd.layer.dense{ units = 2 }, 0)
  -- a schedule has no build, a layer has no lr
  assert(gd.sched.constant{}.build == nil and gd.layer.relu{}.lr == nil)
end)

T.test("test_namespaces_from_registry", function()
  local names = {}
  for name, ctor in pairs(gd.optim) do
    names[#names + 1] = name
    assert(ctor{}.name == name)
  end
  assert(#names >= 7, #names)
  T.expect_error("generated from the plugin registry", function() gd.optim.mine = 1 end)
  local list = gd.plugins.list("optim")
  assert(#list == #names)
  local adam
  for _, e in ipairs(list) do if e.name == "adam" then adam = e end end
  assert(adam.kind == "optimizer" and adam.file:match("adam%.so$") and #adam.doc > 0)
  local lr = adam.options[1]
  assert(lr.name == "lr" and lr.type == "number" and lr.default == 1e-3 and lr.min == 0, lr.name)
  assert(#gd.plugins.list() >= #list)
  T.expect_error("unknown kind 'optimiser'", gd.plugins.list, "optimiser")
  local sched = gd.plugins.list("scheduler")
  for _, e in ipairs(sched) do
    local unit = e.options[#e.options]
    assert(unit.name == "unit" and unit.choices[1] == "step" and unit.choices[2] == "epoch")
  end
end)

T.test("test_plugins_load", function()
  local dir = os.getenv("GRADUS_FIXTURE_DIR")
  if not dir or dir == "" then error("GRADUS_FIXTURE_DIR is not set") end
  T.expect_error("unknown optimizer 'fixture_opt'", function() return gd.optim.fixture_opt end)
  local added = gd.plugins.load(dir .. "/fixture_good.so")
  assert(added[1] == "optim.fixture_opt", tostring(added[1]))
  -- appears with no binding code, validated by its schema
  local s = gd.optim.fixture_opt{ scale = 2, steps = 3.0 }
  assert(s.options.scale == 2 and s.options.steps == 3)
  T.expect_error("fixture_opt: option 'scale' is required", gd.optim.fixture_opt, {})
  T.expect_error("no such file", gd.plugins.load, dir .. "/no_such_plugin.so")
  T.expect_error("ABI", gd.plugins.load, dir .. "/fixture_bad_abi.so")
  T.expect_error("duplicate", gd.plugins.load, dir .. "/fixture_dup_builtin.so")
end)

T.run()
