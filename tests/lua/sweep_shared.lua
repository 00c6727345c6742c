-- tests/lua/sweep_shared.lua: a sweep hands the data sets it loaded to its
-- local workers (lua/lshared_data.c, a sealed memfd) instead of each worker
-- reading and decompressing them again: the sources are removed before the
-- sweep starts and its trials still equal the serial run bit for bit; a
-- set made by standardize is not handed over (the control: with no other
-- set handing its source over, its trials fail for the missing file); the
-- bytes round trip and every damaged copy of them is refused or read
-- within bounds; a wrong GRADUS_SHARED_DATA gets a message naming it.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local root = T.sweep_root()
local exe = os.getenv("GRADUS_EXE")
local q = T.quote

-- Copies of the sources, removed once the sets are loaded: a worker that
-- read them again would fail.
local src = root .. "/src"
assert(gd._util.mkdir_p(src))
local fm_dir = os.getenv("GRADUS_DATA") or "/usr/share/datasets/fashion-mnist"
-- copied by Lua, no shell; a missing file stays missing and T.fashion_mnist says so
for _, f in ipairs({ "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" }) do
  local bytes = T.slurp(fm_dir .. "/" .. f)
  if bytes then T.spit(src .. "/" .. f, bytes) end
end
local rows = { "a,b,c,label" }
for i = 1, 120 do
  local x, y = math.sin(i * 0.7), math.cos(i * 1.3)
  rows[#rows + 1] = string.format("%.6f,%.6f,%.6f,%d", x, y, x * y, (x + y > 0) and 7 or 3)
end
T.spit(src .. "/points.csv", table.concat(rows, "\n") .. "\n")

local fm = T.fashion_mnist{ split = "test", dir = src, limit = 400 }
if not fm then return T.run() end
local points = gd.data.csv{ path = src .. "/points.csv", target = "label", classes = true }
local fm_train, fm_val = fm:split{ validation = 100, seed = 2 }
local pt_train, pt_val = points:split{ validation = 40, seed = 3 }
local pt_std, pt_std_val = pt_train:standardize(), pt_val:standardize(pt_train)

local function spec(data, val, units_in, classes, run)
  return {
    base = { model = gd.sequential{ gd.layer.dense{ units = 12 }, gd.layer.relu{},
                                    gd.layer.dense{ units = classes } },
             loss = gd.loss.cross_entropy{}, data = data, validation = val, epochs = 2,
             batch = 20, seed = 1, progress = false },
    variants = {
      { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } },
      { name = "adam", optimizer = gd.optim.adam{ lr = 0.01 } },
    },
    repeats = 2, progress = false, run = run,
  }
end

-- Every run's numbers, exactly (the wall-clock seconds aside).
local function same_runs(a, b)
  for i, v in ipairs(a.variants) do
    for s, run in ipairs(v.runs) do
      local other = b.variants[i].runs[s]
      for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy" }) do
        local x, y = run.metrics[k], other.metrics[k]
        if x ~= y then
          error(string.format("%s seed %d: %s %.17g serial, %.17g swept", v.name, s, k, x, y), 0)
        end
      end
    end
  end
end

local serial_fm = gd.compare(spec(fm_train, fm_val, 784, 10))
local serial_pt = gd.compare(spec(pt_train, pt_val, 3, 2))
os.remove(src .. "/t10k-images-idx3-ubyte.gz")
os.remove(src .. "/t10k-labels-idx1-ubyte.gz")
os.remove(src .. "/points.csv")

T.test("sweep_workers_train_on_the_sets_the_sweep_loaded", function()
  -- the files are gone: the workers can only have had the sets from the sweep
  local fm_swept = gd.compare(spec(fm_train, fm_val, 784, 10,
    { backend = "local", jobs = 2, dir = root .. "/sw", name = "fm" }))
  same_runs(serial_fm, fm_swept)
  local pt_swept = gd.compare(spec(pt_train, pt_val, 3, 2,
    { backend = "local", jobs = 2, dir = root .. "/sw", name = "points" }))
  same_runs(serial_pt, pt_swept)
end)

T.test("sweep_standardized_sets_are_rebuilt_by_the_worker", function()
  -- the control: a standardized set is a copy the worker makes itself
  -- from the source, which is gone (and no other set of the trials hands
  -- it over), so its trials fail naming the file
  local ok, err = pcall(gd.compare, spec(pt_std, pt_std_val, 3, 2,
    { backend = "local", jobs = 1, dir = root .. "/sw", name = "std" }))
  assert(not ok)
  assert(tostring(err):find("did not finish", 1, true), tostring(err))
  local log = T.sh("cat " .. q(root .. "/sw/std") .. "/*/log")
  assert(log:find("points.csv", 1, true), log)
end)

T.test("shared_data_round_trips_and_refuses_damaged_bytes", function()
  local h, count, size = gd._util.share_data({ { key = "points", ds = points }, { key = "fm", ds = fm } })
  assert(h and count == 2, tostring(count))
  local bytes = T.slurp("/proc/self/fd/" .. h:fd())
  h:close()
  assert(size == #bytes, size .. " bytes said, " .. #bytes .. " written")
  local list = gd._util.shared_data(bytes)
  assert(#list == 2 and list[1].key == "points" and list[2].key == "fm")
  for i, want in ipairs({ points, fm }) do
    local a, b = list[i].ds:identity(), want:identity()
    for _, k in ipairs({ "size", "features", "target_width", "classes", "crc" }) do
      assert(a[k] == b[k], string.format("set %d: %s %s ~= %s", i, k, a[k], b[k]))
    end
    assert(tostring(list[i].ds) == tostring(want), tostring(list[i].ds))
  end
  -- the CSV's own labels (3 and 7) came along
  local k, labels = list[1].ds:classes()
  assert(k == 2 and labels and labels[1] == 3 and labels[2] == 7, tostring(labels))
  -- every cut short is refused, with the reason
  local cuts = {}
  for n = 0, 400 do cuts[#cuts + 1] = n end
  for n = 401, #bytes - 1, 4099 do cuts[#cuts + 1] = n end
  cuts[#cuts + 1] = #bytes - 1
  for _, n in ipairs(cuts) do
    local okc, e = pcall(gd._util.shared_data, bytes:sub(1, n))
    assert(not okc and tostring(e):match("^shared data: "), n .. ": " .. tostring(e))
  end
  -- any header byte changed: refused, or read within bounds (the
  -- sanitizers watch), never a crash
  for i = 1, 300 do
    for _, v in ipairs({ 0, 255 }) do
      local changed = bytes:sub(1, i - 1) .. string.char(v) .. bytes:sub(i + 1)
      local okc, e = pcall(gd._util.shared_data, changed)
      assert(okc or tostring(e):match("^shared data: "), i .. ": " .. tostring(e))
    end
  end
  -- a text set is left to the worker to build
  T.spit(root .. "/words.txt", string.rep("in the beginning was the word. ", 40))
  local text = gd.data.text{ path = root .. "/words.txt", context = 8 }
  local ht, nt = gd._util.share_data({ { key = "text", ds = text }, { key = "points", ds = points } })
  assert(nt == 1, tostring(nt))
  local only = gd._util.shared_data(T.slurp("/proc/self/fd/" .. ht:fd()))
  ht:close()
  assert(#only == 1 and only[1].key == "points")
end)

T.test("shared_data_names_a_wrong_descriptor", function()
  for _, case in ipairs({
    { "abc", "GRADUS_SHARED_DATA='abc': not a descriptor number (gradus sweep sets it for its "
      .. "workers; unset it)" },
    { "0", "GRADUS_SHARED_DATA=0: not the sealed memfd gradus sweep hands its workers (not a "
      .. "memfd; unset the variable)" },
    { "999", "GRADUS_SHARED_DATA=999: not the sealed memfd gradus sweep hands its workers (no "
      .. "such open descriptor; unset the variable)" },
  }) do
    local _, err, code = T.command(string.format("GRADUS_SHARED_DATA=%s %s trial %s < /dev/null",
      case[1], q(exe), q(root .. "/none/trial.json")))
    assert(code ~= 0, case[1])
    assert(err == "gradus: " .. case[2] .. "\n", err)
  end
end)

T.run()
