#!/usr/bin/env bash
# Check docs/install.md's two non-Debian ways: a virtual environment and pipx,
# each into temporary directories (nothing outside them changes), then
# hbctl --version, hbd check-config of the shipped example, and hbctl status
# --json with no daemon (exit 3). As root it installs pipx with apt if missing.
#   packaging/test-install.sh [venv|pipx]...     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
tmp=$(mktemp -d /tmp/hbd-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r conf/node1 "$tmp/node1"; chmod 600 "$tmp/node1/authkeys"

check() {
    local what=$1; shift
    if "$@"; then echo "test-install: ok: $what"; else echo "test-install: FAILED: $what" >&2; exit 1; fi
}
exercise() {    # exercise BINDIR
    local bin=$1 rc=0
    check "$2: hbctl --version" bash -c "'$bin/hbctl' --version | grep -qx 'hbctl (hbd) [0-9.]*'"
    check "$2: hbd check-config" bash -c "'$bin/hbd' check-config --config-dir '$tmp/node1' --node node1 \
        --authkeys-owner $(id -u) >/dev/null"
    "$bin/hbctl" --run-dir "$tmp/run" status --json >"$tmp/s.json" || rc=$?
    check "$2: hbctl status --json without a daemon" bash -c "[ $rc = 3 ] && grep -q '\"running\": false' '$tmp/s.json'"
}

for way in "${@:-venv pipx}"; do
  for w in $way; do
    case $w in
    venv)
        "$PY" -m venv "$tmp/venv"
        "$tmp/venv/bin/pip" install -q --disable-pip-version-check "$ROOT" 2>&1 | grep -v '^WARNING: Location' || true
        exercise "$tmp/venv/bin" venv ;;
    pipx)
        if ! command -v pipx >/dev/null; then
            [ "$(id -u)" = 0 ] || { echo "test-install: pipx missing (apt-get install pipx)" >&2; exit 1; }
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pipx >/dev/null
        fi
        PIPX_HOME=$tmp/pipx PIPX_BIN_DIR=$tmp/pipx-bin pipx install --python "$PY" "$ROOT" >/dev/null 2>&1
        exercise "$tmp/pipx-bin" pipx ;;
    *) echo "test-install: unknown way $w" >&2; exit 2 ;;
    esac
  done
done
echo "test-install: all checks passed"
