#!/usr/bin/env bash
# `make test-deploy`: docker-compose.yml as shipped, started for real under podman, and proved
# from the outside through Caddy (TLS, its local CA). Every step below is the README's
# "Deploy with docker-compose" recipe; only the base image differs from a campus's Docker run.
#
#   0. podman-compose 1.x (requirements/deploy.txt) into var/deploy-tools/venv, once
#   1. the base image: localhost/debian:bookworm (debootstrap + podman import), once, cached
#   2. an env file from deploy/idp.env.example, every secret generated (in a temporary directory)
#   3. build, then start in dependency order, waiting for each health check
#   4. register the example apps, start them
#   5. checks (discovery, a browser login with SSO, replica failover, `idp check`, Prometheus,
#      key rotation, a rolling upgrade), then `down -v`, and nothing may be left behind
#
# Prints `N passed, N failed`; exits non-zero on any failure. KEEP=1 leaves the stack running.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# podman on this kind of machine: runc, cgroupfs, no default ulimits (deploy/podman/containers.conf)
export CONTAINERS_CONF=$repo/deploy/podman/containers.conf
export BASE_IMAGE=${BASE_IMAGE:-localhost/debian:bookworm}
export BUILDAH_FORMAT=docker  # images keep their HEALTHCHECK (the OCI format has none)
project=campus-idp  # docker-compose.yml's `name:`
[ -x .venv/bin/python ] || scripts/bootstrap.sh test
work=$(mktemp -d /tmp/test-deploy.XXXXXX)
env_file=$work/idp.env
# docker-compose.yml as shipped, read by podman-compose >= 1.1 (requirements/deploy.txt, hash
# checked) from a virtualenv of its own: the README's commands, `podman-compose` for `docker compose`
tools=$repo/var/deploy-tools/venv
compose=(podman-compose --env-file "$env_file")
log=$work/run.log
passed=0 failed=0
started=$(date +%s)

say() { printf '==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }
check() {  # check NAME COMMAND...: one line per check, its output in the log
  local name=$1; shift
  printf -- '--- %s\n' "$name" >> "$log"
  if "$@" >> "$log" 2>&1; then
    passed=$((passed + 1)); printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1)); printf 'FAIL  %s (see %s)\n' "$name" "$log"
  fi
}
container() {  # a service's container, by the labels compose puts on it
  podman ps -a --format '{{.Names}}' --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" | head -1
}

cleanup() {
  if [ "${KEEP:-}" = 1 ]; then echo "KEEP=1: the stack stays up; $work/idp.env has its secrets"; return; fi
  "${compose[@]}" down -v >> "$log" 2>&1 || true
  upgrade_undo
}
upgrade_undo() { :; }  # the upgrade check's image, taken back (scripts/test-deploy-checks.sh)

# --- 0. what the machine needs (Debian's packages only)
need=()
for pair in podman:podman runc:runc debootstrap:debootstrap chromium:chromium \
            certutil:libnss3-tools curl:curl; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >> "$log" 2>&1
fi
# podman-compose from PyPI (Debian's 1.0 cannot read the file as shipped), made again when
# requirements/deploy.txt changes
if ! cmp -s requirements/deploy.txt "$tools/requirements.txt"; then
  say "podman-compose into $tools"
  rm -rf "$tools" && python3 -m venv "$tools" \
    && "$tools/bin/pip" install -q --require-hashes -r requirements/deploy.txt >> "$log" 2>&1 \
    && cp requirements/deploy.txt "$tools/requirements.txt" \
    || { echo "installing podman-compose failed: $log"; exit 1; }
fi
export PATH=$tools/bin:$PATH

# the ports the compose file publishes (Caddy's 80 and 443, Prometheus's 127.0.0.1:9090) must be
# free: another service on them is not this stack's to stop
taken=$(ss -Hltn '( sport = :80 or sport = :443 or sport = :9090 )' 2>/dev/null)
if [ -n "$taken" ]; then
  echo "ports 80, 443 and 9090 must be free for the stack; in use:"; echo "$taken"; exit 1
fi

# --- 1. the base image, built once: a Debian root file system from Debian's mirror
if ! podman image exists "$BASE_IMAGE"; then
  [ "$BASE_IMAGE" = localhost/debian:bookworm ] || { echo "$BASE_IMAGE is missing"; exit 1; }
  say "building $BASE_IMAGE with debootstrap (about 3 minutes)"
  root=$work/rootfs
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" \
    http://deb.debian.org/debian >> "$log" 2>&1 || { echo "debootstrap failed: $log"; exit 1; }
  # a machine behind a TLS-inspecting proxy: its extra CAs go into its own base image, so that
  # pip inside the builds trusts them too (nothing of the kind is in the project's Dockerfiles)
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >> "$log" 2>&1
  fi
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --message "debootstrap --variant=minbase bookworm" - \
    "$BASE_IMAGE" >> "$log" 2>&1
  rm -rf "$root"
fi

# --- 2. deploy/idp.env with generated secrets (letters and digits: they go into URLs)
secret() { openssl rand -hex 24; }
sed -E "s/^([A-Z_]+)=change-me.*/\1=__SECRET__/" deploy/idp.env.example > "$env_file"
while grep -q __SECRET__ "$env_file"; do
  sed -i "0,/__SECRET__/s//$(secret)/" "$env_file"
done
echo "BASE_IMAGE=$BASE_IMAGE" >> "$env_file"
load_env() { set -a; . "$env_file"; set +a; }  # the host names, for the checks
load_env
trap cleanup EXIT

wait_healthy() {  # wait_healthy SECONDS SERVICE...: what `up --wait` does with Docker. Without
  # systemd podman runs no health check by itself, so they are run here, as often as it takes
  local deadline=$(( $(date +%s) + $1 )) service; shift
  for service in "$@"; do
    until podman healthcheck run "$(container "$service")" >/dev/null 2>&1; do
      if [ "$(date +%s)" -gt "$deadline" ]; then
        echo "$service never became healthy; its log:"; podman logs --tail 30 "$(container "$service")"
        return 1
      fi
      sleep 1
    done
  done
}

# --- 3. build and start: the README's commands. One step at a time, each waiting for health,
# because podman-compose waits for `condition: service_healthy` only with podman >= 4.6 (Debian
# bookworm has 4.3) and runs no health check itself; --no-deps because without it, podman-compose
# links each container to its dependencies (podman --requires), and then no replica could be
# replaced alone in a rolling upgrade
say "building the images (FROM $BASE_IMAGE)"
# podman-compose builds every service at once, each on its own: the IdP's image first, whose
# build stage the apps' image shares, so that the rest finds it built (docker's BuildKit shares it)
"${compose[@]}" build idp-migrate >> "$log" 2>&1 && "${compose[@]}" build >> "$log" 2>&1 \
  || { echo "build failed: $log"; tail -30 "$log"; exit 1; }
say "starting OpenLDAP, Redis, PostgreSQL"
"${compose[@]}" up -d --no-deps openldap redis postgres >> "$log" 2>&1
check "openldap, redis and postgres are healthy" wait_healthy 120 openldap redis postgres
say "the migration job"
check "the migration job succeeds" "${compose[@]}" run --rm idp-migrate </dev/null
say "the two replicas"
"${compose[@]}" up -d --no-deps idp-a idp-b >> "$log" 2>&1
check "both replicas are ready" wait_healthy 120 idp-a idp-b

# --- 4. the apps' registrations, then Caddy, Prometheus and the apps
say "registering the example apps"
register() {  # register VAR_PREFIX idp-clients-add-args...: its id (and secret) into idp.env
  local prefix=$1 out; shift
  out=$("${compose[@]}" exec -T idp-a idp clients add --json "$@" </dev/null) || return 1
  python3 -c '
import json, sys
client, prefix = json.loads(sys.argv[1]), sys.argv[2]
print(prefix + "_CLIENT_ID=" + client["client_id"])
if client.get("client_secret"):
    print(prefix + "_CLIENT_SECRET=" + client["client_secret"])' "$out" "$prefix" \
    >> "$env_file"
}
oidc_app() {  # oidc_app PREFIX HOST NAME
  register "$1" --name "$3" --redirect-uri "https://$2/callback" \
    --post-logout-redirect-uri "https://$2/" --backchannel-logout-uri "https://$2/backchannel-logout" \
    --skip-consent
}
register_all() {
  oidc_app HALL "$HALL_HOST" "Online Service Hall" && oidc_app OA "$OA_HOST" "OA System" \
    && register DATA --name "Data Platform" --public --redirect-uri "https://$DATA_HOST/callback" \
         --post-logout-redirect-uri "https://$DATA_HOST/" \
    && "${compose[@]}" exec -T idp-a idp clients add --protocol cas --name "Academic Affairs" \
         --service "https://$ACADEMIC_HOST/cas/callback" --slo-url "https://$ACADEMIC_HOST/cas/slo" </dev/null
}
check "the example apps are registered" register_all
load_env

say "Caddy, Prometheus and the apps"
"${compose[@]}" up -d --no-deps caddy prometheus hall oa data api academic >> "$log" 2>&1
check "caddy is healthy" wait_healthy 60 caddy
check "prometheus and the apps are healthy" wait_healthy 120 prometheus hall oa data api academic

# the local CA's root, for curl and the browser on this machine
podman cp "$(container caddy):/data/local-ca.crt" "$work/ca.crt" >> "$log" 2>&1
export DEPLOY_CA=$work/ca.crt
https() { curl -fsS --cacert "$work/ca.crt" --max-time 10 "$@"; }

# --- 5. the checks
. scripts/test-deploy-checks.sh

mkdir -p "$work/logs"  # every container's output, for a failure's post-mortem
for name in $(podman ps -a --format '{{.Names}}' --filter "label=com.docker.compose.project=$project"); do
  podman logs "$name" > "$work/logs/$name.log" 2>&1
done

say "down -v"
"${compose[@]}" down -v >> "$log" 2>&1
left=$(podman ps -a -q --filter "label=com.docker.compose.project=$project"; \
       podman volume ls -q --filter "label=com.docker.compose.project=$project"; \
       podman network ls -q --filter "label=com.docker.compose.project=$project")
check "down -v leaves no container, volume or network" test -z "$left"
trap - EXIT
cleanup
say "done"
# the run's files hold the secrets of a stack that is gone; kept only when something failed
if [ "$failed" = 0 ]; then rm -rf "$work"; else echo "the run's log and container logs: $work"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
