-- tests/lua/ref_optimizers.lua: every optimizer case of the reference, teacher-
-- forced through opt:step (the recorded gradient of update t is fed at
-- update t), with the README's tolerance |got - want| <= 1e-5*S + 4*dev.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("optimizers")

-- build(x) makes the instance (default: the case's optimizer over x).
local function run_case(c, build)
  local x = gd.tensor(c.x0)
  local opt = build and build(x) or T.spec("optim", c.optimizer, c.options):build{ x }
  local want_params = c.params
  if c.form == "lookahead" then
    -- params hold W_la and velocity v: the stored W of the reparametrized
    -- form is W_la - gamma*v (see the README).
    want_params = { shape = c.params.shape }
    for i = 1, #c.params do
      want_params[i] = T.f32(T.f32(c.params[i]) - T.f32(c.options.gamma) * T.f32(c.velocity[i]))
    end
  elseif c.form then
    error("unknown case form '" .. tostring(c.form) .. "'")
  end
  local S = T.maxabs(want_params)
  local dev = math.max(c.dev.forced, c.dev.reparam or 0)
  local tol = 1e-5 * S + 4 * dev
  for t = 1, c.steps do
    local g = T.row(c.grads, t)
    local lr = c.lr_per_step and c.lr_per_step[t]
    local done = opt:step({ g }, lr and { lr = lr } or nil)
    assert(done == t, "step count")
    T.close(("%s step %d"):format(c.name, t), x, T.row(want_params, t):totable(), tol)
    if build then assert(opt:slots(1)[1][1] == t, c.name .. ": the plugin's step count") end
  end
  assert(opt.t == c.steps)
end

for _, c in ipairs(ref.cases) do
  T.test("test_optimizer_" .. c.name, function() run_case(c) end)
end

-- Which code the values above come from: every case again inside
-- count{ inner = ... } (tests/fixtures/fixture_count.c), a plugin that
-- steps its inner optimizer through the core's vtable dispatch and counts
-- its own calls. The values still match and the count is one per update:
-- opt:step reaches the plugins' step functions, not a copy of their
-- formulas (tests/test_optim.c checks with dladdr that the functions the
-- core calls are the ones in each plugin's .so).
T.test("test_optimizer_values_come_through_the_plugin_vtable", function()
  local fixtures = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")
  gd.plugins.load(fixtures .. "/fixture_count.so")
  for _, c in ipairs(ref.cases) do
    local inner = T.spec("optim", c.optimizer, c.options)
    run_case(c, function(x) return gd.optim.count{ inner = inner }:build{ x } end)
  end
end)

T.test("test_optimizer_step_checks", function()
  local x, y = gd.tensor{ 1, 2 }, gd.tensor.zeros{ 2, 3 }
  local opt = gd.optim.adam{}:build{ x, y }
  T.expect_error("adam:step: gradient 2 has shape [3, 2], expected [2, 3]", opt.step, opt,
                 { gd.tensor{ 0, 0 }, gd.tensor.zeros{ 3, 2 } })
  T.expect_error("adam:step: 1 gradient tensors for 2 parameter tensors", opt.step, opt,
                 { gd.tensor{ 0, 0 } })
  T.expect_error("entry 1 must be a tensor, got number", opt.step, opt, { 1, 2 })
  assert(opt.t == 0 and x[1] == 1, "a refused step changes nothing")
  T.expect_error("option 'lr' must be a number >= 0, got -1", opt.step, opt,
                 { gd.tensor{ 0, 0 }, gd.tensor.zeros{ 2, 3 } }, { lr = -1 })
  T.expect_error("expects a list of parameter tensors", gd.optim.sgd{}.build, gd.optim.sgd{}, 3)
  T.expect_error("entry 1 must be a tensor, got table", gd.optim.sgd{}.build, gd.optim.sgd{},
                 { {} })
end)

T.test("test_optimizer_slots_and_params_entries", function()
  local layer = gd.layer.dense{ units = 2 }:build{ inputs = 3, seed = 1 }
  local params = layer:params()
  local opt = gd.optim.momentum{ lr = 0.5, gamma = 0 }:build(params)
  local w0 = params[1].value[1]
  params[1].grad:fill(1)
  params[2].grad:fill(1)
  opt:step()                                  -- steps on the entries' grad tensors
  assert(math.abs(params[1].value[1] - (w0 - 0.5)) < 1e-6)
  local slots = opt:slots(1)
  assert(#slots == 1 and slots[1][1] == 0.5, "velocity slot is a live view")
end)

T.run()
