-- tests/lua/hostile_names.lua: a name, a label or a path, from a script or
-- from a results.json someone hands over, never runs anything through
-- gnuplot (a marker file must never appear), and still shows as it is in
-- the plots and, isolated and escaped, on the page.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local page = require "gradus.page"
local plots = require "gradus.plots"

local root = T.tmpdir()
local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")

-- Strings each of which ran `touch <root>/PWNED<i>` through gnuplot (in a
-- double-quoted string, or by ending a quoted one), or would end or mangle
-- a line of its script; and some that only must show unchanged.
local function hostile(tag)
  local m = root .. "/PWNED" .. tag
  return {
    "bq`touch " .. m .. "1`",
    "dollar $(touch " .. m .. "2) ${x}",
    "dq\" . system(\"touch " .. m .. "3\") . \"",
    "sq' . system('touch " .. m .. "4') . '",
    "nl\nsystem('touch " .. m .. "5')\nprint '",
    "bsnl\\\n`touch " .. m .. "6`",
    "sys system('touch " .. m .. "7')",
    "macro @GPVAL_TERM @x",
    "back\\slash\\",
    "rlo \u{202E}desrever",
    "<script>alert(1)</script> & \"q\"",
  }
end

local function no_marker(where)
  local ls = T.sh("ls -A '" .. root .. "'")
  assert(not ls:find("PWNED"), where .. ": a command ran through gnuplot: " .. ls)
end

-- A name as gnuplot's SVG prints it: control characters as spaces, bidi
-- isolated, shortened to 40 characters, & and < escaped.
local function in_svg(s, whole)
  return ((whole and plots.isolate(s) or plots.short(s)):gsub("&", "&amp;"):gsub("<", "&lt;"))
end

local function bdi(s) return "<bdi>" .. page.escape(s) .. "</bdi>" end

-- gd.compare refuses a name holding a control character (tested below), but
-- a results table or a handed results.json can still hold one: those names
-- are set after the comparison
local names = hostile("v")
local variants = {}
for i, n in ipairs(names) do
  variants[i] = { name = n:find("%c") and ("v" .. i) or n,
                  optimizer = gd.optim.sgd{ lr = 0.05 * i } }
end
local blobs = gd.data.synthetic.blobs{ n = 40, classes = 2, seed = 1 }
local train, val = blobs:split{ validation = 10, seed = 1 }
local results = gd.compare{
  base = { model = gd.sequential{ gd.layer.dense{ units = 4 }, gd.layer.relu{}, gd.layer.dense{ units = 2 } },
           loss = gd.loss.cross_entropy{}, data = train, validation = val, epochs = 2, batch = 10,
           monitor = { every = 1 }, quiet_diagnoses = true },
  variants = variants, repeats = 1, progress = false,
}
for i, n in ipairs(names) do results.variants[i].name, results.summary[i].name = n, n end

-- a report dir with a quote of each kind, a backquote, $( ) and a line break
local report_dir = root .. "/rep \"q\" 's' `touch " .. root .. "/PWNEDdir` $(touch " .. root .. "/PWNEDdir2)\nx"
local saved = io.output()

T.test("gd.report: hostile variant names and report dir run nothing; every plot drawn, names shown", function()
  io.output(os.tmpname())   -- the table on stdout is not this test's business
  local ok, files = pcall(gd.report, results, { dir = report_dir })
  io.output():close()
  io.output(saved)
  assert(ok, files)
  no_marker("gd.report")
  for _, p in ipairs({ "loss", "accuracy", "lr", "grad_norms", "update_ratios" }) do
    for _, ext in ipairs({ "png", "svg" }) do
      local body = T.slurp(report_dir .. "/" .. p .. "." .. ext)
      assert(body and #body > 1000, p .. "." .. ext .. " was not drawn")
      if ext == "svg" then
        assert(body:find("</svg>", 1, true), p .. ".svg is cut short")
        if p ~= "accuracy" and p ~= "grad_norms" then   -- those name layers, or the plot per variant
          for _, n in ipairs(names) do
            assert(body:find(in_svg(n), 1, true), p .. ".svg does not show the name " .. in_svg(n))
          end
        end
      else
        assert(body:sub(1, 4) == "\x89PNG" and body:sub(-8) == "IEND\xae\x42\x60\x82", p .. ".png is not a whole PNG")
      end
    end
  end
  local html = T.slurp(report_dir .. "/index.html")
  assert(not html:find("<script>alert", 1, true), "a name reached the page unescaped")
  for _, n in ipairs(names) do
    assert(html:find(bdi(n), 1, true), "the page does not isolate the name " .. bdi(n))
  end
  assert(select(2, html:gsub("<svg", "")) >= 5, "the page lost its plots")
  assert(not T.sh("ls -A '" .. root .. "'"):find("%.tmp"), "a temporary file was left")
end)

T.test("gradus report on a handed results.json: hostile variant and layer names run nothing", function()
  local doc = T.json_decode(T.slurp(report_dir .. "/results.json"))
  local layer_names = hostile("layer")
  for _, v in ipairs(doc.variants) do
    for _, r in ipairs(v.runs) do
      for _, s in ipairs(r.history.steps) do
        for j, l in ipairs(s.layers) do l.name = layer_names[(j - 1) % #layer_names + 1] end
      end
    end
  end
  local dir = root .. "/handed `touch " .. root .. "/PWNEDhanded`"
  assert(gd._util.mkdir_p(dir))
  T.spit(dir .. "/results.json", require("gradus.json").encode(doc))
  local quoted = T.quote(dir)
  local out = T.sh(("'%s' report %s; echo rc=$?"):format(exe, quoted))
  assert(out:find("rc=0\n$"), out)
  no_marker("gradus report")
  local html = T.slurp(dir .. "/index.html")
  assert(not html:find("<script>alert", 1, true), "a name reached the page unescaped")
  assert(select(2, html:gsub("<svg", "")) >= 5, "the page lost its plots")
  -- the dense layers (1 and 3) are drawn; the relu between has no parameters
  for _, j in ipairs({ 1, 3 }) do
    assert(html:find(in_svg(layer_names[j]), 1, true), "the plots do not show the layer name " .. layer_names[j])
  end
end)

T.test("gradus report on a results.json with values of the wrong types: no crash, the rest drawn", function()
  local doc = T.json_decode(T.slurp(report_dir .. "/results.json"))
  local r = doc.variants[1].runs[1]
  r.history.epochs[1].epoch = "1 . system('touch " .. root .. "/PWNEDepoch')"
  r.history.steps[1].step = { "x" }
  r.history.steps[2].lr = "0.1`touch " .. root .. "/PWNEDlr`"
  r.steps_per_epoch = "4"
  r.resumed_from = { fork = true, epoch = "2`touch " .. root .. "/PWNEDfork`" }
  local dir = root .. "/typed"
  assert(gd._util.mkdir_p(dir))
  T.spit(dir .. "/results.json", require("gradus.json").encode(doc))
  local out = T.sh(("'%s' report '%s'; echo rc=$?"):format(exe, dir))
  assert(out:find("rc=0\n$"), out)
  no_marker("gradus report, wrong types")
  local html = T.slurp(dir .. "/index.html")
  assert(select(2, html:gsub("<svg", "")) >= 5, "the page lost its plots")
end)

T.test("gd.plot: hostile title, labels and file run nothing; the plot shows them", function()
  local labels = hostile("plot")
  local series = {}
  for i, l in ipairs(labels) do series[i] = { x = { 1, 2, 3 }, y = { i, i + 1, i * 2 }, label = l } end
  local file = root .. "/plot \"`touch " .. root .. "/PWNEDfile`\" '$(x)'\n.svg"
  local got = gd.plot{ series = series, title = labels[1], xlabel = labels[3], ylabel = labels[4], file = file }
  no_marker("gd.plot")
  assert(got == file, tostring(got))
  local svg = T.slurp(file)
  assert(svg and svg:find("</svg>", 1, true), "gd.plot drew nothing")
  -- gd.plot's labels are the script's own: shown whole
  for _, l in ipairs(labels) do assert(svg:find(in_svg(l, true), 1, true), "the plot does not show " .. in_svg(l, true)) end
  local png = root .. "/p`touch " .. root .. "/PWNEDpng`.png"
  assert(gd.plot{ series = series, title = labels[2], file = png } == png)
  no_marker("gd.plot png")
  assert(T.slurp(png):sub(1, 4) == "\x89PNG", "no PNG")
  -- a style is a word gnuplot knows, never script text
  local bad = root .. "/bad.svg"
  T.expect_error("gd.plot: series 1: option 'style' must be \"lines\", \"points\", \"linespoints\", \"steps\", \"fsteps\", \"histeps\", \"impulses\" or \"dots\", got the string \"lines title 'x'", gd.plot,
    { series = { { y = { 1, 2 }, style = "lines title 'x'\nsystem('touch " .. root .. "/PWNEDstyle')" } }, file = bad })
  no_marker("gd.plot style")
  assert(not T.exists(bad), "a refused plot wrote its file")
end)

T.test("a quoted name is gnuplot text that cannot end its string or line", function()
  for _, n in ipairs(hostile("q")) do
    local q = plots.quote(n)
    assert(q:sub(1, 1) == "'" and q:sub(-1) == "'", q)
    local inner = q:sub(2, -2)
    assert(not inner:gsub("''", ""):find("'"), "a lone quote in " .. q)
    assert(not q:find("%c"), "a control character in " .. q)
  end
  assert(plots.quote("a\xffb") == "'a\u{FFFD}b'", "invalid UTF-8 is replaced")
  assert(plots.isolate("x\u{202E}y") == "\u{2068}x\u{202E}y\u{2069}", "bidi isolated")
  assert(plots.isolate("plain") == "plain", "no isolate without bidi")
end)

T.test("results.json is UTF-8 when a data set's path is not", function()
  -- Linux paths are bytes: 0xff and 0xfe never occur in UTF-8
  local dir = root .. "/csv\xff\xfe"
  assert(gd._util.mkdir_p(dir))
  local path = dir .. "/blobs\xfe\xff.csv"
  local f = assert(io.open(path, "wb"))
  f:write("a,b,label\n")
  for i = 1, 12 do f:write(("%d,%d,%d\n"):format(i % 3, i % 4, i % 2)) end
  f:close()
  local data = gd.data.csv{ path = path, target = "label", classes = true }
  local res = gd.compare{
    base = { model = gd.sequential{ gd.layer.dense{ units = 2 } }, loss = gd.loss.cross_entropy{},
             data = data, epochs = 1, batch = 4, progress = false },
    variants = { { name = "sgd", optimizer = gd.optim.sgd{ lr = 0.1 } } }, progress = false,
  }
  io.output(os.tmpname())
  local ok, err = pcall(gd.report, res, { dir = dir .. "/rep", plots = false })
  io.output():close()
  io.output(saved)
  assert(ok, err)
  local text = T.slurp(dir .. "/rep/results.json")
  local n, bad = utf8.len(text)
  assert(n, ("results.json is not UTF-8: byte %s"):format(bad))
  local doc = T.json_decode(text)
  local described = doc.variants[1].config.data
  assert(described:find("blobs\u{FFFD}\u{FFFD}.csv", 1, true),
    "each bad byte is not U+FFFD: " .. described)
end)

T.test("gd.compare refuses a variant name that is not UTF-8, holds a control character or is empty",
function()
  local data = gd.data.synthetic.blobs{ n = 16, classes = 2, seed = 1 }
  local function compare(names)
    local vs = {}
    for i, n in ipairs(names) do vs[i] = { name = n, optimizer = gd.optim.sgd{ lr = 0.1 * i } } end
    return gd.compare{ base = { model = gd.sequential{ gd.layer.dense{ units = 2 } }, data = data,
                                loss = gd.loss.cross_entropy{}, epochs = 1, progress = false },
                       variants = vs, progress = false }
  end
  local function refused(msg, names)
    local why = ": a name goes into results.json, the CSV files and the report page"
    T.expect_error("gd.compare: " .. msg .. why, compare, names)
  end
  refused("variants[1].name is not valid UTF-8 (byte 0xff at 4)", { "bad\xff\xfename" })
  refused("variants[2].name holds a control character (0x0a at 3)", { "ok", "tw\no" })
  refused("variants[1].name is empty", { "" })
  refused("variants[1].name must be a string, got number", { 7 })
  -- a cut sequence is not UTF-8 either; other scripts are welcome
  refused("variants[1].name is not valid UTF-8 (byte 0xe2 at 3)", { "ab\xe2\x82" })
  local unicode = "Adam β₂ 0.95 \u{1F600}"
  assert(compare({ unicode, "plain" }).variants[1].name == unicode)
end)

T.test("gd.benchmark refuses a problem name as gd.compare does a variant's", function()
  local path = root .. "/bad_name.lua"
  T.spit(path, [[
local gd = require "gradus"
local d = gd.data.synthetic.blobs{ n = 16, classes = 2, seed = 1 }
return { name = "tiny\xff", model = gd.sequential{ gd.layer.dense{ units = 2 } },
  data = function() return d, d, d end, loss = gd.loss.cross_entropy{}, batch = 4,
  epochs = { smoke = 1, small = 1, full = 1 }, metric = "accuracy", target = 0.5 }
]])
  local why = ": a name goes into results.json, the cells' files and the pages"
  T.expect_error("benchmark: problem " .. path .. ": 'name' is not valid UTF-8 (byte 0xff at 5)" .. why,
    require("gradus.benchmark").load_problem, gd, path)
end)

T.run()
os.execute("rm -rf '" .. root .. "'")
