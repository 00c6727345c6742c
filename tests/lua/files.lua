-- tests/lua/files.lua: files on disk (issue 19): a resume writes where it
-- was told, one writer per path, no other run's checkpoint replaced, no
-- device node or FIFO read or replaced, reports swapped whole, CSV quoted,
-- and every path and shape checked before the first step.
--
-- Child processes are `gradus run` scripts written into the scratch
-- directory; the shell starts, signals and waits for them.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")

local scratch = os.tmpname()
os.remove(scratch)
assert(gd._util.mkdir_p(scratch))
local function at(name) return scratch .. "/" .. name end

local sh = T.sh

local slurp, spit = T.slurp, T.spit

-- Names in dir, sorted (ls -A: hidden ones too).
local function listing(dir)
  local out = sh("ls -A " .. dir .. " 2>/dev/null")
  local names = {}
  for n in out:gmatch("[^\n]+") do names[#names + 1] = n end
  table.sort(names)
  return table.concat(names, " ")
end

local data = gd.data.synthetic.spirals{ n = 120, classes = 3, noise = 0.1, seed = 2 }
local train, val = data:split{ validation = 40, seed = 2 }   -- 80 samples: 5 steps of 16

local function config(extra)
  local c = { model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{},
                                     gd.layer.dense{ units = 3 } },
              loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.01 },
              data = train, validation = val, epochs = 2, batch = 16, seed = 3, progress = false }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- A child script: trains a run like config() into arg[1]; with arg[2] a
-- marker path, after epoch 1 it leaves the marker and waits for arg[3].
local child = at("child.lua")
spit(child, [[
local gd = require "gradus"
local data = gd.data.synthetic.spirals{ n = 120, classes = 3, noise = 0.1, seed = 2 }
local train, val = data:split{ validation = 40, seed = 2 }
local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{},
                                             gd.layer.dense{ units = 3 } },
  loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.01 },
  data = train, validation = val, epochs = 3, batch = 16, seed = 3, progress = false,
  checkpoint = { path = arg[1], every = 2 },
  on_epoch = function(e)
    if e.epoch == 1 and arg[2] then
      io.open(arg[2], "w"):close()
      while not io.open(arg[3]) do os.execute("sleep 0.02") end
    end
  end }
print("status " .. run.status .. " steps " .. run.steps)
]])

T.test("test_files_resume_of_a_copy_leaves_the_original_byte_identical", function()
  assert(gd._util.mkdir_p(at("orig")) and gd._util.mkdir_p(at("copy")))
  local orig, copy = at("orig/run.ckpt"), at("copy/run.ckpt")
  gd.train(config{ checkpoint = { path = orig, keep = 2 } })
  local before, beside = slurp(orig), listing(at("orig"))
  assert(beside == "run.ckpt run.ckpt.1", beside)
  spit(copy, before)
  local run = gd.resume(copy, { epochs = 3 })
  assert(run.status == "ok" and run.checkpoint == copy, tostring(run.checkpoint))
  assert(slurp(orig) == before, "the original changed")
  assert(listing(at("orig")) == beside, "beside the original: " .. listing(at("orig")))
  assert(slurp(at("orig/run.ckpt.1")) ~= slurp(at("copy/run.ckpt.1")), "keep did not rotate the copy")
  assert(gd._checkpoint_load(copy):info().epoch == 3, "the copy was not written")
  -- from the shell, and the line says where it writes
  spit(copy, before)
  local out = sh(exe .. " resume " .. copy .. " 4")
  assert(out:find("resuming " .. copy .. " at step 10 (epoch 2 done); checkpoints to " .. copy, 1,
    true), out)
  assert(slurp(orig) == before, "gradus resume changed the original")
  -- where checkpoint = { path } says, else nowhere
  local other = at("copy/other.ckpt")
  spit(copy, before)
  gd.resume(copy, { epochs = 3, checkpoint = { path = other } })
  assert(slurp(copy) == before and slurp(orig) == before, "written beside the given path")
  assert(gd._checkpoint_load(other):info().epoch == 3)
  gd.resume(copy, { epochs = 3, checkpoint = false })
  assert(slurp(copy) == before and slurp(orig) == before)
end)

T.test("test_files_two_writers_of_one_path_one_refused_one_intact", function()
  local p, marker, go = at("two.ckpt"), at("two.marker"), at("two.go")
  local out = sh(("%s run %s %s %s %s & a=$!; n=0; while [ ! -f %s ] && [ $n -lt 3000 ]; do "
    .. "sleep 0.01; n=$((n+1)); done; echo first=$a; %s run %s %s; echo second=$?; touch %s; "
    .. "wait $a; echo first_status=$?"):format(exe, child, p, marker, go, marker, exe, child, p, go))
  local pid = out:match("first=(%d+)")
  assert(pid, out)
  assert(out:find("gd.train: checkpoint: " .. p .. ": in use by process " .. pid .. " (" .. p
    .. ".lock, host " .. gd._util.hostname() .. ")", 1, true), "no refusal naming the first writer:\n" .. out)
  assert(out:find("second=1", 1, true) and out:find("first_status=0", 1, true), out)
  assert(out:find("status ok steps 15", 1, true), "the first run did not finish:\n" .. out)
  local info = gd._checkpoint_load(p):info()
  assert(info.step == 15 and info.reason == "final", "checkpoint at step " .. info.step)
  assert(not listing(scratch):find("two.ckpt.", 1, true), "leftovers: " .. listing(scratch))
end)

T.test("test_files_another_runs_checkpoint_is_not_replaced", function()
  local p = at("mine.ckpt")
  gd.train(config{ checkpoint = { path = p } })
  local before = slurp(p)
  gd.train(config{ checkpoint = { path = p } })     -- the same run again: allowed
  local same = slurp(p)
  for _, c in ipairs({ { "the optimizer", { optimizer = gd.optim.sgd{ lr = 0.1 } } },
                       { "the seed", { seed = 4 } },
                       { "the model", { model = gd.sequential{ gd.layer.dense{ units = 3 } } } },
                       { "the training data", { data = val, validation = train } } }) do
    c[2].checkpoint = { path = p }
    T.expect_error("gd.train: checkpoint: " .. p .. " holds another run (" .. c[1] .. " differs); "
      .. "give checkpoint = { ..., overwrite = true } to replace it, or another path",
      gd.train, config(c[2]))
    assert(slurp(p) == same, c[1] .. ": the file changed")
  end
  -- a fork is another run too
  T.expect_error(p .. " holds another run (the optimizer differs)", function()
    gd.fork(p, { optimizer = gd.optim.sgd{ lr = 0.1 } }):train({ checkpoint = { path = p } })
  end)
  assert(slurp(p) == same, "the fork changed the file")
  local text = at("notes.txt")
  spit(text, "my notes\n")
  T.expect_error("gd.train: checkpoint: not writing over " .. text .. ", which is not a checkpoint "
    .. "this run can replace (" .. text .. ": not a gradus checkpoint (bad magic)); give "
    .. "checkpoint = { ..., overwrite = true } to replace it", gd.train,
    config{ checkpoint = { path = text } })
  assert(slurp(text) == "my notes\n")
  local run = gd.train(config{ seed = 4, checkpoint = { path = p, overwrite = true } })
  assert(run.status == "ok" and slurp(p) ~= before and gd._checkpoint_load(p):info().seed == 4)
end)

T.test("test_files_fifo_and_device_refused_without_blocking", function()
  local fifo, dev = at("fifo"), at("chardev")
  assert(os.execute("mkfifo " .. fifo), "mkfifo failed")
  -- 1,3 is /dev/null's number: harmless even if something did write to it
  local have_dev = os.execute("mknod " .. dev .. " c 1 3 2>/dev/null")
  if not have_dev then
    print("SKIP   character device cases: mknod needs root (CAP_MKNOD); FIFO cases run")
  end
  local idx = at("idx")
  assert(gd._util.mkdir_p(idx))
  assert(os.execute("mkfifo " .. idx .. "/t10k-images-idx3-ubyte.gz"))
  spit(idx .. "/t10k-labels-idx1-ubyte.gz", "")
  local script = at("nodes.lua")
  spit(script, [[
local gd = require "gradus"
local fifo, dev, idx = arg[1], arg[2], arg[3]
local data = gd.data.synthetic.spirals{ n = 40, classes = 3, seed = 2 }
local m = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 3 } }, data = data,
  loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{}, progress = false }.model
local function try(name, f, ...)
  local ok, err = pcall(f, ...)
  print(name .. " => " .. (ok and "accepted" or tostring(err)))
end
for _, p in ipairs(dev ~= "-" and { fifo, dev } or { fifo }) do
  try("load_model " .. p, gd.load_model, p)
  try("csv " .. p, gd.data.csv, { path = p })
  try("resume " .. p, gd.resume, p)
  try("save " .. p, function() m:save(p) end)
  try("train " .. p, gd.train, { model = gd.sequential{ gd.layer.dense{ units = 3 } }, data = data,
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.sgd{}, progress = false,
    checkpoint = { path = p } })
end
try("idx", gd.data.fashion_mnist, { dir = idx, split = "test" })
]])
  local out = sh(("timeout 20 %s run %s %s %s %s; echo status=$?"):format(exe, script, fifo,
    have_dev and dev or "-", idx))
  assert(out:find("status=0", 1, true), "blocked or failed:\n" .. out)
  local function expect(line) assert(out:find(line, 1, true), "lacks '" .. line .. "':\n" .. out) end
  for _, n in ipairs(have_dev and { { fifo, "a FIFO" }, { dev, "a character device" } }
                     or { { fifo, "a FIFO" } }) do
    local p, kind = n[1], n[2]
    expect("load_model " .. p .. " => " .. p .. ": is " .. kind .. ", not a regular file")
    expect("csv " .. p .. " => " .. p .. ": is " .. kind .. ", expected a CSV file")
    expect("resume " .. p .. " => " .. p .. ": is " .. kind .. ", not a regular file")
    expect(": " .. p .. ": is " .. kind .. ", not a regular file: refusing to replace it")
    expect("train " .. p .. " => gd.train: checkpoint: " .. p .. ": is " .. kind
      .. ", not a regular file: refusing to replace it")
  end
  expect("idx => " .. idx .. "/t10k-images-idx3-ubyte.gz: is a FIFO, expected an IDX image file")
  assert(os.execute("test -p " .. fifo), "the FIFO was replaced")
  if have_dev then assert(os.execute("test -c " .. dev), "the device node was replaced") end
  assert(not listing(scratch):find(".tmp-", 1, true), "temporaries left: " .. listing(scratch))
end)

-- A strict RFC 4180 reader: raises on a bare quote inside a field, text
-- after a closing quote, an unterminated quote or rows of unequal width.
local function csv_decode(s)
  local rows, row, pos = {}, {}, 1
  while pos <= #s do
    local field
    if s:sub(pos, pos) == '"' then
      local buf = {}
      pos = pos + 1
      while true do
        local q = s:find('"', pos, true)
        if not q then error("csv: unterminated quoted field", 0) end
        buf[#buf + 1] = s:sub(pos, q - 1)
        if s:sub(q + 1, q + 1) == '"' then buf[#buf + 1] = '"'; pos = q + 2
        else pos = q + 1; break end
      end
      field = table.concat(buf)
    else
      local e = s:find('[,\n"]', pos) or #s + 1
      if s:sub(e, e) == '"' then error("csv: a quote inside an unquoted field at byte " .. e, 0) end
      field = s:sub(pos, e - 1)
      pos = e
    end
    row[#row + 1] = field
    local c = s:sub(pos, pos)
    if c == "," then pos = pos + 1
    elseif c == "\n" or c == "" then
      rows[#rows + 1] = row
      if #row ~= #rows[1] then error(("csv: row %d has %d fields, the header %d"):format(#rows, #row, #rows[1]), 0) end
      row, pos = {}, pos + 1
    else error("csv: text after a closing quote at byte " .. pos, 0) end
  end
  return rows
end

-- The names are set after the comparison: gd.compare refuses a line break
-- in one, a results table or a handed results.json may hold one.
local function small_compare(names)
  local variants = {}
  for i in ipairs(names) do
    variants[i] = { name = "v" .. i, optimizer = gd.optim.sgd{ lr = 0.05 * i } }
  end
  local res = gd.compare{ base = config{ epochs = 1, monitor = { every = 2 } }, variants = variants,
                          progress = false }
  for i, n in ipairs(names) do res.variants[i].name, res.summary[i].name = n, n end
  return res
end

T.test("test_files_csv_names_round_trip", function()
  assert(not pcall(csv_decode, 'a,b\nx"y,z\n') and not pcall(csv_decode, 'a\n"x"y\n'),
    "the reader is not strict")
  local names = { "plain", "a,b", 'say "hi"', "two\nlines", '",\n' }
  local dir = at("csv")
  local files = gd.report(small_compare(names), { dir = dir })   -- gnuplot: in setup.sh
  local drawn = {}
  for _, f in ipairs(files) do drawn[f] = true end
  assert(drawn[dir .. "/loss.png"] and drawn[dir .. "/lr.svg"], "plots dropped: " .. table.concat(files, " "))
  local summary = csv_decode(slurp(dir .. "/summary.csv"))
  assert(#summary == 1 + 4 * #names, #summary .. " rows")
  for i, n in ipairs(names) do
    for k = 1, 4 do
      local got = summary[1 + (i - 1) * 4 + k][1]
      assert(got == n, ("summary.csv row %d: %q, expected %q"):format(1 + (i - 1) * 4 + k, got, n))
    end
  end
  local history = csv_decode(slurp(dir .. "/history.csv"))
  local seen = {}
  for r = 2, #history do seen[history[r][1]] = (seen[history[r][1]] or 0) + 1 end
  for _, n in ipairs(names) do assert(seen[n] and seen[n] >= 2, ("history.csv: no rows for %q"):format(n)) end
  assert(#history - 1 == (function() local c = 0 for _, v in pairs(seen) do c = c + v end return c end)())
  local doc = T.json_decode(slurp(dir .. "/results.json"))
  for i, n in ipairs(names) do assert(doc.variants[i].name == n) end
end)

T.test("test_files_report_killed_mid_write_leaves_the_old_one", function()
  local dir = at("rep")
  local old = small_compare({ "old1", "old2" })
  gd.report(old, { dir = dir, plots = false })
  local names = listing(dir)
  local before = {}
  for n in names:gmatch("%S+") do before[n] = slurp(dir .. "/" .. n) end
  local script = at("report_child.lua")
  spit(script, ([[
local gd = require "gradus"
local data = gd.data.synthetic.spirals{ n = 120, classes = 3, noise = 0.1, seed = 2 }
local res = gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 3 } }, data = data,
  loss = gd.loss.cross_entropy{}, epochs = 1, progress = false },
  variants = { { name = "new", optimizer = gd.optim.sgd{} } }, progress = false }
gd.report(res, { dir = %q, plots = false })
]]):format(dir))
  for _, sig in ipairs({ "TERM", "INT", "KILL" }) do
    local out = sh(("GRADUS_TEST_STALL_REPORT=1 %s run %s & c=$!; n=0; "
      .. "while ! ls %s.tmp-$c-*/summary.csv >/dev/null 2>&1 && [ $n -lt 3000 ]; do sleep 0.01; "
      .. "n=$((n+1)); done; echo child=$c; %s run %s; echo second=$?; kill -%s $c; wait $c; "
      .. "echo status=$?"):format(exe, script, dir, exe, script, sig))
    local pid = out:match("child=(%d+)")
    assert(out:find("gd.report: " .. dir .. ": in use by process " .. pid, 1, true)
      and out:find("second=1", 1, true), "a second writer was not refused:\n" .. out)
    assert(not out:find("status=0", 1, true), "the writer was not killed:\n" .. out)
    assert(listing(dir) == names, sig .. ": the report now holds " .. listing(dir))
    for n, bytes in pairs(before) do assert(slurp(dir .. "/" .. n) == bytes, sig .. ": " .. n .. " changed") end
  end
  -- the next report replaces it whole and clears what the killed ones left
  local out = sh(exe .. " run " .. script .. "; echo status=$?")
  assert(out:find("status=0", 1, true), out)
  assert(listing(dir) == names, listing(dir))
  assert(slurp(dir .. "/summary.csv"):find("\nnew,", 1, true) and
    not slurp(dir .. "/summary.csv"):find("old1", 1, true), "not the new report")
  assert(not listing(scratch):find("rep.", 1, true), "leftovers: " .. listing(scratch))
end)

T.test("test_files_paths_and_shapes_checked_before_the_first_step", function()
  local ro = at("ro")
  assert(gd._util.mkdir_p(ro))
  os.execute("chmod 555 " .. ro)
  local probe = io.open(ro .. "/probe", "w")
  if probe then   -- root writes anywhere: /sys takes no new files from anyone
    probe:close()
    os.remove(ro .. "/probe")
    ro = "/sys"
  end
  local long = scratch .. "/" .. string.rep("d", 300) .. "/x.ckpt"
  local huge = scratch .. string.rep("/d", 2100) .. "/x.ckpt"
  local x, y = {}, {}
  for i = 1, 30 do x[i] = { i / 30, 0, 1 }; y[i] = i % 3 + 1 end
  local wrong = gd.data.tensor{ x = x, y = y }
  -- { options, gd.train's message, gd.compare's (its runs' own paths) }
  local cases = {
    { { checkpoint = { path = ro .. "/x.ckpt" } },
      "gd.train: checkpoint: " .. ro .. "/x.ckpt: cannot write in " .. ro .. " (",
      "gd.train: checkpoint: " .. ro .. "/x-first-seed3.ckpt: cannot write in " .. ro .. " (" },
    { { checkpoint = { path = long } }, "gd.train: checkpoint: path component '"
      .. string.rep("d", 40) .. "...' is 300 bytes, over the system's limit of 255" },
    { { checkpoint = { path = huge } }, "gd.train: checkpoint: path '" .. huge:sub(1, 40)
      .. "...' is " .. #huge .. " bytes, over the system's limit of 4095",
      "...' is " .. #huge + #"-first-seed3" .. " bytes, over the system's limit of 4095" },
    { { checkpoint = { path = at("a\0b.ckpt") } }, "gd.train: checkpoint: path '" .. at("a")
      .. "\\0...' contains a NUL byte (at byte " .. #at("a") .. ")" },
  }
  cases[#cases + 1] = { { validation = wrong },
    "gd.train: 'validation' has 3 features per sample, 'data' has 2" }
  for _, c in ipairs(cases) do
    local steps = 0
    local cfg = config(c[1])
    cfg.on_step = function() steps = steps + 1 end
    T.expect_error(c[2], gd.train, cfg)
    assert(steps == 0, "a step ran before the refusal: " .. c[2])
    -- gd.compare: the same message, before any of its runs
    local ran = 0
    local base = config(c[1])
    base.on_step = function() ran = ran + 1 end
    local msg = T.expect_error(c[3] or c[2], gd.compare, { base = base, progress = false,
      variants = { { name = "first" }, { name = "second" } } })
    assert(msg:find("gd.compare: variant 'first', seed 3: ", 1, true) and ran == 0, msg)
  end
  T.expect_error("model:save: path '" .. at("m") .. "\\0...' contains a NUL byte",
    function() gd.train(config()).model:save(at("m\0.gdm")) end)
  T.expect_error("gd.load_model: path '" .. at("m") .. "\\0...' contains a NUL byte",
    gd.load_model, at("m\0.gdm"))
  T.expect_error("gd.report: 'dir': path '" .. at("r") .. "\\0...' contains a NUL byte",
    gd.report, small_compare({ "x" }), { dir = at("r\0") })
  T.expect_error("gd.compare: variants 'a,b' and 'a_b' would both write checkpoints to",
    gd.compare, { base = config{ checkpoint = { path = at("cmp.ckpt") } }, progress = false,
      variants = { { name = "a,b" }, { name = "a_b" } } })
end)

local ok, err = pcall(T.run)
os.execute("chmod -R u+w " .. scratch .. " 2>/dev/null; rm -rf " .. scratch)
if not ok then error(err, 0) end
