-- tests/lua/optim_instances.lua: spec:build{...} of optimizers is one type
-- whatever the optimizer (elementwise, tensor-aware, composite, grouped),
-- with one behaviour: what step accepts, what it refuses (before anything
-- moves), the lifetimes it checks, and its limits. Also the build arguments
-- of layers and blocks, read by one reader.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local FREED = "the model or layer it views has been freed (its finalizer ran)"

-- One of each path: elementwise, tensor-aware, composite, grouped.
local function kinds()
  return {
    sgd = gd.optim.sgd{ lr = 0.1 },
    lamb = gd.optim.lamb{ lr = 0.1 },
    lookahead = gd.optim.lookahead{ k = 2, inner = gd.optim.sgd{ lr = 0.1 } },
    grouped = gd.optim.sgd{ lr = 0.1, groups = { { role = "weight", lr = 0.05 } } },
  }
end

T.test("test_optim_instances_are_one_type", function()
  local a = gd.optim.adam{}:build{ gd.tensor{ 1, 2 } }
  local b = gd.optim.lamb{}:build{ gd.tensor{ 1, 2 } }
  assert(getmetatable(a) == getmetatable(b), "elementwise and tensor-aware differ in type")
  assert(rawequal(a.step, b.step) and rawequal(a.slots, b.slots), "methods are not shared")
  assert(a.__gc == nil and a.__tostring == nil and a.__index == nil, "a metamethod is a method")
  assert(a.nonsense == nil)
  assert(tostring(b):find("^optimizer lamb") and tostring(b):find("over 1 tensors, 0 updates"))
  assert(a.spec.name == "adam" and b.t == 0)
end)

T.test("test_optim_instances_step_accepts_the_same_everywhere", function()
  for name, spec in pairs(kinds()) do
    local x = gd.tensor({ 1, 2 }, { 1, 2 })      -- a weight
    local g = gd.tensor({ 1, 1 }, { 1, 2 })
    local opt = spec:build(x)                     -- a single tensor, not a list
    assert(opt:step(g) == 1, name .. ": a bare gradient over one tensor")
    assert(opt:step({ g }, { lr = 0.05 }) == 2, name .. ": { lr = }")
    -- a closure is accepted by every optimizer (called only by two-pass ones)
    local called = false
    opt:step({ g }, { closure = function() called = true end })
    assert(not called, name .. ": a one-pass optimizer called the closure")
    assert(opt.t == 3 and x[1] < 1, name .. ": three updates moved nothing")
  end
  -- { lr = } is this update's lr as given, also over a base lr of 0
  local x = gd.tensor{ 1, 2 }
  gd.optim.sgd{ lr = 0 }:build{ x }:step({ gd.tensor{ 1, 1 } }, { lr = 0.5 })
  assert(x[1] == 0.5 and x[2] == 1.5, "an explicit lr over a base lr of 0 did nothing")
end)

T.test("test_optim_instances_step_refusals_change_nothing", function()
  for name, spec in pairs(kinds()) do
    local W, b = gd.tensor({ 1, 2, 3, 4 }, { 2, 2 }), gd.tensor{ 5, 6 }
    local opt = spec:build{ W, b }
    local g = { gd.tensor.zeros{ 2, 2 }, gd.tensor.zeros{ 2 } }
    local who = opt.spec.name
    T.expect_error(who .. ":step: unknown option 'lrr' (did you mean 'lr'? options: lr, closure)",
                   opt.step, opt, g, { lrr = 0.1 })
    T.expect_error(who .. ":step: options must be a table ({ lr =, closure = }), got number",
                   opt.step, opt, g, 0.1)
    T.expect_error(who .. ":step: option 'lr' must be a number >= 0, got -nan", opt.step, opt, g,
                   { lr = 0 / 0 })
    T.expect_error(who .. ":step: option 'closure' must be a function, got 1", opt.step, opt, g,
                   { closure = 1 })
    T.expect_error(who .. ":step: expects a list of 2 gradient tensors, got tensor",
                   opt.step, opt, g[1])
    T.expect_error(who .. ":step: 1 gradient tensors for 2 parameter tensors", opt.step, opt,
                   { g[1] })
    T.expect_error(who .. ":step: gradient 2 has shape [3], expected [2]", opt.step, opt,
                   { g[1], gd.tensor{ 1, 2, 3 } })
    T.expect_error(who .. ":step: entry 2 must be a tensor, got string", opt.step, opt,
                   { g[1], "x" })
    T.expect_error(who .. ":step: no gradients given (build from :params() entries", opt.step, opt)
    assert(opt.t == 0 and W[1] == 1 and b[2] == 6, name .. ": a refused step changed something")
  end
end)

T.test("test_optim_instances_build_refusals", function()
  local x = gd.tensor{ 1, 2 }
  for name, spec in pairs(kinds()) do
    local who = spec.name .. ":build"
    T.expect_error(who .. ": expects a non-empty list of parameter tensors", spec.build, spec, {})
    T.expect_error(who .. ": expects a list of parameter tensors ({ x, ... }), got number",
                   spec.build, spec, 3)
    -- the cap is checked before any entry is read
    local huge = setmetatable({}, { __len = function() return (1 << 20) + 1 end })
    T.expect_error(who .. ": at most 1048576 parameter tensors, got 1048577", spec.build, spec,
                   huge)
    T.expect_error(who .. ": entry 1: role must be one of weight, bias, scale, shift, embedding, "
                   .. "got gain", spec.build, spec, { { value = x, role = "gain" } })
    T.expect_error(who .. ": entry 1 must be a tensor, got table", spec.build, spec, { {} })
    assert(name)
  end
end)

T.test("test_optim_instances_lifetimes", function()
  -- the model's finalizer ran (called by hand): a tensor-aware optimizer
  -- over its weights refuses too (it used to write into the freed memory)
  for name, spec in pairs(kinds()) do
    local m = gd.sequential{ gd.layer.dense{ units = 3 } }:build{ inputs = 2, seed = 1 }
    local opt = spec:build(m:params())
    getmetatable(m).__gc(m)
    T.expect_error(FREED, opt.step, opt)
    assert(opt.t == 0, name)
  end
  local function weight() return gd.tensor({ 1, 2 }, { 1, 2 }) end
  for name, spec in pairs(kinds()) do
    -- its own finalizer ran: its state and the views of it are gone
    local opt = spec:build{ weight() }
    local slots = opt:slots(1)
    getmetatable(opt).__gc(opt)
    getmetatable(opt).__gc(opt)     -- twice is harmless
    T.expect_error("optimizer: its state has been freed (its finalizer ran)", opt.step, opt,
                   { weight() })
    T.expect_error("optimizer: its state has been freed", function() return opt.t end)
    if slots[1] then T.expect_error(FREED, function() return slots[1][1] end) end
    -- its spec's finalizer ran
    local s2 = kinds()[name]
    local opt2 = s2:build{ weight() }
    getmetatable(s2).__gc(s2)
    T.expect_error("optimizer: its spec has been freed (its finalizer ran)", opt2.step, opt2,
                   { weight() })
  end
  -- sam's closure can neither step nor free the instance that called it
  local x = gd.tensor{ 1, 2 }
  local sam = gd.optim.sam{}:build{ x }
  local ok, msg = pcall(sam.step, sam, { gd.tensor{ 1, 1 } },
                        { closure = function() sam:step({ gd.tensor{ 1, 1 } }) end })
  assert(not ok and msg:find("sam:step: called from its own closure", 1, true), msg)
  ok, msg = pcall(sam.step, sam, { gd.tensor{ 1, 1 } },
                  { closure = function() getmetatable(sam).__gc(sam) end })
  assert(not ok and msg:find("optimizer: cannot be freed while it steps", 1, true), msg)
  assert(sam.t == 0 and x[1] == 1 and x[2] == 2, "a refused two-pass step moved something")
  assert(sam:step({ gd.tensor{ 1, 1 } }, { closure = function() return { gd.tensor{ 1, 1 } } end })
         == 1, "the instance works after the refusals")
end)

T.test("test_build_args_one_reader", function()
  local dense = gd.layer.dense{ units = 2 }
  local seq = gd.sequential{ gd.layer.dense{ units = 2 } }
  local res = gd.residual{ gd.layer.dense{ units = 3 } }
  for what, part in pairs{ ["dense:build"] = dense, ["sequential:build"] = seq,
                           ["residual:build"] = res } do
    T.expect_error(what .. ": unknown option 'input' (did you mean 'inputs'? options: "
                   .. "inputs, seed)", part.build, part,
                   { input = 3 })
    T.expect_error(what .. ": expects { inputs = n or shape, seed = s }, got no value", part.build,
                   part)
    T.expect_error(what .. ": option 'inputs' is required (per-sample input: n features, or "
                   .. "{ C, H, W })", part.build, part, { seed = 1 })
    T.expect_error(what .. ": option 'seed' must be an integer, got 1.5", part.build, part,
                   { inputs = 3, seed = 1.5 })
    T.expect_error(what .. ": inputs: at most 3 dimensions per sample", part.build, part,
                   { inputs = { 1, 2, 3, 4 } })
  end
  -- and what they build is unchanged: the same seed, the same first layer
  local a = dense:build{ inputs = 3, seed = 7 }:params()[1].value
  local b = seq:build{ inputs = 3, seed = 7 }:params()[1].value
  for i = 1, #a do assert(a[i] == b[i]) end
end)

T.run()
