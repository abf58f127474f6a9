# The checks of `make test-deploy`, sourced by scripts/test-deploy.sh once the stack is up:
# everything goes through Caddy on the published port 443 with its local CA, as a browser does,
# except what only operators see (`idp check`, a replica's own JWKS and /metrics, Prometheus).
# shellcheck shell=bash

discovery() {
  https "https://$IDP_HOST/.well-known/openid-configuration" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["issuer"] == sys.argv[1], d["issuer"]
assert d["jwks_uri"] == sys.argv[1] + "/jwks", d["jwks_uri"]' "https://$IDP_HOST"
}
check "discovery through Caddy (TLS, the local CA)" discovery

status_of() { curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.crt" --max-time 10 "$1"; }
check "Caddy keeps /metrics from the outside" test "$(status_of "https://$IDP_HOST/metrics")" = 404
check "plain http redirects to https" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "http://$HALL_HOST/")" = 308

browser() { .venv/bin/python scripts/test_deploy_browser.py "$@"; }
check "a demo person signs in at the service hall, then SSO into OA (chromium)" browser

# requests handled by one replica, from its own /metrics (on the internal network only)
served() {
  podman exec "$(container "$1")" curl -fsS http://127.0.0.1:8000/metrics | python3 -c '
import sys
print(int(sum(float(line.split()[-1]) for line in sys.stdin
              if line.startswith("idp_http_request_duration_seconds_count{"))))'
}
both_serve() {
  local a0 b0 a1 b1
  a0=$(served idp-a) b0=$(served idp-b) || return 1
  for _ in $(seq 20); do https "https://$IDP_HOST/jwks" >/dev/null || return 1; done
  a1=$(served idp-a) b1=$(served idp-b) || return 1
  echo "idp-a served $((a1 - a0)), idp-b $((b1 - b0)) of 20 (+ health checks)"
  [ $((a1 - a0)) -ge 5 ] && [ $((b1 - b0)) -ge 5 ]
}
check "both replicas serve requests through Caddy" both_serve

check "idp check inside a replica" "${compose[@]}" exec -T idp-b idp check

prometheus_sees_both() {
  local deadline=$(( $(date +%s) + 45 ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    if curl -fsS http://127.0.0.1:9090/api/v1/targets | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
up = sorted(t["labels"]["instance"] for t in targets if t["health"] == "up")
print(up)
sys.exit(up != ["idp-a:8000", "idp-b:8000"])'; then return 0; fi
    sleep 3
  done
  return 1
}
check "Prometheus scrapes both replicas" prometheus_sees_both

kids() {  # the key ids a replica publishes, from its own /jwks
  podman exec "$(container "$1")" curl -fsS http://127.0.0.1:8000/jwks | python3 -c '
import json, sys
print(" ".join(sorted(k["kid"] for k in json.load(sys.stdin)["keys"])))'
}
rotation_reaches_the_other() {
  local before after t0
  before=$(kids idp-b) || return 1
  podman exec "$(container idp-a)" idp keys rotate || return 1
  t0=$(date +%s%N)
  while [ $(( ($(date +%s%N) - t0) / 1000000 )) -le 5000 ]; do
    after=$(kids idp-b)
    if [ "$after" != "$before" ]; then
      echo "idp-b published the new key after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      return 0
    fi
    sleep 0.2
  done
  echo "idp-b still publishes only: $before"
  return 1
}
check "a key rotated in idp-a is in idp-b's JWKS within 5 s" rotation_reaches_the_other

# a stream of requests through Caddy while something happens to the replicas; every one must
# succeed (sessions, codes and keys are shared, Caddy retries on the other replica). With a
# machine client's id and secret (traffic_start ID SECRET), each GET comes with a POST: a token
# request (client_credentials), which Caddy may not send twice, so a replica must drain first
token_status() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.crt" --max-time 10 \
    -u "$1:$2" -d grant_type=client_credentials "https://$IDP_HOST/token"
}
traffic_start() {
  : > "$work/traffic"
  ( while [ ! -e "$work/traffic.stop" ]; do
      echo "GET $(status_of "https://$IDP_HOST/.well-known/openid-configuration")" >> "$work/traffic"
      [ $# = 2 ] && echo "POST $(token_status "$1" "$2")" >> "$work/traffic"
      sleep 0.1
    done ) &
  traffic_pid=$!
}
traffic_stop() {
  touch "$work/traffic.stop"; wait "$traffic_pid"; rm -f "$work/traffic.stop"
  local total bad
  total=$(grep -c . "$work/traffic") bad=$(grep -vc ' 200$' "$work/traffic")
  echo "$total requests, $bad failed: $(sort "$work/traffic" | uniq -c | tr '\n' ' ')"
  [ "$total" -gt 10 ] && [ "$bad" = 0 ]
}

failover() {
  traffic_start
  sleep 2
  podman kill "$(container idp-a)" || return 1
  sleep 4
  traffic_stop || return 1
  browser --login-only  # a whole sign-in while idp-a is down
}
check "idp-a killed mid-run: the requests go on through idp-b" failover
podman start "$(container idp-a)" >> "$log" 2>&1
check "idp-a comes back" wait_healthy 120 idp-a

json_logs() {  # every line a replica has written is one JSON object, on stdout; none on stderr
  local replica err
  for replica in idp-a idp-b; do
    err=$(podman logs "$(container "$replica")" 2>&1 >/dev/null)
    [ -z "$err" ] || { echo "$replica wrote on stderr: $err"; return 1; }
    podman logs "$(container "$replica")" 2>/dev/null | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert lines, "no log lines"
for number, line in enumerate(lines, 1):
    try:
        json.loads(line)
    except ValueError:
        sys.exit(f"line {number} is not JSON: {line!r}")
print(sys.argv[1], len(lines), "JSON lines")' "$replica" || return 1
  done
}
check "the replicas log JSON lines on stdout, every line" json_logs

no_secret_in_logs() {
  local name leaked=0
  for name in $(podman ps -a --format '{{.Names}}' --filter "label=com.docker.compose.project=$project"); do
    for value in "$POSTGRES_PASSWORD" "$REDIS_PASSWORD" "$LDAP_SERVICE_PASSWORD" \
                 "$LDAP_ADMIN_PASSWORD" "$HALL_CLIENT_SECRET" "$HALL_SESSION_SECRET"; do
      if podman logs "$name" 2>&1 | grep -qF "$value"; then echo "$name logs a secret"; leaked=1; fi
    done
  done
  [ "$leaked" = 0 ]
}
check "no secret in any container's log" no_secret_in_logs

nobody_is_root() {
  local name bad=0
  for name in $(podman ps --format '{{.Names}}' --filter "label=com.docker.compose.project=$project"); do
    users=$(podman top "$name" user | tail -n +2 | sort -u | tr '\n' ' ')
    echo "$name: $users"
    case " $users" in *" root "*) bad=1 ;; esac
  done
  [ "$bad" = 0 ]
}
check "no container runs its service as root" nobody_is_root

limited() {  # the limits the compose file sets reach the containers
  local memory
  memory=$(podman inspect -f '{{.HostConfig.Memory}}' "$(container idp-a)")
  echo "idp-a may use $memory bytes"
  [ "$memory" = $((768 * 1024 * 1024)) ]
}
check "the replicas run with the compose file's memory limit" limited

backup() {  # the README's backup: a dump of PostgreSQL and a tar of the keys volume
  "${compose[@]}" exec -T postgres pg_dump -U idp idp > "$work/idp.sql" </dev/null || return 1
  grep -q "CREATE TABLE public.clients" "$work/idp.sql" || return 1
  "${compose[@]}" exec -T idp-a tar -C /var/lib/idp -c keys > "$work/keys.tar" </dev/null || return 1
  tar -tf "$work/keys.tar" | tee /dev/stderr | grep -q "keys/."
}
check "backup: pg_dump and the keys volume" backup

# the upgrade path (the README's): a new image, the migration job, then one replica after the
# other, each healthy (and seen so by Caddy) before the next goes
upgrade() {
  local new
  old_image=$(podman image inspect -f '{{.Id}}' campus-idp:latest) || return 1
  printf 'FROM campus-idp:latest\nLABEL org.opencontainers.image.version=upgrade-test\n' \
    | podman build -q -t campus-idp:latest -f - "$work" || return 1
  new=$(podman image inspect -f '{{.Id}}' campus-idp:latest)
  "${compose[@]}" run --rm idp-migrate </dev/null || return 1
  machine=$("${compose[@]}" exec -T idp-a idp clients add --json --name "Upgrade probe" \
    --grant-type client_credentials </dev/null) || return 1
  read -r machine_id machine_secret < <(python3 -c '
import json, sys
client = json.loads(sys.argv[1])
print(client["client_id"], client["client_secret"])' "$machine")
  [ "$(token_status "$machine_id" "$machine_secret")" = 200 ] || return 1
  traffic_start "$machine_id" "$machine_secret"
  for replica in idp-a idp-b; do
    # podman-compose's `up` keeps a container whose image is new, and its --force-recreate
    # would recreate Caddy too (it depends on the replicas): the replica's container is
    # removed, and `up` makes it again from the new image (the README's upgrade)
    "${compose[@]}" stop "$replica" && podman rm "$(container "$replica")" \
      && "${compose[@]}" up -d --no-deps "$replica" || { traffic_stop; return 1; }
    wait_healthy 120 "$replica" || { traffic_stop; return 1; }
    sleep 6  # Caddy's next active health check sees it back before the other one goes
  done
  traffic_stop || return 1
  grep -q '^POST ' "$work/traffic" || return 1
  for replica in idp-a idp-b; do
    [ "$(podman inspect -f '{{.Image}}' "$(container "$replica")")" = "$new" ] || return 1
  done
  browser --login-only
}
upgrade_undo() {  # campus-idp:latest as built again, the upgrade's image gone (after down)
  [ -n "${old_image:-}" ] || return 0
  local now
  now=$(podman image inspect -f '{{.Id}}' campus-idp:latest 2>/dev/null)
  podman tag "$old_image" campus-idp:latest >/dev/null 2>&1
  [ -n "$now" ] && [ "$now" != "$old_image" ] && podman rmi "$now" >/dev/null 2>&1
  return 0
}
check "upgrade: new image, migration job, rolling restart, no failed request" upgrade
