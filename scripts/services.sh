#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that the tests talk to are up (127.0.0.1:5432, :6379),
# installing and starting them when they are not. slapd is started by the tests themselves.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || install postgresql postgresql-client
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "==> starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
# the tests connect as postgres without a password (trust on loopback, as on the dev machines)
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1" >/dev/null 2>&1; then
  echo "PostgreSQL does not accept user postgres on 127.0.0.1 without a password" >&2; exit 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" \
  | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database test"

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || install redis-server
  echo "==> starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
echo "==> PostgreSQL and Redis are up"
