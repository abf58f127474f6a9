# campus-idp: `make demo` runs it, `make test` proves it. Both bootstrap what they need.
.PHONY: demo test lint checks bootstrap services clean bench lock test-deploy

bootstrap:
	@scripts/bootstrap.sh

services:
	@scripts/services.sh

demo: bootstrap
	.venv/bin/idp demo

test: services
	@scripts/bootstrap.sh test
	@$(MAKE) --no-print-directory checks
	LDAPNOINIT=1 .venv/bin/pytest -q -p no:cacheprovider

# docker-compose.yml started for real under podman (base image built once with debootstrap),
# proved through Caddy with a browser, then taken down again (scripts/test-deploy.sh)
test-deploy:
	@scripts/test-deploy.sh

lint: bootstrap
	@$(MAKE) --no-print-directory checks

# style, and the layers of the house: each imports only the layers below it (pyproject.toml)
checks:
	LDAPNOINIT=1 .venv/bin/ruff check idp directory tests clients bench
	LDAPNOINIT=1 .venv/bin/lint-imports

# campus-idp side by side with oidc-provider (bench/README.md); about 30 minutes
bench: services
	@scripts/bootstrap.sh test
	@bench/deps.sh
	LDAPNOINIT=1 .venv/bin/python -m bench.run

clean:
	rm -rf .venv var .pytest_cache .ruff_cache

# the exact versions `make demo` and `make test` install (requirements/*.txt, with hashes), resolved
# again from pyproject.toml's ranges; commit the result once `make test` passes on it
lock:
	@scripts/lock.sh
