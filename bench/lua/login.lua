-- Password logins through campus-idp's login form, per thread a cycle of three requests:
-- GET /authorize (no session) -> 303 /login/{id}; GET /login/{id} (the form; the interaction
-- remembers this browser's CSRF token); POST /login/{id} with the password -> 303 onwards.
-- ok_count counts accepted passwords. Each thread signs in its own slice of the generated
-- people, so no account is ever checked twice at once. Needs wrk -t N -c N.
-- BENCH_AUTHORIZE, BENCH_CSRF (the CSRF cookie and field value), BENCH_CSRF_COOKIE (its
-- name), BENCH_USER_PREFIX, BENCH_USERS_PER_THREAD, BENCH_PASSWORD.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local authorize = env("BENCH_AUTHORIZE", "/authorize")
local csrf = env("BENCH_CSRF", "")
local cookie = env("BENCH_CSRF_COOKIE", "idp_csrf") .. "=" .. csrf
local prefix = env("BENCH_USER_PREFIX", "bench")
local per_thread = tonumber(env("BENCH_USERS_PER_THREAD", "50"))
local password = env("BENCH_PASSWORD", "")
local step, login_path, n = "authorize", nil, 0

function request()
  local headers = { Cookie = cookie }
  if step == "authorize" then
    return wrk.format("GET", authorize, headers)
  elseif step == "form" then
    return wrk.format("GET", login_path, headers)
  end
  n = n + 1
  local user = string.format("%s%06d", prefix, (id - 1) * per_thread + (n % per_thread) + 1)
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  return wrk.format("POST", login_path, headers,
                    "csrf=" .. csrf .. "&username=" .. user .. "&password=" .. password)
end

function response(status, headers, body)
  local location = header(headers, "location") or ""
  if step == "authorize" then
    login_path = status == 303 and string.match(location, "^(/login/[%w_%-]+)") or nil
    if login_path then step = "form" else bad_count = bad_count + 1 end
  elseif step == "form" then
    if status == 200 then step = "password" else bad_count = bad_count + 1; step = "authorize" end
  else
    if status == 303 and string.find(location, "/authorize/resume/", 1, true) then
      ok_count = ok_count + 1
    else
      bad_count = bad_count + 1
    end
    step = "authorize"
  end
end
