-- One fixed request, repeated: discovery, JWKS, client_credentials, introspection, userinfo.
-- BENCH_METHOD (GET), BENCH_PATH, BENCH_BODY (form-encoded, for POST), BENCH_AUTH, and
-- BENCH_EXPECT: a string the 200 body must contain for the request to count as ok.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local expect = env("BENCH_EXPECT", nil)
local method = env("BENCH_METHOD", "GET")
local body = env("BENCH_BODY", nil)
local prepared

function init(args)
  local headers = method == "POST" and form_headers() or base_headers()
  prepared = wrk.format(method, env("BENCH_PATH", "/"), headers, body)
end

function request()
  return prepared
end

function response(status, headers, response_body)
  if status == 200 and (expect == nil or string.find(response_body, expect, 1, true)) then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
  end
end
