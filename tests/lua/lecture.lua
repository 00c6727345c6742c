-- tests/lua/lecture.lua: every lecture experiment in scripts/ at its
-- --quick size, as a user runs it (`gradus run scripts/X.lua --quick`),
-- with its verdict lines checked: the claims that hold at quick size must
-- print HOLDS; where one does not (too few steps for a schedule to pay
-- off, too few seeds for a CI), the test says so and checks the numbers
-- the line does show. Every verdict that carries a paired difference must
-- agree with it (HOLDS: CI below 0, MIXED: mean below 0, else FAILS), so
-- none is printed regardless of the run.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
local scripts = arg[0]:match("^(.-)tests/lua/[^/]*$") .. "scripts/"

local function num(s, pattern)
  local v = s:match(pattern)
  assert(v, "no match for '" .. pattern .. "' in: " .. s)
  return tonumber(v)
end

-- Runs one script's quick mode in a scratch directory; returns its verdicts.
local function verdicts(name)
  local dir = T.tmpdir()
  local cmd = ("cd '%s' && '%s' run '%s%s.lua' --quick 2>&1; echo \"rc=$?\""):format(dir, exe, scripts, name)
  local out = io.popen(cmd):read("a")
  os.execute("rm -rf '" .. dir .. "'")
  assert(out:find("rc=0\n$"), name .. " failed:\n" .. out)
  local vs = {}
  for status, claim, numbers in out:gmatch("\nverdict: (%u+)  (.-)  ([^\n]*)") do
    vs[#vs + 1] = { status = status, claim = claim, numbers = numbers }
  end
  assert(#vs > 0, name .. " printed no verdict:\n" .. out)
  return vs
end

-- A verdict with "a - b = m +- ci over n seeds" must follow from it.
local function consistent(v)
  local m, ci = v.numbers:match(" = (%-?[%d.e+-]+) %+%- ([%d.e+-]+) over")
  if not m or v.claim:find("update/weight") then return end
  m, ci = tonumber(m), tonumber(ci)
  if v.numbers:find(";.* = .* = ") then return end   -- two differences: checked by the caller
  local want = (m + ci < 0 and "HOLDS") or (m < 0 and "MIXED") or "FAILS"
  if v.claim:find("L1 makes") then return end        -- graded on the fraction, below
  assert(v.status == want, ("%s: %s with %s"):format(v.claim, v.status, v.numbers))
end

-- expect[i]: the status line i must print, or a function(v) that checks it.
local function check(name, expect)
  T.test(name .. " --quick: " .. #expect .. " verdicts", function()
    local vs = verdicts(name)
    assert(#vs == #expect, ("%s: %d verdicts, expected %d"):format(name, #vs, #expect))
    for i, e in ipairs(expect) do
      local v = vs[i]
      consistent(v)
      if type(e) == "function" then e(v)
      else assert(v.status == e, ("%s line %d (%s): %s, expected %s: %s"):format(name, i, v.claim, v.status, e, v.numbers)) end
    end
  end)
end

-- synthetic problems and closed forms: no data needed
check("momentum", {
  -- at quick size as at full: gamma 0.9 at GD's lr is 2x faster, not "far"
  function(v) assert(v.status == "MIXED" and num(v.numbers, "%((%d+%.%d)x fewer") >= 1.8, v.numbers) end,
  "HOLDS",
  -- fewer sign changes, but a larger |y| left: honestly MIXED
  function(v)
    assert(v.status == "MIXED", v.status)
    assert(num(v.numbers, "momentum (%d+)%%;") <= 50 and num(v.numbers, "gd (%d+)%%") == 100, v.numbers)
  end,
})
check("nesterov", { "HOLDS", "HOLDS",
  -- gd.optim.nesterov has a constant gamma: its slope stays near -1
  function(v) assert(v.status == "FAILS" and math.abs(num(v.numbers, ": (%-[%d.]+) %(claim") + 1) < 0.25, v.numbers) end })
check("lr_decay", { "HOLDS" })

-- without Fashion-MNIST: a failure, or with GRADUS_ALLOW_NO_DATA=1 a skip
-- after the synthetic ones above
if not T.fashion_mnist{ split = "train", limit = 10 } then
  T.run()
  return
end

check("gd_variants", { "HOLDS", "HOLDS",
  -- 2 seeds: b512 is below b32 and b128 on both, the CI (t = 12.7) is wide
  function(v)
    assert(v.status ~= "FAILS", v.status)
    assert(v.numbers:find("below b32 by [%d.e-]+ %+%- [%d.e-]+ %(2/2 seeds%)") and v.numbers:find("%(2/2%)"), v.numbers)
  end })
check("adaptive", {
  -- 10 epochs are not a long run: AdaGrad's ratio falls most, not 2x more
  function(v)
    assert(v.status == "MIXED", v.status)
    local a, r, m = v.numbers:match("adagrad ([%d.e-]+), rmsprop ([%d.e-]+), adam ([%d.e-]+)")
    assert(tonumber(a) < tonumber(r) and tonumber(a) < tonumber(m), v.numbers)
  end,
  -- ... nor does it stall yet, but it ends above both on every seed
  function(v)
    assert(v.status ~= "FAILS", v.status)
    assert(select(2, v.numbers:gsub("%(2/2 lower%)", "")) == 2, v.numbers)
  end,
  "HOLDS" })
check("vanishing", { "HOLDS", "HOLDS", "HOLDS" })
check("exploding", { "HOLDS",
  -- 32 steps: clipping and batch norm keep the run finite but have not
  -- trained yet (accuracy < 0.5); none diverged is the claim
  function(v) assert(v.status ~= "FAILS" and v.numbers:find("^0 of 2 seeds diverged"), v.numbers) end,
  "HOLDS",
  function(v) assert(v.status ~= "FAILS" and v.numbers:find("^0 of 2 seeds diverged"), v.numbers) end })
check("fitting", {
  -- the 1-unit net's errors are high with no gap while its loss still falls
  -- slowly: diagnose's second underfitting rule (a model too small) names it
  function(v)
    assert(v.status == "HOLDS", v.status)
    assert(num(v.numbers, "training error ([%d.]+)") > 0.5 and math.abs(num(v.numbers, "gap (%-?[%d.]+)")) < 0.05, v.numbers)
  end,
  "HOLDS" })
check("regularization", { "HOLDS", "HOLDS",
  -- 2 seeds: the gap narrows on both, the CI is wide
  function(v) assert(v.status ~= "FAILS" and v.numbers:find("%(2/2 lower%)"), v.numbers) end })
check("init", {
  -- tanh + Xavier halves the std over 10 layers: on the rule's edge
  function(v) assert(v.status ~= "FAILS" and num(v.numbers, "%(x([%d.]+)%)") > 0.4, v.numbers) end,
  "HOLDS",
  -- tanh + He does not blow up: tanh bounds it, He's gain offsets tanh's
  -- shrinkage (the folklore fails; the README says so)
  function(v) assert(v.status == "FAILS" and num(v.numbers, "%(x([%d.]+)%)") < 2, v.numbers) end,
  "HOLDS", "HOLDS", "HOLDS" })
check("schedules", { "HOLDS",
  -- 48 updates: decaying schedules have no time to pay off at quick size;
  -- the verdicts follow their paired differences (checked above)
  function(v) assert(v.claim:find("^step"), v.claim) end,
  function(v) assert(v.claim:find("^exponential"), v.claim) end,
  function(v) assert(v.claim:find("^cosine"), v.claim) end,
  function(v) assert(v.claim:find("^warmup_cosine"), v.claim) end })
check("batchnorm", {
  -- 1 seed, 32 steps: without BN lr 0.5 only stalls (no NaN yet), so the
  -- claim cannot hold whole; with BN it trains, far above the plain net,
  -- to near BN at lr 0.05 (on either side of the 90% rule, depending on the
  -- backend's rounding at this chaotic lr: the status must follow the rule)
  function(v)
    local pa = num(v.numbers, "plain_lr10x: 0 of 1 diverged, val acc ([%d.]+)")
    local ba = num(v.numbers, "bn_lr10x: 0 of 1 diverged, val acc ([%d.]+)")
    local a0 = num(v.numbers, "with BN at lr [%d.]+: val acc ([%d.]+)")
    assert(ba > 0.5 and ba > pa + 0.2, v.numbers)
    assert(v.status == (ba >= 0.9 * a0 and "MIXED" or "FAILS"), v.status .. ": " .. v.numbers)
  end,
  "HOLDS" })
check("monitoring", { "HOLDS", "HOLDS" })
check("skip_connections", { "HOLDS",
  -- 2 seeds, 48 steps: the residual net is ahead on both, the CI is wide
  function(v) assert(v.status ~= "FAILS" and v.numbers:find("%(2/2 lower%)"), v.numbers) end,
  "HOLDS" })
check("edge_of_stability", {
  -- 200 steps on 300 images at lr 0.08: the sharpness reaches 2/lr = 25
  -- and the loss falls with rises after it; whether the median stays
  -- within 10 % (HOLDS) or a little above (MIXED) depends on the rounding
  -- of this chaotic regime, so the status must follow the numbers
  function(v)
    local at = num(v.numbers, "2/lr = 25 at step (%d+)")
    local ratio = num(v.numbers, "median sharpness/%(2/lr%) ([%d.]+)")
    local before, after = v.numbers:match("loss ([%d.]+) %-> ([%d.]+)")
    local rises = num(v.numbers, "with (%d+) rises")
    assert(at < 200 and tonumber(after) < tonumber(before) and rises > 0, v.numbers)
    assert(v.status == ((ratio >= 0.9 and ratio <= 1.1) and "HOLDS" or "MIXED"), v.status .. ": " .. v.numbers)
  end })

check("critical_batch", {
  -- 4 batch sizes 4x apart, one seed: the steps fall as the batch grows;
  -- which pairs lie below B_simple or 2 B_simple above depends on the
  -- measured B_simple, so the status must follow the numbers
  function(v)
    local bs = num(v.numbers, "^B_simple ([%d.e+]+) %(median")
    local first = num(v.numbers, "per doubling: 8%->32 ([%d.]+)")
    local below, nb = v.numbers:match("median below B_simple (%S+) %((%d+) pairs")
    local above, na = v.numbers:match("from 2 B_simple up (%S+) %((%d+)%)")
    below, above, nb, na = tonumber(below), tonumber(above), tonumber(nb), tonumber(na)
    assert(bs > 0 and first < 1 and nb + na >= 1, v.numbers)
    local halves, flat = nb > 0 and below <= 0.7, na > 0 and above >= 0.8
    local want = (halves and flat) and "HOLDS" or ((halves or flat) and "MIXED" or "FAILS")
    assert(v.status == want, v.status .. ": " .. v.numbers)
  end,
  function(v)
    local bc, bs, f = v.numbers:match("^B_crit ([%d.e+]+) from .- B_simple ([%d.e+]+): ([%d.e+]+)x apart")
    bc, bs, f = tonumber(bc), tonumber(bs), tonumber(f)
    assert(bc and bc > 0 and bs > 0, v.numbers)
    T.close_number("factor apart", f, math.max(bc / bs, bs / bc), 0.02)
    assert(v.status == (f <= 3 and "HOLDS" or f <= 10 and "MIXED" or "FAILS"), v.status .. ": " .. v.numbers)
  end })

T.run()
