-- tests/lua/browser.lua: Debian's headless chromium driven over its DevTools
-- protocol, for the page tests. The protocol runs over --remote-debugging-pipe
-- (NUL-terminated JSON on the browser's fds 3 and 4), here two FIFOs, so a
-- plain Lua test can drive it. No chromium is a failure, never a skip.
local json = require "gradus.json"

local B = {}
B.__index = B

local flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
  .. "--disable-background-networking --disable-component-update --disable-sync"

-- A browser with one page, working in directory dir (FIFOs, profile, log).
function B.open(dir)
  if not os.execute("command -v chromium >/dev/null 2>&1") then
    error("chromium is not installed: the page tests need Debian's chromium (setup.sh installs it)", 0)
  end
  local cmd, out = dir .. "/cdp-in", dir .. "/cdp-out"
  assert(os.execute(("mkfifo '%s' '%s'"):format(cmd, out)), "mkfifo failed")
  -- in the background, its output away from the test's; a watchdog ends a
  -- browser that hangs, and the test then fails on the closed pipe
  assert(os.execute(("chromium %s --user-data-dir='%s/profile' --remote-debugging-pipe "
    .. "3<'%s' 4>'%s' >'%s/chromium.log' 2>&1 & echo $! >'%s/pid'; "
    .. "(sleep 110; kill $(cat '%s/pid')) >/dev/null 2>&1 & echo $! >'%s/watchdog'")
    :format(flags, dir, cmd, out, dir, dir, dir, dir)))
  local self = setmetatable({ dir = dir, id = 0, events = {} }, B)
  self.w = assert(io.open(cmd, "w"))
  self.r = assert(io.open(out, "r"))
  local target = self:call("Target.createTarget", { url = "about:blank" }).targetId
  self.session = self:call("Target.attachToTarget", { targetId = target, flatten = true }).sessionId
  for _, domain in ipairs({ "Page", "Runtime", "Log" }) do self:call(domain .. ".enable") end
  self:call("Emulation.setDeviceMetricsOverride", { width = 1200, height = 900, deviceScaleFactor = 1, mobile = false })
  return self
end

local function recv(self)
  local b = {}
  while true do
    local c = self.r:read(1)
    if not c then
      local log = io.open(self.dir .. "/chromium.log")
      error("chromium closed the DevTools pipe" .. (log and (": " .. log:read("a"):sub(-400)) or ""), 0)
    end
    if c == "\0" then return json.decode(table.concat(b)) end
    b[#b + 1] = c
  end
end

-- Call a DevTools method and wait for its result; events meanwhile are kept.
function B:call(method, params)
  self.id = self.id + 1
  local msg = { id = self.id, method = method, params = params }
  if method:find("^Target%.") == nil then msg.sessionId = self.session end
  self.w:write((json.encode(msg):gsub("\n%s*", " ")), "\0")
  self.w:flush()
  while true do
    local m = recv(self)
    if m.id == self.id then
      if m.error then error(method .. ": " .. tostring(m.error.message), 0) end
      return m.result
    end
    self.events[#self.events + 1] = m
  end
end

function B:wait_event(method)
  for i, e in ipairs(self.events) do
    if e.method == method then table.remove(self.events, i); return e end
  end
  while true do
    local m = recv(self)
    if m.method == method then return m end
    self.events[#self.events + 1] = m
  end
end

function B:navigate(url)
  self:call("Page.navigate", { url = url })
  self:wait_event("Page.loadEventFired")
end

-- The value of a JavaScript expression (promises awaited).
function B:eval(expr)
  local r = self:call("Runtime.evaluate", { expression = expr, returnByValue = true, awaitPromise = true })
  if r.exceptionDetails then
    error("javascript: " .. tostring(r.exceptionDetails.exception and r.exceptionDetails.exception.description
      or r.exceptionDetails.text), 0)
  end
  return r.result.value
end

-- Console errors and warnings, uncaught exceptions, failed loads so far.
function B:errors()
  local out = {}
  for _, e in ipairs(self.events) do
    local p = e.params or {}
    if e.method == "Runtime.exceptionThrown" then
      out[#out + 1] = "exception: " .. tostring(p.exceptionDetails.exception and p.exceptionDetails.exception.description
        or p.exceptionDetails.text)
    elseif e.method == "Runtime.consoleAPICalled" and (p.type == "error" or p.type == "warning") then
      out[#out + 1] = "console." .. p.type .. ": " .. tostring(p.args[1] and p.args[1].value)
    elseif e.method == "Log.entryAdded" and (p.entry.level == "error" or p.entry.level == "warning") then
      out[#out + 1] = "log: " .. tostring(p.entry.text) .. " " .. tostring(p.entry.url or "")
    end
  end
  return out
end

-- A screenshot of the page area { x, y, width, height } (page pixels):
-- the number of its pixels that are not near white, counted by decoding
-- the PNG in the page itself.
function B:ink(rect)
  local shot = self:call("Page.captureScreenshot", { format = "png", captureBeyondViewport = true,
    clip = { x = rect.x, y = rect.y, width = rect.width, height = rect.height, scale = 1 } }).data
  return self:eval(([[(async function () {
    const img = new Image(); img.src = "data:image/png;base64,%s"; await img.decode();
    const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
    const g = c.getContext("2d"); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 220 || d[i + 1] < 220 || d[i + 2] < 220) n++;
    return n; })()]]):format(shot))
end

-- Close the browser; its directory is removed once it has gone (in the
-- background: chromium takes seconds to exit, the test need not wait).
function B:close()
  pcall(self.call, self, "Browser.close")
  self.w:close()
  self.r:close()
  os.execute(("d='%s'; kill $(cat \"$d/watchdog\") 2>/dev/null; p=$(cat \"$d/pid\"); "
    .. "(for i in $(seq 100); do kill -0 $p 2>/dev/null || break; sleep 0.1; done; kill $p; rm -rf \"$d\") "
    .. ">/dev/null 2>&1 &"):format(self.dir))
end

return B
