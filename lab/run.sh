#!/usr/bin/env bash
# One labelled run: bash lab/run.sh SCENARIO SEED
# Picks this run's addresses, TTLs and ports from SEED, captures the server's bridge port with
# tcpdump while the scenario runs, and writes .lab/runs/SCENARIO-SEED/{capture.pcap,labels.json}.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=scenarios.sh
source "$LAB_DIR/scenarios.sh"

SCENARIOS=(benign portscan synflood bruteforce slowloris sqli)

usage() {
  echo "usage: bash lab/run.sh {${SCENARIOS[*]}} SEED" >&2
  exit 2
}

(($# == 2)) || usage
SCENARIO=$1
SEED=$2
[[ " ${SCENARIOS[*]} " == *" $SCENARIO "* ]] || usage
[[ $SEED =~ ^[0-9]+$ ]] || usage
need_root

if ! ns_exists "$NS_SERVER" || ! wan_links_up || ! nsx "$NS_CLIENT" curl -fsS -o /dev/null --max-time 2 "http://${SERVER_ADDRS[0]}/" 2>/dev/null; then
  bash "$LAB_DIR/setup.sh"
fi
assert_isolated

RUN_DIR=$RUNS_DIR/$SCENARIO-$SEED
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

# Same seed, same choices; the scenario name is mixed in so seed 1 of two scenarios differ.
RANDOM=$((SEED * 7919 + $(cksum <<<"$SCENARIO" | cut -d' ' -f1) % 10007))

_n=0
rand _n 2 4
pick_n C_ADDRS "$_n" "${CLIENT_ADDRS[@]}"
rand _n 1 2
pick_n A_ADDRS "$_n" "${ATTACKER_ADDRS[@]}"
rand _n 1 2
pick_n T_ADDRS "$_n" "${SERVER_ADDRS[@]}"
pick T_HTTP "${HTTP_PORTS[@]}"
pick T_HTTPS "${HTTPS_PORTS[@]}"
pick T_SSH "${SSH_PORTS[@]}"
random_ttl C_TTL
random_ttl A_TTL
if [[ $SCENARIO == benign ]]; then rand RUN_SECS 20 30; else rand RUN_SECS 8 14; fi
# drawn after the addresses, ports and other TTLs, so adding it kept those for every seed
random_ttl S_TTL
pick T_FTP "${FTP_PORTS[@]}"

# The run's wide-area conditions, the same on the client's and the attacker's link (lab/wanlink.py), so that
# no timing feature tells the classes apart: mostly a WAN (RTT 10-200 ms, jitter, loss up to 2% per direction,
# sometimes a bandwidth limit), in 1 of 7 runs the near-zero RTT of a LAN. The RTT band cycles with the seed,
# in another phase for each scenario, so any 7 consecutive seeds give every class every band; the rest is drawn.
draw_wan() {
  local r i band
  for i in "${!SCENARIOS[@]}"; do [[ ${SCENARIOS[i]} == "$SCENARIO" ]] && band=$(((SEED + 3 * i) % 7)); done
  if ((band == 0)); then
    WAN_PROFILE=lan WAN_RTT_MS=0 WAN_JITTER_MS=0 WAN_LOSS_PCT=0 WAN_RATE_MBIT=0
    return
  fi
  WAN_PROFILE=wan
  case $band in
  1 | 2) rand WAN_RTT_MS 10 30 ;;
  3 | 4) rand WAN_RTT_MS 30 80 ;;
  *) rand WAN_RTT_MS 80 200 ;;
  esac
  if chance 25; then WAN_JITTER_MS=0; else rand WAN_JITTER_MS 1 $((WAN_RTT_MS / 10 + 1)); fi
  if chance 35; then WAN_LOSS_PCT=0; else rand r 1 20; WAN_LOSS_PCT=$((r / 10)).$((r % 10)); fi
  if chance 50; then WAN_RATE_MBIT=0; else pick WAN_RATE_MBIT 10 20 50 100; fi
}
draw_wan
WAN_DELAY_MS=$((WAN_RTT_MS / 2)).$((WAN_RTT_MS % 2 * 5)) # one way, each direction of the link
RUN_TOOLS=()
RUN_NOTES=()

# Nothing from an earlier run may leak into this capture: a SYN flood leaves the server
# retransmitting SYN-ACKs for half a minute, a killed tool can leave a connection open. Abort
# every lab TCP socket (not the listeners) before the capture starts.
quiesce() {
  clear_attacker_filter
  local ns
  for ns in "$NS_SERVER" "$NS_CLIENT" "$NS_ATTACKER"; do
    nsx "$ns" ss -K -t state syn-recv state established state fin-wait-1 state fin-wait-2 \
      state close-wait state last-ack state syn-sent dst "$LAB_CIDR" >/dev/null 2>&1 || true
  done
  sleep 0.3
}
quiesce
set_src_addr "$NS_CLIENT" "${C_ADDRS[0]}"
set_src_addr "$NS_ATTACKER" "${A_ADDRS[0]}"
set_ttl "$NS_CLIENT" "$C_TTL"
set_ttl "$NS_ATTACKER" "$A_TTL"
set_ttl "$NS_SERVER" "$S_TTL"
for _link in "${WAN_LINKS[@]}"; do
  wan_apply "$_link" "{\"delay_ms\": $WAN_DELAY_MS, \"jitter_ms\": $WAN_JITTER_MS, \"loss_pct\": $WAN_LOSS_PCT, \"rate_mbit\": $WAN_RATE_MBIT, \"seed\": $((SEED * 31 + ${#_link}))}"
done

# Every lab session has the server at one end, so the server's port on the bridge sees all of
# them; a veth port does not depend on the bridge passing frames up in promiscuous mode.
# Started directly (not through the nsx function) so $! is tcpdump itself; background jobs
# ignore SIGINT, so it is stopped with SIGTERM, on which tcpdump still flushes the file.
ip netns exec "$NS_SWITCH" tcpdump -i v-server -n -s 0 -U -c "$CAPTURE_MAX_PACKETS" -w "$RUN_DIR/capture.pcap" \
  2>"$RUN_DIR/tcpdump.log" &
TCPDUMP_PID=$!
stop_capture() {
  if kill -0 "$TCPDUMP_PID" 2>/dev/null; then
    kill -TERM "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
  fi
}
trap stop_capture EXIT
for _ in $(seq 1 50); do
  grep -q "listening on" "$RUN_DIR/tcpdump.log" 2>/dev/null && break
  sleep 0.1
done

START=$EPOCHREALTIME
log "run $SCENARIO-$SEED: clients ${C_ADDRS[*]} (ttl $C_TTL), attackers ${A_ADDRS[*]} (ttl $A_TTL), targets ${T_ADDRS[*]} ports http $T_HTTP https $T_HTTPS ssh $T_SSH ftp $T_FTP; $WAN_PROFILE rtt ${WAN_RTT_MS}ms jitter ${WAN_JITTER_MS}ms loss ${WAN_LOSS_PCT}% rate ${WAN_RATE_MBIT}Mbit/s"
case $SCENARIO in
benign) scenario_benign ;;
*) with_background "scenario_$SCENARIO" ;;
esac
END=$EPOCHREALTIME
sleep 1 # late FINs and RSTs belong in the capture too
stop_capture
trap - EXIT
clear_attacker_filter
rm -rf "$RUN_DIR"/tmp.*

if [[ $SCENARIO == benign ]]; then CLASS=benign; else CLASS=$SCENARIO; fi
export SCENARIO SEED CLASS START END C_TTL A_TTL S_TTL T_HTTP T_HTTPS T_SSH T_FTP RUN_SECS
export WAN_PROFILE WAN_RTT_MS WAN_JITTER_MS WAN_LOSS_PCT WAN_RATE_MBIT
export C_LIST="${C_ADDRS[*]}" A_LIST="${A_ADDRS[*]}" T_LIST="${T_ADDRS[*]}" S_LIST="${SERVER_ADDRS[*]}"
export ALL_A_LIST="${ATTACKER_ADDRS[*]}" DNS_ADDR
TOOLS_JSON=$(printf '%s\n' "${RUN_TOOLS[@]}" "${RUN_NOTES[@]}")
export TOOLS_JSON
python3 - "$RUN_DIR/labels.json" <<'EOF'
import json, os, sys
from datetime import datetime, timezone

e = os.environ
iso = lambda t: datetime.fromtimestamp(float(t), timezone.utc).isoformat(timespec="milliseconds")
cls = e["CLASS"]
attackers = e["A_LIST"].split()
servers = e["S_LIST"].split()
rules = []
if cls != "benign":
    rules.append({
        "endpoints": [attackers, servers],
        "class": cls,
        "why": "attack tool traffic between this run's attacker addresses and the server",
    })
rules.append({"endpoints": [e["C_LIST"].split(), servers], "class": "benign",
              "why": "the client's browsing, DNS and SSH (alongside the attack in attack runs)"})
rules.append({"endpoints": "any", "class": "exclude",
              "why": "anything else would be a leftover of an earlier run; leave it out of the dataset"})
labels = {
    "scenario": e["SCENARIO"],
    "class": cls,
    "seed": int(e["SEED"]),
    "start": iso(e["START"]),
    "end": iso(e["END"]),
    "start_epoch": round(float(e["START"]), 6),
    "end_epoch": round(float(e["END"]), 6),
    "client_addrs": e["C_LIST"].split(),
    "attacker_addrs": attackers if cls != "benign" else [],
    "server_addrs": servers,
    "targeted": {
        "addrs": e["T_LIST"].split(),
        "ports": {"http": int(e["T_HTTP"]), "https": int(e["T_HTTPS"]), "ssh": int(e["T_SSH"]),
                  "ftp": int(e["T_FTP"]), "dns": 53},
    },
    "ttl": {"client": int(e["C_TTL"]), "attacker": int(e["A_TTL"]), "server": int(e["S_TTL"])},
    "dns_server": e["DNS_ADDR"],
    "wan": {
        "profile": e["WAN_PROFILE"],
        "rtt_ms": int(e["WAN_RTT_MS"]),
        "jitter_ms": int(e["WAN_JITTER_MS"]),
        "loss_pct": float(e["WAN_LOSS_PCT"]),
        "rate_mbit": int(e["WAN_RATE_MBIT"]),
        "links": ["client", "attacker"],
        "how": (
            "lab/wanlink.py on the client's and the attacker's link: each direction delays every frame by "
            "rtt_ms/2 plus a normal jitter of jitter_ms (standard deviation, order kept), loses loss_pct% of "
            "frames at random and, when rate_mbit > 0, queues them at that rate; the capture point is the "
            "server's port, so a session's round trip seen there is rtt_ms. profile lan: no shaping at all."
        ),
    },
    "tools": [t for t in e["TOOLS_JSON"].splitlines() if t],
    "label_rule": (
        "A session is the bidirectional 5-tuple (protocol, two address:port endpoints; ICMP "
        "and other portless IP traffic use port 0). Take the rules in order; the first that "
        "matches gives the class. A rule with endpoints [A, B] matches when one endpoint "
        "address is in A and the other in B; 'any' matches every session. Class 'exclude' "
        "means: not part of the dataset. Non-IP frames (ARP) are not sessions."
    ),
    "rules": rules,
}
with open(sys.argv[1], "w") as f:
    json.dump(labels, f, indent=2)
    f.write("\n")
EOF

PKTS=$(grep -oE '^[0-9]+ packets captured' "$RUN_DIR/tcpdump.log" | cut -d' ' -f1 || echo 0)
log "run $SCENARIO-$SEED done: $PKTS packets, $(du -h "$RUN_DIR/capture.pcap" | cut -f1) in $(secs_since "$START")s"
# Every scenario makes thousands of packets; a near-empty capture means the capture failed.
((PKTS >= 200)) || die "run $SCENARIO-$SEED captured only $PKTS packets"
