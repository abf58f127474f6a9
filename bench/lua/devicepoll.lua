-- RFC 8628 device sign-in, the device's side: each thread polls the token endpoint with its own
-- slice of device codes that nobody will approve, one after another, so each code is polled at
-- most once per round of its slice (slower than the server's interval: no slow_down). ok_count
-- counts `authorization_pending` answers (400, as §3.5 says); anything else is bad.
-- Needs wrk -t N -c N.
-- BENCH_PATH (the token endpoint), BENCH_CLIENT_ID (a public client), BENCH_CODES_FILE (one
-- device code a line), BENCH_CODES_PER_THREAD.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = env("BENCH_PATH", "/token")
local client_id = env("BENCH_CLIENT_ID", "")
local per_thread = tonumber(env("BENCH_CODES_PER_THREAD", "100"))
local codes, n = {}, 0

function init(args)
  local first = (id - 1) * per_thread + 1
  local line_number = 0
  for line in io.lines(env("BENCH_CODES_FILE", "/dev/null")) do
    line_number = line_number + 1
    if line_number >= first and line_number < first + per_thread then
      table.insert(codes, line)
    end
  end
end

function request()
  n = n % #codes + 1
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", path, headers,
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" ..
                    "&client_id=" .. client_id .. "&device_code=" .. codes[n])
end

function response(status, headers, body)
  if status == 400 and string.find(body, '"authorization_pending"', 1, true) then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
  end
end
