#!/usr/bin/env bash
# `make lock`: resolve pyproject.toml's dependency ranges to exact versions with hashes: the IdP
# alone (requirements/runtime.txt: the container image), with the example apps (demo.txt:
# `make demo`) and with the test extras (test.txt: `make test`); and the tools of
# `make test-deploy` (deploy.txt, from deploy.in: podman-compose), with pip-tools in a throwaway
# virtualenv of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"${PYTHON:-python3}" -m venv "$tools"
"$tools/bin/pip" install -q pip-tools
compile=("$tools/bin/pip-compile" -q --upgrade --generate-hashes --strip-extras --allow-unsafe
         --no-emit-find-links --no-emit-index-url)
"${compile[@]}" -o requirements/runtime.txt pyproject.toml
"${compile[@]}" --extra demo -o requirements/demo.txt pyproject.toml
"${compile[@]}" --extra test -o requirements/test.txt pyproject.toml
"${compile[@]}" -o requirements/deploy.txt requirements/deploy.in
echo "==> requirements/*.txt resolved; run make test, then commit them"
echo "    (runtime.txt: keep async-timeout for Python < 3.11.3, which the images run: tests/replicas/test_compose_file.py)"
