#!/usr/bin/env bash
# Bootstrap what campus-idp needs on a fresh Debian machine: the system packages python-ldap
# builds against and the project's virtualenv, at the exact versions of requirements/demo.txt
# (`make demo`: the IdP and the example apps on the embedded defaults, no directory server).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# `bootstrap.sh test` also brings what the test suite needs: the test extras at the versions of
# requirements/test.txt, slapd and ldap-utils (the tests start their own slapd), Debian's chromium
# for the browser tests (Playwright drives it; it never downloads a browser), a CJK font for the
# screenshots, and redis-server, whose processes the Sentinel tests start (a primary, a replica
# and three sentinels: `redis-server --sentinel` is what Debian's redis-sentinel runs)
kind=demo
pkgs=(libldap2-dev libsasl2-dev)
if [ "${1:-}" = "test" ]; then
  kind=test
  pkgs+=(slapd ldap-utils chromium fonts-wqy-zenhei redis-server)
  # ... and a Samba Active Directory DC the AD tests provision and start themselves
  # (tests/support/samba_dc.py): samba with its AD database modules, the schema files
  # provisioning reads, the VFS modules it sets the sysvol ACLs with, and ldbmodify
  pkgs+=(samba samba-dsdb-modules samba-ad-provision samba-vfs-modules ldb-tools)
  # ... and Node.js, which runs a CAS client that is not Python (tests/cas/node)
  command -v node >/dev/null || pkgs+=(nodejs npm)
fi
need_pkgs=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
# the exact versions first (hash-checked), then campus-idp itself on top of them, editable
lock=requirements/$kind.txt
stamp=.venv/.installed-$kind
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing campus-idp into .venv ($lock)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q --require-hashes -r "$lock"
  .venv/bin/pip install -q --no-deps -e .
  touch "$stamp"
  # a test install holds everything a demo needs
  if [ "$kind" = test ]; then touch .venv/.installed-demo; fi
fi

# the upstream-account tests run a real OpenID provider: oidc-provider, from bench/peer's lock
# file (the packages `make bench` uses; tests/upstream/provider.py runs it)
if [ "${1:-}" = "test" ] && { [ ! -f bench/peer/node_modules/.package-lock.json ] ||
    [ bench/peer/package-lock.json -nt bench/peer/node_modules/.package-lock.json ]; }; then
  echo "==> npm ci (bench/peer: oidc-provider for the upstream tests)"
  (cd bench/peer && npm ci --no-audit --no-fund --silent)
fi
