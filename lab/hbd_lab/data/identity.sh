#!/bin/sh
# @SCRIPT@: the scenario's network-identity switch on @RHOST@.
#
# Rendered from lab/hbd_lab/data/identity.sh (hbd_lab.identity). Do not edit a
# rendered copy: edit the template and run `hbd-lab render-conf`.
#
# eth0 carries one identity at a time: this node's own (MAC, address, host
# name) or that of a service instance it holds (virtual MAC, address, host
# name); the default route is set again after every change. The instances held
# are kept in a stack, most recent last: eth0 carries the top one's identity,
# or the node's own when the stack is empty. Holding two instances, the second
# address answers with the top instance's MAC (one eth0, one MAC).
#
#   @SCRIPT@ @USAGE@
#     start | master             INSTANCE goes on top of the stack
#     stop | backup | fault      INSTANCE leaves the stack
#     status                     prints "... is running" or "... is stopped" (exit 3):
#                                heartbeat and hbd judge status by this text
#     reset                      empty stack, no service address (keepalived start-up)
#
# When this script manages the service addresses (MANAGE_VIP=yes: heartbeat and
# hbd run it as a resource), it adds the address after the MAC and host name
# are set, and removes it first on stop. keepalived adds and removes them itself
# (MANAGE_VIP=no); a "master" that runs after a later "backup" of the same
# instance (keepalived does not serialise notify scripts) finds its address gone
# and is ignored. Runs are serialised with flock; each is logged in STATE.
# The state lives in STATE (under /run: a reboot forgets it, as it forgets the
# virtual identity). Needs iproute2, hostname, flock (util-linux).

PATH=/usr/sbin:/usr/bin:/sbin:/bin
NAME=@SCRIPT@
INSTANCE=@INSTANCE@
MANAGE_VIP=@MANAGE_VIP@
STATE=@STATE_DIR@
IFACE=@IFACE@
PREFIX=@PREFIX@
BROADCAST=@BROADCAST@
GATEWAY=@GATEWAY@

RMAC=@RMAC@     # this node's (@RHOST@) own MAC, address and host name
RIP=@RIP@
RHOST=@RHOST@

# identity_of INSTANCE: prints "MAC HOSTNAME ADDRESS"
identity_of() {
    case "$1" in
@CASES@
      *) return 1 ;;
    esac
}

lower() { echo "$1" | tr 'A-F' 'a-f'; }

# from netlink, not sysfs: under `nsenter --net` sysfs shows the host's interfaces
current_mac() {
    ip -o link show dev "$IFACE" 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-fA-F:]*\).*/\1/p'
}

has_address() {
    ip -o -4 addr show dev "$IFACE" 2>/dev/null | grep -q " $1/"
}

# set_mac MAC: live if the driver allows it, else down, change, up
set_mac() {
    [ "$(current_mac)" = "$(lower "$1")" ] && return 0
    ip link set dev "$IFACE" address "$1" 2>/dev/null && return 0
    ip link set dev "$IFACE" down &&
    ip link set dev "$IFACE" address "$1" &&
    ip link set dev "$IFACE" up
}

# apply MAC HOSTNAME own|virtual
apply() {
    # the own address is eth0's primary: dropping it must keep the service
    # addresses (secondaries); arp_notify: the kernel announces every address
    # of eth0 after each MAC change, which teaches switches and ARP caches
    echo 1 >"/proc/sys/net/ipv4/conf/$IFACE/promote_secondaries"
    echo 1 >"/proc/sys/net/ipv4/conf/$IFACE/arp_notify"
    if [ "$3" = own ]; then
        ip addr replace "$RIP/$PREFIX" brd "$BROADCAST" dev "$IFACE" || return 1
    fi
    set_mac "$1" || return 1
    hostname "$2" || return 1
    if [ "$3" = virtual ] && [ "$MANAGE_VIP" = yes ]; then
        for held in $(cat "$STATE/held"); do
            vip=$(identity_of "$held" | cut -d' ' -f3)
            ip addr replace "$vip/$PREFIX" brd "$BROADCAST" dev "$IFACE" || return 1
        done
    fi
    if [ "$3" = virtual ]; then
        ip addr del "$RIP/$PREFIX" dev "$IFACE" 2>/dev/null
    fi
    # no address left (keepalived dropped the service addresses): no route to set
    ip -4 -o addr show dev "$IFACE" | grep -q inet || return 0
    ip route replace default via "$GATEWAY"
}

# update INSTANCE in|out: the stack without INSTANCE, plus INSTANCE on top if in
update() {
    grep -vx "$1" "$STATE/held" >"$STATE/held.new"
    [ "$2" = in ] && echo "$1" >>"$STATE/held.new"
    mv "$STATE/held.new" "$STATE/held"
}

[ -n "$INSTANCE" ] && set -- "$INSTANCE" "$@"
case "${2:-}" in
  status)
    if grep -qx "$1" "$STATE/held" 2>/dev/null &&
       has_address "$(identity_of "$1" | cut -d' ' -f3)"; then
        echo "@SCRIPT@ is running"
        exit 0
    fi
    echo "@SCRIPT@ is stopped"
    exit 3 ;;
esac

mkdir -p "$STATE" && touch "$STATE/held" || exit 1
exec 9>"$STATE/lock"
flock -w 30 9 || { echo "$NAME: lock timeout" >&2; exit 1; }
# the stack is what eth0 shows: an instance whose address is gone is not held
# (after a reboot, or keepalived removed it before this notify ran)
for held in $(cat "$STATE/held"); do
    has_address "$(identity_of "$held" | cut -d' ' -f3)" || update "$held" out
done
case "$1 ${2:-}" in
  "reset ")
    : >"$STATE/held"
    for instance in @INSTANCES@; do
        ip addr del "$(identity_of "$instance" | cut -d' ' -f3)/$PREFIX" dev "$IFACE" 2>/dev/null
    done ;;
  *\ start|*\ master|*\ stop|*\ backup|*\ fault)
    vip=$(identity_of "$1" | cut -d' ' -f3) || { echo "$NAME: unknown instance $1" >&2; exit 2; }
    case "$2" in
      start|master)
        if [ "$MANAGE_VIP" = no ] && ! has_address "$vip"; then
            echo "$(date +%s.%N) $*: stale, $vip is gone" >>"$STATE/log"
            exit 0
        fi
        update "$1" in ;;
      *)
        update "$1" out
        [ "$MANAGE_VIP" = yes ] && ip addr del "$vip/$PREFIX" dev "$IFACE" 2>/dev/null ;;
    esac ;;
  *)
    echo "Usage: $0 @USAGE@" >&2
    exit 2 ;;
esac
top=$(tail -n 1 "$STATE/held")
if [ -n "$top" ]; then
    apply $(identity_of "$top" | cut -d' ' -f1,2) virtual
else
    apply "$RMAC" "$RHOST" own
fi
rc=$?
echo "$(date +%s.%N) $*: held [$(tr '\n' ' ' <"$STATE/held")] mac $(current_mac)" \
     "host $(hostname) rc $rc" >>"$STATE/log"
exit $rc
