-- Open-loop rating load for Debian's wrk (the idea of wrk2, which Debian does not ship).
--
-- Request n of a thread is due at start + n / rate, whatever the server does. A connection that
-- comes free takes the next slot and waits until it is due (wrk's delay(), in whole ms, rounded
-- up); when no connection is free the slot waits for one, and that wait counts: each latency is
-- measured from the slot's due time, echoed back by the server in X-Request-ID, not from the
-- moment wrk wrote it. So a stalled server shows up as latency, not as fewer requests (no
-- coordinated omission).
--
-- The generator runs in C and LuaJIT because it shares the machine with the server it measures:
-- the asyncio generator it replaces cost about 140 us of CPU a request, a third of the server's.
--
-- wrk -t1 -c64 -d<seconds + drain>s -s openloop.lua URL -- tokens rate seconds start_at nonce out
--   tokens    file of rating tokens, one a line (an empty string: GET requests, no body)
--   rate      requests per second offered, split evenly between wrk's threads
--   seconds   how long requests are offered; wrk's -d adds time to drain the last answers
--   start_at  the Unix time the schedule starts (the same for every thread)
--   out       file the answers are written to, one a line (due time, latency in seconds), then
--             a summary line

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } hcp_timespec;
int clock_gettime(int clock_id, hcp_timespec *tp);
]]
local CLOCK_REALTIME = 0
local timespec = ffi.new("hcp_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_REALTIME, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local LATE = 0.005 -- a slot that could not start within 5 ms of its due time: no connection free
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local token_file = args[1]
  local total_rate = tonumber(args[2])
  local seconds = tonumber(args[3])
  local start_at = tonumber(args[4])
  nonce = args[5]
  out_file = args[6]
  local count = tonumber(args[7])
  tokens = {}
  if token_file ~= "" then
    local n = 0
    for line in io.lines(token_file) do
      if n % count == thread_index then table.insert(tokens, line) end
      n = n + 1
    end
  end
  interval = count / total_rate
  start = start_at + thread_index / total_rate
  total = math.floor(seconds * total_rate / count)
  next_slot = 0
  queue, head, tail = {}, 0, 0
  latencies, answered, errors, late = {}, 0, 0, 0
end

function delay()
  if next_slot >= total then
    return 3600000 -- every slot handed out: this connection idles until wrk stops
  end
  local due = start + next_slot * interval
  queue[tail] = next_slot
  tail = tail + 1
  next_slot = next_slot + 1
  local wait = due - now()
  if wait < -LATE then late = late + 1 end
  if wait <= 0 then return 0 end
  return math.ceil(wait * 1000)
end

local function take_slot()
  if head < tail then
    local slot = queue[head]
    queue[head] = nil
    head = head + 1
    return slot
  end
  if tail == 0 then
    return 0 -- wrk builds one request to check the script before the run; it is never sent
  end
  -- A connection wrk reopened writes again without asking delay(): give it the next slot now.
  local slot = next_slot
  next_slot = next_slot + 1
  return slot
end

function request()
  local slot = take_slot()
  local headers = { ["X-Request-ID"] = string.format("ol%d-%d", thread_index, slot) }
  if #tokens == 0 then
    return wrk.format("GET", nil, headers, nil)
  end
  headers["Content-Type"] = "application/json"
  local body = string.format(
    '{"channel":"mobile","level":%d,"tags":[],"comment":"","idempotency_key":"ol-%s-%d-%d","rating_token":"%s"}',
    5 - slot % 3, nonce, thread_index, slot, tokens[slot % #tokens + 1])
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  local id = headers["x-request-id"] or headers["X-Request-ID"]
  local slot = id and tonumber(string.match(id, "^ol%d+%-(%d+)$"))
  answered = answered + 1
  if slot == nil or status >= 300 then
    errors = errors + 1
    if first_error == nil then first_error = status .. " " .. body:sub(1, 200) end
    if slot == nil then return end
  end
  local due = start + slot * interval
  latencies[#latencies + 1] = string.format("%.4f %.6f", due, now() - due)
end

function done(summary, latency, requests)
  -- done() runs in wrk's main Lua state, where init() never ran: everything comes from threads.
  local out = assert(io.open(threads[1]:get("out_file"), "w"))
  local offered, got, failed, started_late = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    offered = offered + thread:get("total")
    got = got + thread:get("answered")
    failed = failed + thread:get("errors")
    started_late = started_late + thread:get("late")
    for _, value in ipairs(thread:get("latencies")) do
      out:write(value, "\n")
    end
  end
  local first = threads[1]:get("first_error")
  if first then out:write("FIRST_ERROR " .. first:gsub("%s", " ") .. "\n") end
  out:write(string.format("SUMMARY offered=%d answered=%d errors=%d late_starts=%d\n",
    offered, got, failed, started_late))
  out:close()
end
