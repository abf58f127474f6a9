#!/bin/sh
# Caddy, and a readable copy of its local CA's root certificate. Caddy keeps its storage private
# (directories 0700, its own user), so the replicas and apps, which run as other users and mount
# the same volume read-only at /caddy, could not read the root it signs with; they trust
# /caddy/local-ca.crt (TRUST_CA_FILE in deploy/idp.env) instead.
set -eu
root=/data/caddy/pki/authorities/local/root.crt
caddy run --config /etc/caddy/Caddyfile --adapter caddyfile &
pid=$!
trap 'kill -TERM "$pid"' TERM INT
for _ in $(seq 120); do
  if [ -s "$root" ]; then
    cp "$root" /data/local-ca.crt.tmp && chmod 0644 /data/local-ca.crt.tmp \
      && mv /data/local-ca.crt.tmp /data/local-ca.crt
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
wait "$pid" || { status=$?; wait "$pid" 2>/dev/null; exit "$status"; }
