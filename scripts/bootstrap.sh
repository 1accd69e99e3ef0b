#!/usr/bin/env bash
# Set up everything hbd's demo and tests need on a fresh machine:
# Debian packages (when root), a virtual environment in .venv, hbd itself.
# Safe to run repeatedly; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2/util-linux/nftables: the namespaces, cables and loss of the real-network
# tests; heartbeat, resource-agents, cluster-glue, keepalived: real peers, agents
# and the systems the benchmark compares with; chromium: the lab report's
# rendering test (a headless screenshot).
DEBS=(iproute2 util-linux nftables tcpdump iputils-ping heartbeat resource-agents cluster-glue
      keepalived chromium)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    # Installing heartbeat or keepalived must not start them on this machine.
    policy=/usr/sbin/policy-rc.d
    created=0
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
    if [ "$created" = 1 ]; then rm -f "$policy"; fi
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.hbd-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ lab/pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing hbd, its lab (lab/, hbd-lab) and test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test]' -e ./lab
  touch "$stamp"
fi
