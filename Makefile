# The two commands of the README's quick start. Each sets itself up first.
.PHONY: demo test bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/hbd check-config --config-dir conf/node1

test: bootstrap
	.venv/bin/python -m pytest -q -n 2 tests

clean:
	rm -rf .venv .pytest_cache .hypothesis
