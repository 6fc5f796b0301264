-- wrk script: each request rates a different seeded service record by its signed link.
local tokens = {}
local counter = 0
local thread_id = 0
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, stride = args[1], tonumber(args[2])
  nonce = args[3] or "x"
  local n = 0
  for line in io.lines(path) do
    if n % stride == thread_id then table.insert(tokens, line) end
    n = n + 1
  end
  counter = 0
  reused = 0
end

function request()
  counter = counter + 1
  local token = tokens[counter]
  if token == nil then
    -- Every seeded record of this thread is rated: this request re-rates one (a 409), and the
    -- bench reports the run as outrunning its seed.
    reused = reused + 1
    token = tokens[1]
  end
  local body = string.format(
    '{"channel":"mobile","level":%d,"tags":[],"comment":"","idempotency_key":"bench-%s-%d-%d","rating_token":"%s"}',
    5 - (counter % 3), nonce, thread_id, counter, token)
  return wrk.format("POST", "/api/v1/evaluations", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  -- done() runs in wrk's main Lua state: the threads' counts are read from them.
  local reused_all = 0
  for _, thread in ipairs(threads) do reused_all = reused_all + thread:get("reused") end
  io.write(string.format("RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d reused=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), reused_all))
end
