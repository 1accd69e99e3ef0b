# The two commands of the README's quick start. Each sets itself up first.
.PHONY: demo test lint bootstrap clean deb

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@chmod 600 conf/node*/authkeys   # git does not keep mode 600; heartbeat and hbd insist on it
	@for n in node0 node1 node2; do \
	  .venv/bin/hbd check-config --config-dir conf/$$n --node $$n >/dev/null \
	    || { .venv/bin/hbd check-config --config-dir conf/$$n --node $$n; exit 1; }; \
	done
	.venv/bin/hbd lab demo --report lab-report.html

test: bootstrap lint
	.venv/bin/python -m pytest -q -n 2 tests

# ruff on everything; mypy on everything, --strict on the pure rooms (pyproject.toml)
lint: bootstrap
	.venv/bin/ruff check hbd tests bench lab
	.venv/bin/mypy hbd lab/hbd_lab
	.venv/bin/mypy --strict hbd/core hbd/wire hbd/config

# The Debian package: build/hbd_VERSION-1_ARCH.deb (packaging/build-deb.sh; docs/install.md).
deb:
	packaging/build-deb.sh

clean:
	rm -rf .venv .pytest_cache .hypothesis
