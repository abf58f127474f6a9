#!/usr/bin/env bash
# What `make bench` needs besides `make bootstrap` and `make services`: Debian's wrk (the load
# generator), Node.js 20+ with npm (the oidc-provider peer), and the peer's packages from its
# lock file (npm ci into bench/peer/node_modules). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Node.js $(node --version) is too old for oidc-provider 9: install Node.js 20 or newer" >&2
  exit 1
fi
if [ ! -f peer/node_modules/.package-lock.json ] || [ peer/package-lock.json -nt peer/node_modules/.package-lock.json ]; then
  echo "==> npm ci (bench/peer)"
  (cd peer && npm ci --no-audit --no-fund --silent)
fi
# the [bench] extra: granian (the servers check) and py-spy (`python -m bench.profile`)
{ [ -x ../.venv/bin/py-spy ] && [ -x ../.venv/bin/granian ]; } || ../.venv/bin/pip install -q -e '..[bench]'
