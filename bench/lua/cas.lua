-- A CAS sign-in into an app with an existing SSO session, as a state machine per thread:
-- GET /cas/login?service=… (session cookie) -> a redirect carrying a service ticket ->
-- GET /cas/p3/serviceValidate?service=…&ticket=… -> a CAS 3.0 success. ok_count counts validated
-- tickets. Needs wrk -t N -c N (one connection each).
-- BENCH_LOGIN (path and query of the login), BENCH_VALIDATE (the validation path and query up
-- to the ticket's value), BENCH_COOKIE.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local login = env("BENCH_LOGIN", "/cas/login")
local validate = env("BENCH_VALIDATE", "/cas/p3/serviceValidate?ticket=")
local ticket = nil

function request()
  if ticket == nil then
    return wrk.format("GET", login, base_headers())
  end
  local headers = base_headers()
  headers["Cookie"] = nil  -- the service's back end asks, not the browser
  return wrk.format("GET", validate .. ticket, headers)
end

function response(status, headers, body)
  if ticket == nil then
    local location = header(headers, "location") or ""
    ticket = (status == 302 or status == 303) and string.match(location, "[?&]ticket=(ST%-[%w%-]+)") or nil
    if ticket == nil then bad_count = bad_count + 1 end
    return
  end
  ticket = nil
  if status == 200 and string.find(body, "authenticationSuccess", 1, true) then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
  end
end
