-- tests/lua/ref_clipping.lua: gd.clip_norm and gd.clip_value against every case.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("clipping")

for _, c in ipairs(ref.cases) do
  T.test("test_clip_" .. c.name, function()
    local gs = {}
    for i, g in ipairs(c.grads_in) do gs[i] = gd.tensor(g) end
    local norm, clipped
    if c.method == "norm" then
      norm, clipped = gd.clip_norm(gs, c.options.norm)
      assert(clipped == c.clipped, "clipped flag")
    elseif c.method == "value" then
      norm = gd.clip_value(gs, c.options.value)
    else
      error("unknown clipping method '" .. tostring(c.method) .. "'")
    end
    T.close_number(c.name .. " total_norm", norm, c.total_norm, 1e-6)
    for i, want in ipairs(c.grads_out) do
      T.close(("%s tensor %d"):format(c.name, i), gs[i], want, 1e-6 * T.maxabs(want) + 1e-12)
    end
  end)
end

T.test("test_clip_checks", function()
  T.expect_error("threshold must be a finite number > 0", gd.clip_norm, { gd.tensor{ 1 } }, 0)
  T.expect_error("entry 2 must be a tensor, got number", gd.clip_value, { gd.tensor{ 1 }, 3 }, 1)
  -- { value =, grad = } entries clip their grad
  local g = gd.tensor{ 3, 4 }
  local norm = gd.clip_norm({ { value = gd.tensor{ 0, 0 }, grad = g } }, 1)
  assert(math.abs(norm - 5) < 1e-6 and math.abs(g:norm() - 1) < 1e-5)
end)

T.run()
