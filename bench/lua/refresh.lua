-- The refresh-token grant with rotation: every answer carries the next refresh token, which
-- the thread's next request presents (a reused one would revoke the whole family). Needs one
-- connection per thread (wrk -t N -c N) so that requests and answers alternate.
-- BENCH_TOKENS: one starting refresh token per thread, space separated; BENCH_AUTH: Basic;
-- BENCH_TOKEN_EXTRA: appended to the body (the resource). Counted: a JWT access token, an ID
-- token and the next refresh token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = env("BENCH_PATH", "/token")
local extra = env("BENCH_TOKEN_EXTRA", "")
local current

function init(args)
  current = split(env("BENCH_TOKENS", ""))[id]
end

function request()
  return wrk.format("POST", path, form_headers(),
                    "grant_type=refresh_token&refresh_token=" .. (current or "missing") .. extra)
end

function response(status, headers, body)
  local next_token = status == 200 and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if next_token and string.find(body, '"id_token"', 1, true) and jwt_access_token(body) then
    current = next_token
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
  end
end
