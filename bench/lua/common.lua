-- Shared by every bench script (loaded with dofile): per-thread ids and counters, a
-- case-insensitive header lookup, and a JSON summary line printed by done().
--
-- Each thread counts `ok_count` (a case that did what it should: 200 with the expected body,
-- a redirect carrying a code, a completed flow) and `bad_count` (anything else). wrk's own
-- error counts (connect, read, write, timeout, HTTP status >= 400) are reported as well.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

ok_count, bad_count = 0, 0

function header(headers, name)
  for key, value in pairs(headers) do
    if string.lower(key) == name then return value end
  end
  return nil
end

function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then return default end
  return value
end

function split(text)
  local items = {}
  for item in string.gmatch(text or "", "%S+") do table.insert(items, item) end
  return items
end

-- whether a token response carries a JWT access token (header.payload.signature), not an
-- opaque one: the flows compare servers that sign the same tokens
function jwt_access_token(body)
  return string.match(body, '"access_token"%s*:%s*"[%w_%-]+%.[%w_%-]+%.[%w_%-]+"') ~= nil
end

function base_headers()
  local headers = {}
  local auth = env("BENCH_AUTH", nil)
  if auth then headers["Authorization"] = auth end
  local cookie = env("BENCH_COOKIE", nil)
  if cookie then headers["Cookie"] = cookie end
  return headers
end

function form_headers()
  local headers = base_headers()
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  return headers
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + (thread:get("ok_count") or 0)
    bad = bad + (thread:get("bad_count") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"ok":%d,"bad":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, ok, bad))
end
