-- The authorization-code flow with an existing SSO session, as a state machine per thread:
-- GET authorize (session cookie) -> redirect with a code -> POST /token (code + PKCE verifier)
-- -> an ID token. ok_count counts completed flows. Needs wrk -t N -c N (one connection each).
-- BENCH_AUTHORIZE (path and query), BENCH_COOKIE, BENCH_AUTH (Basic), BENCH_REDIRECT_URI,
-- BENCH_VERIFIER, BENCH_PATH (token endpoint path), BENCH_TOKEN_EXTRA (appended to the token
-- request's body: the resource). Counted: a JWT access token and an ID token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local authorize = env("BENCH_AUTHORIZE", "/authorize")
local token_path = env("BENCH_PATH", "/token")
local redirect_uri = env("BENCH_REDIRECT_URI", "")
local verifier = env("BENCH_VERIFIER", "")
local extra = env("BENCH_TOKEN_EXTRA", "")
local code = nil

local function urlencode(text)
  return (string.gsub(text, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  if code == nil then
    local headers = base_headers()
    headers["Authorization"] = nil
    return wrk.format("GET", authorize, headers)
  end
  local body = "grant_type=authorization_code&code=" .. urlencode(code) .. "&redirect_uri=" ..
               urlencode(redirect_uri) .. "&code_verifier=" .. verifier .. extra
  local headers = form_headers()
  headers["Cookie"] = nil
  return wrk.format("POST", token_path, headers, body)
end

function response(status, headers, body)
  if code == nil then
    local location = header(headers, "location") or ""
    code = (status == 302 or status == 303) and string.match(location, "[?&]code=([^&]+)") or nil
    if code == nil then bad_count = bad_count + 1 end
    return
  end
  code = nil
  if status == 200 and string.find(body, '"id_token"', 1, true) and jwt_access_token(body) then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
  end
end
