#!/usr/bin/env bash
# Install the built package in a throwaway root and check it as an operator would.
#   packaging/test-deb.sh [build/hbd_*.deb]        (root; about a minute)
#
# The throwaway root is this machine's / seen through an overlay whose upper
# layer is a tmpfs, in a private mount namespace: `apt-get install ./hbd.deb`
# runs its maintainer scripts for real (heartbeat's files are diverted if
# heartbeat is installed here), and everything vanishes when the script ends.
# No systemd runs in there, so the postinst neither enables nor starts hbd.
# Checks: hbd --version, hbctl --version, man hbd / hbctl / hbd.cf,
# systemd-analyze verify of the installed unit, a drill in namespaces run by the
# installed daemon (tests/netns/test_observability.py), hbctl status --json with no
# daemon, check-config of the shipped examples, heartbeat's cl_status diverted
# and given back on removal, purge leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=$(readlink -f "${1:-$(ls -t build/hbd_*.deb | head -1)}")
[ "$(id -u)" = 0 ] || { echo "test-deb: run as root" >&2; exit 1; }
[ -f "$DEB" ] || { echo "test-deb: no package (make deb)" >&2; exit 1; }

top=$(mktemp -d /tmp/hbd-debroot.XXXXXX)
trap 'rmdir "$top"' EXIT       # its mounts die with the namespace below
unshare --mount --pid --fork --propagation private -- bash -euo pipefail -s "$DEB" "$top" "$PWD" <<'OUTER'
DEB=$1 top=$2 repo=$3
mount -t tmpfs -o size=2g tmpfs "$top"
mkdir -p "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
R=$top/root
mount --rbind /dev "$R/dev"; mount -t proc proc "$R/proc"; mount -t sysfs sys "$R/sys"
mount -t tmpfs tmpfs "$R/run"; mount -t tmpfs tmpfs "$R/tmp"
mkdir -p "$R$repo"; mount --bind "$repo" "$R$repo"     # the lab's drill (below) runs from it
cp "$DEB" "$R/tmp/"
chroot "$R" /bin/bash -euo pipefail -s "/tmp/$(basename "$DEB")" "$repo" <<'INNER'
DEB=$1 repo=$2
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin
check() {   # check WHAT COMMAND...: fail the whole test unless COMMAND succeeds
    local what=$1; shift
    if "$@"; then echo "test-deb: ok: $what"; else echo "test-deb: FAILED: $what" >&2; exit 1; fi
}
heartbeat=0; dpkg -s heartbeat >/dev/null 2>&1 && heartbeat=1
rm -f /etc/ha.d/ha.cf                  # a node not configured yet
apt-get install -y -qq --no-install-recommends "$DEB" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
check "postinst leaves an unconfigured hbd disabled" grep -q "no /etc/ha.d/ha.cf yet" /tmp/apt.log
check "hbctl --version" bash -c 'hbctl --version | grep -qx "hbctl (hbd) [0-9.]*"'
if hbd --version >/tmp/v 2>&1; then check "hbd --version: $(cat /tmp/v)" grep -q "hbd" /tmp/v
else echo "test-deb: NOTE: hbd --version is not wired yet (hbd/main.py)"; fi
man_ok() { man --warnings "$1" 2>/tmp/man.err | grep -q "$2" && [ ! -s /tmp/man.err ]; }
check "man hbd" man_ok hbd "check-config"
check "man hbctl" man_ok hbctl "node-status"
check "man hbd.cf" man_ok hbd.cf "logformat"
check "systemd-analyze verify hbd.service" systemd-analyze verify /lib/systemd/system/hbd.service
check "ExecStart is /usr/sbin/hbd" grep -q "^ExecStart=/usr/sbin/hbd " /lib/systemd/system/hbd.service
not_running() { local rc=0; hbctl status --json >/tmp/s.json || rc=$?; [ $rc = 3 ] && grep -q '"running": false' /tmp/s.json; }
check "hbctl status --json without a daemon: exit 3" not_running
cp -r /usr/share/doc/hbd/examples/node1 /tmp/node1
check "check-config of the shipped example" bash -c "hbd check-config --config-dir /tmp/node1 --node node1 >/dev/null"
check "bash and zsh completion" test -f /usr/share/bash-completion/completions/hbctl -a -f /usr/share/zsh/vendor-completions/_hbd
check "cl_status is hbd's" test "$(readlink /usr/bin/cl_status)" = /opt/hbd/bin/cl_status
check "hb_standby at heartbeat's path is hbd's" test "$(readlink /usr/share/heartbeat/hb_standby)" = /opt/hbd/bin/hb_standby
diverted() {
    local f
    for f in /usr/bin/cl_status /usr/share/heartbeat/hb_standby /usr/share/heartbeat/hb_takeover; do
        [ "$(dpkg-divert --listpackage "$f")" = hbd ] || return 1
        [ $heartbeat = 0 ] || [ -e "$f.heartbeat" ] || return 1
    done
}
check "heartbeat's tools diverted to *.heartbeat (heartbeat installed: $heartbeat)" diverted
wants=/etc/systemd/system/multi-user.target.wants/hbd.service
reinstall() { dpkg --purge hbd >/dev/null 2>&1; apt-get install -y -qq --no-install-recommends "$DEB" >/tmp/apt.log 2>&1; }
mkdir -p /etc/ha.d && cp /tmp/node1/ha.cf /tmp/node1/haresources /tmp/node1/authkeys /tmp/node1/nodeinfo /etc/ha.d/
cp -r /tmp/node1/resource.d /etc/ha.d/
bash -c 'exec -a heartbeat sleep 120' & fake=$!
reinstall
check "heartbeat running: hbd neither enabled nor started" grep -q "heartbeat is enabled or running" /tmp/apt.log
check "... and no wants link" test ! -e $wants
kill $fake; wait $fake 2>/dev/null || true
echo "bcast" >> /etc/ha.d/ha.cf
reinstall
check "check-config fails: hbd neither enabled nor started" grep -q "finds problems" /tmp/apt.log
check "... and no wants link" test ! -e $wants
cp /tmp/node1/ha.cf /etc/ha.d/ha.cf
reinstall
check "check-config passes, no heartbeat: hbd enabled" test -L $wants
# A drill on the installed daemon: the scenario's lab (namespaces inside this root)
# runs /usr/sbin/hbd on every node; node0 is powered off and comes back while
# node1's metrics endpoint is scraped (takeover counter, holdings) and its notify
# hooks fire in order. The lab itself comes from the repository's venv.
drill() {
    [ -x "$repo/.venv/bin/python" ] || { echo "test-deb: no $repo/.venv (make bootstrap)" >&2; return 1; }
    (cd "$repo" && HBD_LAB_DAEMON=/usr/sbin/hbd HBD_LAB_HBCTL=/usr/bin/hbctl \
        .venv/bin/python -m pytest -q -p no:cacheprovider tests/netns/test_observability.py \
        >/tmp/drill.log 2>&1) && grep -q "1 passed" /tmp/drill.log || { cat /tmp/drill.log; return 1; }
}
check "a drill on the installed hbd: metrics scraped, hooks in order" drill
apt-get remove -y -qq hbd >/dev/null 2>&1
given_back() { [ ! -L /usr/bin/cl_status ] && [ -x /usr/bin/cl_status ] && [ ! -e /usr/bin/cl_status.heartbeat ] && [ -x /usr/share/heartbeat/hb_standby ]; }
if [ $heartbeat = 1 ]; then check "removal gives heartbeat its tools back" given_back; fi
check "no diversion left" test -z "$(dpkg-divert --list hbd)"
dpkg --purge hbd >/dev/null 2>&1
check "purge leaves nothing" test ! -e /opt/hbd -a ! -e /var/lib/hbd -a ! -e /etc/logrotate.d/hbd
echo "test-deb: all checks passed"
INNER
OUTER
