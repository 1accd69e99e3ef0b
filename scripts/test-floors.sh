#!/usr/bin/env bash
# Install hbd with the oldest dependency versions it claims to support
# (packaging/constraints-floor.txt = pyproject.toml's floors) in a throwaway venv,
# and run the unit tests there. Exit status: pytest's.
#   scripts/test-floors.sh [PYTEST ARGS...]   (default: tests/unit and the metrics tests,
#                                             which exercise prometheus-client)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
venv=$(mktemp -d /tmp/hbd-floors.XXXXXX)
trap 'rm -rf "$venv"' EXIT
"$PY" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
    -c packaging/constraints-floor.txt '.[test]'
# the floors really are what got installed (a constraint pip could not meet fails above)
"$venv/bin/python" - <<'PY'
import importlib.metadata as md, re, sys
want = {}
for line in open("packaging/constraints-floor.txt"):
    line = line.split("#")[0].strip()
    if line:
        name, version = line.split("==")
        want[name] = version
got = {name: md.version(name) for name in want}
bad = {n: (got[n], v) for n, v in want.items() if got[n] != v}
print("floors:", ", ".join(f"{n} {v}" for n, v in got.items()))
sys.exit(f"not the floor versions: {bad}" if bad else 0)
PY
[ $# -gt 0 ] || set -- tests/unit tests/shell/test_metrics.py
"$venv/bin/python" -m pytest -p no:cacheprovider -p no:xdist -q "$@"
