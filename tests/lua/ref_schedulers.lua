-- tests/lua/ref_schedulers.lua: every schedule case through spec:lr(t, lr0),
-- relative tolerance 1e-12 (float64 values).

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("schedulers")

for _, c in ipairs(ref.cases) do
  T.test("test_schedule_" .. c.name, function()
    local s = T.spec("sched", c.schedule, c.options)
    assert(#c.lr == c.steps)
    for i = 1, c.steps do
      T.close_number(("%s t=%d"):format(c.name, i - 1), s:lr(i - 1, c.lr0), c.lr[i], 1e-12)
    end
  end)
end

T.test("test_schedule_lr_checks", function()
  local s = gd.sched.step{ size = 2 }
  T.expect_error("update index t must be >= 0", s.lr, s, -1, 0.1)
  T.expect_error("update index t must be an integer, got number", s.lr, s, 0.5, 0.1)
  assert(s:lr(3.0, 1) == 0.1)
end)

T.run()
