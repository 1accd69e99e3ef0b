#!/bin/bash
# Regenerate the compression captures in tests/vectors/compression/.
#
# Runs two real Debian heartbeat 3.0.6 nodes (package heartbeat 1:3.0.6-13+b2,
# cluster-glue 1.0.12-21+b2), each in its own network + UTS + mount namespace,
# joined by a bridge that lives in a namespace of its own.  Large messages are
# written into node0's FIFO (/var/lib/heartbeat/fifo); tcpdump on the bridge
# records what heartbeat puts on the wire.
#
# NOT run by CI.  Needs root, `apt-get install heartbeat tcpdump`, python3.
# Everything created is named hbdcap*; everything is torn down on exit.
#
# usage: capture.sh [SCENARIO...]     (default: all scenarios)
#        raw pcaps end up in $WORK/pcap/, then run extract.py (see README)
set -euo pipefail

WORK=${WORK:-/tmp/hbdcap}
HERE=$(cd "$(dirname "$0")" && pwd)
HB=/usr/libexec/heartbeat/heartbeat
BR_NS=hbdcapbr
BR=hbdcapbr0
NODES=(0 1)
# same node UUIDs as the shared vectors (spec/vectors README)
UUIDS=(64541cabb3154c2baa0cbc041883541c 726d2826e4474b80a0e331a3f24533a9)
declare -A HOLDER=()
TCPDUMP_PID=

log() { echo "[capture $(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- teardown
stop_nodes() {
    local i pids p
    for i in "${NODES[@]}"; do
        if [ -n "${HOLDER[$i]:-}" ] && kill -0 "${HOLDER[$i]}" 2>/dev/null; then
            # -k waits for the shutdown; node1 can stall ("Shutdown delayed
            # until current resource activity finishes"), hence the timeout
            timeout 15 nsenter -t "${HOLDER[$i]}" -m -u -n "$HB" -k >/dev/null 2>&1 || true
        fi
    done
    sleep 2
    # every process inside our node namespaces was started by this script
    for i in "${NODES[@]}"; do
        if ip netns list 2>/dev/null | grep -qw "hbdcap$i"; then
            pids=$(ip netns pids "hbdcap$i" 2>/dev/null || true)
            for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
        fi
        HOLDER[$i]=
    done
}

stop_tcpdump() {
    if [ -n "$TCPDUMP_PID" ]; then
        kill -INT "$TCPDUMP_PID" 2>/dev/null || true
        wait "$TCPDUMP_PID" 2>/dev/null || true
        TCPDUMP_PID=
    fi
}

teardown() {
    set +e
    stop_tcpdump
    stop_nodes
    for ns in hbdcap0 hbdcap1 "$BR_NS"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
            ip netns del "$ns"
        fi
    done
}
trap teardown EXIT INT TERM

# ---------------------------------------------------------------- network
setup_net() {
    teardown; set -e
    ip netns add "$BR_NS"
    ip -n "$BR_NS" link set lo up
    ip -n "$BR_NS" link add "$BR" type bridge
    ip -n "$BR_NS" link set "$BR" up
    for i in "${NODES[@]}"; do
        ip netns add "hbdcap$i"
        ip link add "hbdcap${i}b" netns "$BR_NS" type veth peer name hbdcapeth netns "hbdcap$i"
        ip -n "$BR_NS" link set "hbdcap${i}b" master "$BR" up
        ip -n "hbdcap$i" link set lo up
        # "brd +" matters: without a broadcast address bcast sends to 0.0.0.0
        ip -n "hbdcap$i" addr add "10.77.0.1$i/24" brd + dev hbdcapeth
        ip -n "hbdcap$i" link set hbdcapeth up
    done
}

# ---------------------------------------------------------------- node files
# write_node IDX AUTH(crc|sha1) HACF_EXTRA
write_node() {
    local i=$1 auth=$2 extra=$3 d="$WORK/node$1"
    rm -rf "$d"; mkdir -p "$d"/{ha.d,lib,run,log}
    cp -a /etc/ha.d/. "$d/ha.d/"
    cat > "$d/ha.d/ha.cf" <<EOF
logfile /var/log/ha-log
debugfile /var/log/ha-debug
use_logd no
keepalive 1
deadtime 6
warntime 3
initdead 12
udpport 694
bcast hbdcapeth
node node0 node1
auto_failback on
crm off
$extra
EOF
    : > "$d/ha.d/haresources"
    case $auth in
        crc)  printf 'auth 1\n1 crc\n' > "$d/ha.d/authkeys" ;;
        sha1) printf 'auth 1\n1 sha1 hbA-sha1-key-1\n' > "$d/ha.d/authkeys" ;;
        md5)  printf 'auth 1\n1 md5 hbA-md5-key-1\n' > "$d/ha.d/authkeys" ;;
    esac
    chmod 600 "$d/ha.d/authkeys"
    cp -a /var/lib/heartbeat/. "$d/lib/"
    python3 -c "import sys;open(sys.argv[1],'wb').write(bytes.fromhex(sys.argv[2]))" \
        "$d/lib/hb_uuid" "${UUIDS[$i]}"
    chmod 644 "$d/lib/hb_uuid"
}

# start_node IDX : holder process in netns+mnt+uts ns, then heartbeat in it
start_node() {
    local i=$1 d="$WORK/node$1"
    ip netns exec "hbdcap$i" unshare --mount --uts --propagation private bash -c "
        set -e
        mount --bind '$d/ha.d' /etc/ha.d
        mount --bind '$d/lib'  /var/lib/heartbeat
        mount -t tmpfs hbdcaprun /run
        mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm /run/lock
        chown -R hacluster:haclient /run/heartbeat /run/crm
        chmod 750 /run/heartbeat /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd
        mount --bind '$d/log'  /var/log
        hostname node$i
        exec sleep infinity" &
    HOLDER[$i]=$!
    sleep 0.5
    nsenter -t "${HOLDER[$i]}" -m -u -n "$HB"
}

# in_node IDX CMD... : run a command inside node IDX's namespaces
in_node() { local i=$1; shift; nsenter -t "${HOLDER[$i]}" -m -u -n "$@"; }

start_tcpdump() {
    mkdir -p "$WORK/pcap"
    # UDP 694 plus non-first IP fragments (large datagrams are fragmented)
    ip netns exec "$BR_NS" tcpdump -i "$BR" -U -s 0 -w "$WORK/pcap/$1.pcap" \
        'udp port 694 or (ip[6:2] & 0x1fff != 0)' 2>/dev/null &
    TCPDUMP_PID=$!
    sleep 1
}

# run_scenario NAME AUTH HACF_EXTRA MSGSPEC...
#   MSGSPEC is passed to mkmsg.py, which writes the FIFO bytes
run_scenario() {
    local name=$1 auth=$2 extra=$3; shift 3
    log "scenario $name ($auth; $(echo "$extra" | tr '\n' ';'))"
    setup_net
    for i in "${NODES[@]}"; do write_node "$i" "$auth" "$extra"; done
    start_tcpdump "$name"
    start_node 0
    sleep 2
    start_node 1
    # wait until node0 finished its initial resource acquisition; FIFO
    # messages injected before that were not seen on the wire in testing
    local n=0
    until grep -q 'Initial resource acquisition complete' "$WORK/node0/log/ha-debug" 2>/dev/null; do
        sleep 1; n=$((n+1)); [ $n -lt 40 ] || { log "node0 never became stable"; return 1; }
    done
    sleep 1
    echo "${HOLDER[0]} ${HOLDER[1]}" > "$WORK/holders"
    # debugging aid: HOLD=1 keeps the cluster up while $WORK/hold exists
    if [ -n "${HOLD:-}" ]; then touch "$WORK/hold"; while [ -e "$WORK/hold" ]; do sleep 1; done; fi
    local spec
    for spec in "$@"; do
        case $spec in
        send\ *)   # replay a vector file as a UDP broadcast from node1's namespace
            log "  send from node1's namespace: ${spec#send }"
            in_node 1 python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)
s.sendto(open(sys.argv[1],"rb").read(),("10.77.0.255",694))' "$HERE/${spec#send }"
            sleep 2 ;;
        *)
            log "  inject on node0: $spec"
            python3 "$HERE/mkmsg.py" $spec > "$WORK/msg.bin"
            in_node 0 sh -c 'cat > /var/lib/heartbeat/fifo' < "$WORK/msg.bin"
            sleep 3 ;;
        esac
    done
    sleep 2
    stop_nodes
    stop_tcpdump
    for i in "${NODES[@]}"; do
        cp "$WORK/node$i/log/ha-debug" "$WORK/pcap/$name.node$i.ha-debug" 2>/dev/null || true
    done
    teardown; set -e
}

# ---------------------------------------------------------------- scenarios
TRAD=$'compression zlib\ncompression_threshold 1\ntraditional_compression yes'
TRADBZ=$'compression bz2\ncompression_threshold 1\ntraditional_compression yes'
NEWZ=$'compression zlib\ncompression_threshold 2\ntraditional_compression no'
NEWBZ=$'compression bz2\ncompression_threshold 2\ntraditional_compression no'

scenario_trad_zlib_crc()  { run_scenario trad-zlib-crc crc "$TRAD" "classic 8" "classic 0"; }
scenario_trad_zlib_sha1() { run_scenario trad-zlib-sha1 sha1 "$TRAD" "classic 8" "field 2"; }
scenario_trad_bz2_sha1()  { run_scenario trad-bz2-sha1 sha1 "$TRADBZ" "classic 8"; }
scenario_trad_zlib_netstring_sha1() {
    run_scenario trad-zlib-msgfmt-netstring-sha1 sha1 "$TRAD"$'\nmsgfmt netstring' "classic 8"; }
scenario_field_zlib_sha1() { run_scenario field-zlib-sha1 sha1 "$NEWZ" "field 8" "struct 8" "classic 8"; }
scenario_field_zlib_crc()  { run_scenario field-zlib-crc crc "$NEWZ" "field 8"; }
scenario_field_bz2_sha1()  { run_scenario field-bz2-sha1 sha1 "$NEWBZ" "field 8"; }
scenario_field_zlib_netstring_sha1() {
    run_scenario field-zlib-msgfmt-netstring-sha1 sha1 "$NEWZ"$'\nmsgfmt netstring' "field 8"; }
# default mode, but the message is >= MAXMSG (256 KiB): whole-message compression
scenario_huge_zlib_crc()   { run_scenario huge-zlib-crc crc "$NEWZ" "classic 300"; }

# replay the MUST-REJECT variants (made by extract.py) to live nodes; read the
# verdicts in $WORK/pcap/replay-*.node?.ha-debug
scenario_replay_sha1() { run_scenario replay-sha1 sha1 "$TRAD" \
    "send field-zlib-sha1-corrupt.bin" "send trad-zlib-sha1-badzlib-validauth.bin"; }
scenario_replay_crc()  { run_scenario replay-crc crc "$TRAD" \
    "send trad-zlib-crc-corrupt.bin" "send trad-zlib-crc-badalg-validauth.bin"; }

ALL="trad_zlib_crc trad_zlib_sha1 trad_bz2_sha1 trad_zlib_netstring_sha1 field_zlib_sha1 field_zlib_crc field_bz2_sha1 field_zlib_netstring_sha1 huge_zlib_crc"
for s in ${*:-$ALL}; do "scenario_$s"; done
log "done; pcaps in $WORK/pcap"
