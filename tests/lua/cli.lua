-- tests/lua/cli.lua: the `gradus` command, run as a child process
-- ($GRADUS_EXE): list, doc, version, run, -l, --threads, bench peak, and exit
-- statuses.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
local fixtures = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")

local quote = T.quote

-- Run `gradus ARGS`; returns stdout, stderr, exit code.
local function gradus(args, env)
  return T.command(("%s%s %s"):format(env or "", quote(exe), args))
end

local function has(text, fragment, what)
  if not text:find(fragment, 1, true) then
    error(("%s lacks \"%s\":\n%s"):format(what or "output", fragment, text), 2)
  end
end

local function script(text)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

T.test("test_cli_version_help", function()
  local out, _, code = gradus("version")
  assert(code == 0)
  has(out, "gradus 0.1.0")
  has(out, "ABI 1.2")
  out, _, code = gradus("--help")
  assert(code == 0)
  has(out, "run SCRIPT")
  has(out, "--threads N")
end)

T.test("test_cli_list", function()
  local out, _, code = gradus("list")
  assert(code == 0)
  has(out, "optimizer (gd.optim)")
  has(out, "adam")
  has(out, "initializer (gd.init)")
  out, _, code = gradus("list sched")
  assert(code == 0 and out:find("cosine", 1, true) and not out:find("adam", 1, true), out)
  local _, err
  _, err, code = gradus("list bogus")
  assert(code ~= 0)
  has(err, "gradus: unknown kind 'bogus'", "stderr")
end)

T.test("test_cli_doc_adam", function()
  local out, _, code = gradus("doc adam")
  assert(code == 0)
  -- everything needed to use Adam: what it does, how to write it, each
  -- option with type, default, range and meaning, and where it came from
  has(out, "optim.adam: optimizer")
  has(out, "gd.optim.adam{ lr = 0.001")
  has(out, "optimizer = gd.optim.adam")
  for _, line in ipairs{ "lr +number +0.001 +>= 0", "beta1 +number +0.9 +%[0, 1%)",
                         "beta2 +number +0.999 +%[0, 1%)", "eps +number +1e%-08 +> 0",
                         "eps_inside +boolean +true", "bias_correction +boolean +true" } do
    assert(out:find(line), "doc adam lacks a line matching " .. line .. ":\n" .. out)
  end
  has(out, "adam.so")
end)

T.test("test_cli_doc_names", function()
  local out, err, code = gradus("doc sched.constant")
  assert(code == 0)
  has(out, "sched.constant: scheduler")
  has(out, "unit")
  out, _, code = gradus("doc scheduler.warmup")
  assert(code == 0)
  has(out, "required")
  has(out, "after")
  out, _, code = gradus("doc init.constant")
  assert(code == 0)
  _, err, code = gradus("doc constant")
  assert(code ~= 0)
  has(err, "gradus: 'constant' is ambiguous", "stderr")
  has(err, "init.constant", "stderr")
  has(err, "sched.constant", "stderr")
  _, err, code = gradus("doc adamm")
  assert(code ~= 0)
  has(err, "gradus: no component named 'adamm' (did you mean optim.adam?", "stderr")
  _, err, code = gradus("doc lion")
  assert(code ~= 0)
  has(err, "(did you mean optim.muon? see gradus list; if a plugin provides it: gradus -l " ..
      "FILE.so doc lion)", "stderr")
  _, err, code = gradus("doc optim.adamm")
  assert(code ~= 0)
  has(err, "gradus: unknown optimizer 'adamm' (did you mean 'adam'?", "stderr")
  _, err, code = gradus("doc bogus.adam")
  assert(code ~= 0)
  has(err, "gradus: unknown kind 'bogus'", "stderr")
end)

-- A script's error shows the script's frames, not gradus's own (the Lua
-- wrappers, the C functions), unless GRADUS_DEBUG=1.
T.test("test_cli_traceback_shows_the_users_frames", function()
  local path = script("local gd = require 'gradus'\nlocal function go()\n"
    .. "  gd.train{ lr = 3 }\nend\ngo()\n")
  local _, err, code = gradus("run " .. quote(path))
  local _, full = gradus("run " .. quote(path), "GRADUS_DEBUG=1 ")
  os.remove(path)
  assert(code == 1)
  local want = ("gradus: %s:3: gd.train: unknown option 'lr' (options: " .. T.train_options
    .. ")\nstack traceback (GRADUS_DEBUG=1 shows gradus's own frames):\n"
    .. "\t%s:3: in local 'go'\n\t%s:5: in main chunk\n"):format(path, path, path)
  assert(err == want, "stderr:\n" .. err .. "\nwanted:\n" .. want)
  has(full, "\nstack traceback:\n\t[C]: in upvalue 'c_train'", "GRADUS_DEBUG=1 stderr")
  has(full, "gradus.glue", "GRADUS_DEBUG=1 stderr")
end)

T.test("test_cli_plugin_path_messages", function()
  local dir = os.tmpname()
  os.remove(dir)
  local function put(fixture)
    assert(os.execute("mkdir -p " .. quote(dir) .. " && cp " .. quote(fixtures .. "/"
      .. fixture) .. " " .. quote(dir)))
  end
  -- a directory that is not there: one warning line, and the rest loads
  put("fixture_good.so")
  local out, err, code = gradus("list optim", "GRADUS_PLUGIN_PATH=/nonexistent/gradus-x:"
    .. quote(dir) .. " ")
  assert(code == 0, err)
  assert(err == "gradus: warning: GRADUS_PLUGIN_PATH: no such directory: "
    .. "/nonexistent/gradus-x\n", err)
  has(out, "fixture_opt")
  -- a clash with a built-in: one "gradus: " prefix
  os.remove(dir .. "/fixture_good.so")
  put("fixture_dup_builtin.so")
  local builtin = gradus("version"):match("built%-in plugins: ([^\n]+)")
  _, err, code = gradus("list", "GRADUS_PLUGIN_PATH=" .. quote(dir) .. " ")
  os.execute("rm -rf " .. quote(dir))
  assert(code == 1)
  assert(err == "gradus: duplicate optimizer 'sgd': " .. dir .. "/fixture_dup_builtin.so "
    .. "(already registered from " .. builtin .. "/optimizers/sgd.so)\n", err)
end)

T.test("test_cli_run_args", function()
  local path = script([[
    local gd = require "gradus"
    assert(gd.optim.adam{}.name == "adam")
    print(arg[0], arg[1], arg[2], select("#", ...), ...)
  ]])
  local out, err, code = gradus("run " .. quote(path) .. " one two")
  os.remove(path)
  assert(code == 0, err)
  has(out, path .. "\tone\ttwo\t2\tone\ttwo")
end)

T.test("test_cli_run_errors", function()
  local _, err, code = gradus("run missing-script.lua")
  assert(code ~= 0)
  has(err, "gradus: cannot open script 'missing-script.lua': No such file or directory", "stderr")
  local path = script("local gd = require 'gradus'\nlocal s = gd.optim.adam{ beta_1 = 0.9 }\n")
  _, err, code = gradus("run " .. quote(path))
  os.remove(path)
  assert(code ~= 0)
  has(err, "gradus: ", "stderr")
  has(err, ":2: adam: unknown option 'beta_1'", "stderr")
  has(err, "stack traceback", "stderr")
  path = script("this is not lua")
  _, err, code = gradus("run " .. quote(path))
  os.remove(path)
  assert(code ~= 0)
  has(err, "gradus: ", "stderr")
  _, err, code = gradus("frobnicate")
  assert(code ~= 0)
  has(err, "gradus: unknown command 'frobnicate'", "stderr")
  _, err, code = gradus("--bogus list")
  assert(code ~= 0)
  has(err, "gradus: unknown option '--bogus'", "stderr")
  _, err, code = gradus("run")
  assert(code ~= 0)
  has(err, "gradus: run needs a script", "stderr")
end)

T.test("test_cli_plugins_and_threads", function()
  local good = quote(fixtures .. "/fixture_good.so")
  local out, err, code = gradus("-l " .. good .. " doc fixture_opt")
  assert(code == 0, err)
  has(out, "optim.fixture_opt")
  has(out, "fixture_good.so")
  _, err, code = gradus("-l " .. quote(fixtures .. "/fixture_bad_abi.so") .. " list")
  assert(code ~= 0)
  has(err, "gradus: ", "stderr")
  has(err, "ABI", "stderr")
  local path = script("print(require('gradus').threads())")
  out, err, code = gradus("--threads 1 run " .. quote(path))
  assert(code == 0, err)
  assert(out == "1\n", out)
  out, err, code = gradus("run " .. quote(path), "GRADUS_THREADS=1 ")
  assert(code == 0, err)
  assert(out == "1\n", out)
  _, err, code = gradus("--threads x run " .. quote(path))
  assert(code ~= 0)
  has(err, "gradus: --threads needs", "stderr")
  -- the same strict reader as `require "gradus"` from a stock lua5.4
  for _, bad in ipairs({ "2x", " 2", "-1" }) do
    out, err, code = gradus("run " .. quote(path), "GRADUS_THREADS=" .. quote(bad) .. " ")
    assert(code ~= 0 and out == "", ("GRADUS_THREADS=%q ran: %s"):format(bad, out))
    has(err, ("gradus: GRADUS_THREADS must be a number of threads in 0..4096 (0: all cores), "
              .. "got '%s'"):format(bad), "stderr")
  end
  os.remove(path)
end)

-- `gradus bench peak`: the FMA peak's loop alone; a figure, never checked
-- against a speed, but its samples are printed and positive, and bad
-- options are refused by name.
T.test("test_cli_bench_peak", function()
  local out, err, code = gradus("bench peak --repeats 3 --seconds 0.01 --warmup 0")
  assert(code == 0, err)
  local samples = out:match("samples, GFLOP per CPU second:([^\n]*)")
  assert(samples, out)
  local n = 0
  for v in samples:gmatch("%S+") do
    n = n + 1
    assert(tonumber(v) and tonumber(v) > 0, out)
  end
  assert(n == 3, out)
  has(out, "FMA peak of one core:")
  for _, bad in ipairs({ "--chains 7", "--repeats 0", "--seconds x", "--warmup", "--bogus 1" }) do
    out, err, code = gradus("bench peak " .. bad)
    assert(code == 2 and out == "", bad .. ": " .. out)
    has(err, "gradus: bench peak: ", "stderr")
  end
end)

T.run()
