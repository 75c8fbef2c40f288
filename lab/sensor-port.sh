#!/usr/bin/env bash
# A receive-only mirror of the lab's capture point for a fleetcap agent in the root namespace,
# as a switch's SPAN port feeds a sensor:
#   bash lab/sensor-port.sh up      # create fcl-mon0 and mirror v-server's frames to it
#   bash lab/sensor-port.sh down    # remove it (teardown.sh removes it too)
#   bash lab/sensor-port.sh check   # exit 0 when the port is up and mirroring
#
# tc mirred copies every frame entering and leaving v-server (the server's bridge port, where
# lab/run.sh captures) to v-sensor, one end of a veth pair whose other end, fcl-mon0, is in the
# root namespace. v-sensor is no bridge port: what the root namespace might send on fcl-mon0 ends
# at v-sensor and reaches no lab host. fcl-mon0 has no address, no ARP and no IPv6, so the root
# namespace neither answers nor routes the mirrored frames (their MAC addresses are not its own);
# only packet sockets (the sniffer's libpcap) see them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SENSOR_IF=${FCL_SENSOR_IF:-fcl-mon0}
SENSOR_PEER=v-sensor
MIRRORED=v-server

port_down() {
  if ip link show "$SENSOR_IF" >/dev/null 2>&1; then
    ip link del "$SENSOR_IF"
    log "removed sensor port $SENSOR_IF"
  fi
  if ns_exists "$NS_SWITCH"; then
    nsx "$NS_SWITCH" tc qdisc del dev "$MIRRORED" clsact 2>/dev/null || true
  fi
}

port_up() {
  ns_exists "$NS_SWITCH" || die "the lab is not up (no namespace $NS_SWITCH): run bash lab/setup.sh first"
  port_down >/dev/null 2>&1 || true
  ip link add "$SENSOR_IF" type veth peer name "$SENSOR_PEER" netns "$NS_SWITCH"
  # Before the link comes up, so the root namespace never sends a router solicitation or DAD probe.
  sysctl -qw "net.ipv6.conf.$SENSOR_IF.disable_ipv6=1"
  ip link set "$SENSOR_IF" arp off promisc on up
  nsx "$NS_SWITCH" sysctl -qw "net.ipv6.conf.$SENSOR_PEER.disable_ipv6=1"
  nsx "$NS_SWITCH" ip link set "$SENSOR_PEER" arp off up
  # Offloads off as on the lab's own veths, so mirrored frames keep their wire sizes.
  ethtool -K "$SENSOR_IF" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  nsx "$NS_SWITCH" ethtool -K "$SENSOR_PEER" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  nsx "$NS_SWITCH" tc qdisc add dev "$MIRRORED" clsact
  local dir
  for dir in ingress egress; do
    nsx "$NS_SWITCH" tc filter add dev "$MIRRORED" "$dir" protocol all u32 match u32 0 0 \
      action mirred egress mirror dev "$SENSOR_PEER"
  done
  port_check
  log "sensor port $SENSOR_IF mirrors $NS_SWITCH/$MIRRORED (both directions)"
}

port_check() {
  ip link show "$SENSOR_IF" 2>/dev/null | grep -q 'state UP\|LOWER_UP' || die "sensor port $SENSOR_IF is not up"
  [[ -z $(ip -o addr show dev "$SENSOR_IF") ]] || die "sensor port $SENSOR_IF has an address: $(ip -o addr show dev "$SENSOR_IF")"
  local n
  n=$(nsx "$NS_SWITCH" tc filter show dev "$MIRRORED" ingress | grep -c "mirred.*$SENSOR_PEER" || true)
  ((n >= 1)) || die "no ingress mirror from $MIRRORED to $SENSOR_PEER in $NS_SWITCH"
  n=$(nsx "$NS_SWITCH" tc filter show dev "$MIRRORED" egress | grep -c "mirred.*$SENSOR_PEER" || true)
  ((n >= 1)) || die "no egress mirror from $MIRRORED to $SENSOR_PEER in $NS_SWITCH"
  assert_isolated
}

need_root
case ${1:-} in
up) port_up ;;
down) port_down ;;
check) port_check ;;
*)
  echo "usage: bash lab/sensor-port.sh up|down|check" >&2
  exit 2
  ;;
esac
