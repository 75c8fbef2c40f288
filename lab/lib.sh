# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings here are used by the scripts that source this file
# Shared settings and helpers for the fleetcap traffic lab. Sourced, never run.
#
# Safety model: every lab address lives only inside the fcl-* namespaces. The bridge sits in
# its own namespace (fcl-switch), so the root namespace gets no lab interface, address or route,
# and no namespace has a default route: a packet for any address outside 10.77.0.0/24 has
# nowhere to go.

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$LAB_DIR/.." && pwd)"
OUT_DIR="${FCL_OUT_DIR:-$REPO_DIR/.lab}"
ASSETS="$OUT_DIR/assets"
RUNSTATE="$OUT_DIR/run"
# FCL_RUNS_DIR: where runs go (fleetcap run keeps its demo runs apart from the training runs)
RUNS_DIR="${FCL_RUNS_DIR:-$OUT_DIR/runs}"

NS_SWITCH=fcl-switch
NS_CLIENT=fcl-client
NS_SERVER=fcl-server
NS_ATTACKER=fcl-attacker
LAB_NAMESPACES=("$NS_CLIENT" "$NS_SERVER" "$NS_ATTACKER" "$NS_SWITCH")

LAB_NET=10.77.0
LAB_CIDR=10.77.0.0/24
# Several addresses per host so that a model cannot learn "10.77.0.100 is evil": each run picks
# its own source and target addresses from these pools.
SERVER_ADDRS=(10.77.0.10 10.77.0.11 10.77.0.12 10.77.0.13)
mapfile -t CLIENT_ADDRS < <(seq -f "$LAB_NET.%g" 20 59)
mapfile -t ATTACKER_ADDRS < <(seq -f "$LAB_NET.%g" 100 139)
DNS_ADDR=${SERVER_ADDRS[0]}
LAB_DOMAIN=lab.test

# Services listen on several ports each, so an attack is not tied to one tool's usual port.
HTTP_PORTS=(80 8080 8000 8008 8888 3000 5000 7080)
HTTPS_PORTS=(443 8443 4443 9443 10443)
SSH_PORTS=(22 2222 2022 22022 8022)
VULNAPP_PORT=9181 # loopback only inside fcl-server; nginx proxies /app/ to it
WS_PORT=9182      # loopback only too: the WebSocket app behind nginx's /ws/
H2_PORTS=(443 8443 9443) # the HTTPS ports that offer HTTP/2 (ALPN); the others speak HTTP/1.1 only
FTP_PORTS=(21 2121)
FTP_PASV_PORTS=(40000 40199)
SMTP_PORTS=(25 587 2525) # STARTTLS offered on all; 465 is SMTP over TLS
SMTPS_PORT=465
IMAP_PORT=143
IMAPS_PORT=993
POP3_PORT=110
POP3S_PORT=995
MYSQL_PORT=3306
PG_PORT=5432
REDIS_PORTS=(6379 6380) # 6380 wants a password
MQTT_PORTS=(1883 1884)
MQTTS_PORT=8883
NTP_PORT=123

LAB_USER=labuser
LAB_PASS=sunshine1
# Accounts of the lab's database and message services (benign clients use them; hydra guesses at some)
DB_USER=app
DB_PASS=s3cret-app
REDIS_PASS=$LAB_PASS

# Upper bound on packets in any one capture, whatever a tool does.
CAPTURE_MAX_PACKETS=400000

# Debian's python3, whose packages (python3-aiosmtpd, python3-websockets) the lab's own servers and clients use;
# a python3 earlier on PATH (pyenv, a venv) would not have them.
PY=/usr/bin/python3

# The hosts whose link to the switch is a wide-area link (lab/wanlink.py), and where its state lives.
WAN_LINKS=(client attacker)
WAN_DIR="$RUNSTATE/wan"

_LAB_T0=${_LAB_T0:-$EPOCHREALTIME}
export _LAB_T0

secs_since() {
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

log() {
  printf '[lab %s +%6.1fs] %s\n' "$(date -u +%H:%M:%S)" "$(secs_since "$_LAB_T0")" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

# Runs a command as a named step and prints how long it took.
step() {
  local name=$1
  shift
  local t0=$EPOCHREALTIME
  log "-> $name"
  "$@"
  log "<- $name ($(secs_since "$t0")s)"
}

nsx() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "the lab needs root (network namespaces, raw sockets)"
}

ns_exists() {
  ip netns list | awk '{print $1}' | grep -qx "$1"
}

# Random helpers that write into a named variable instead of printing: a $(...) subshell would
# not advance the parent's seeded RANDOM, and every pick would repeat the same "random" value.
rand() { # rand VAR LO HI  (inclusive)
  local -n _out=$1
  _out=$(($2 + RANDOM % ($3 - $2 + 1)))
}

pick() { # pick VAR ITEM...
  local -n _out=$1
  shift
  local items=("$@")
  _out=${items[RANDOM % ${#items[@]}]}
}

pick_n() { # pick_n ARRAYVAR N ITEM...  (N distinct items, random order)
  local -n _arr=$1
  local n=$2
  shift 2
  local items=("$@") i j tmp
  for ((i = ${#items[@]} - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1)))
    tmp=${items[i]}
    items[i]=${items[j]}
    items[j]=$tmp
  done
  _arr=("${items[@]:0:n}")
}

chance() { # chance PERCENT -> true with that probability
  (((RANDOM % 100) < $1))
}

# Sets the source address the kernel uses for new connections from a host, for tools that cannot
# bind to an address themselves (hydra, sqlmap, slowhttptest, nmap connect scans).
set_src_addr() {
  local ns=$1 addr=$2
  nsx "$ns" ip route replace "$LAB_CIDR" dev eth0 proto kernel scope link src "$addr"
}

set_ttl() {
  local ns=$1 ttl=$2
  nsx "$ns" sysctl -qw net.ipv4.ip_default_ttl="$ttl"
}

# Initial TTL of a common OS minus a few hops, as a sensor in a real network would see it.
random_ttl() {
  local -n _ttl=$1
  local base hops
  pick base 64 64 64 128 128 255
  rand hops 0 12
  _ttl=$((base - hops))
}

wan_links_up() {
  local link pid
  for link in "${WAN_LINKS[@]}"; do
    pid=$(cat "$WAN_DIR/$link.pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  done
}

# Gives a WAN link (lab/wanlink.py in fcl-switch) new conditions and waits until it has applied them.
wan_apply() { # wan_apply LINK JSON
  local link=$1 conf=$WAN_DIR/$1.json pid i
  pid=$(cat "$WAN_DIR/$link.pid" 2>/dev/null || true)
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || die "WAN link $link is not running (see $WAN_DIR/$link.log): run bash lab/setup.sh"
  printf '%s\n' "$2" >"$conf.tmp"
  mv "$conf.tmp" "$conf"
  rm -f "$conf.applied"
  kill -HUP "$pid"
  for i in $(seq 1 100); do
    cmp -s "$conf" "$conf.applied" 2>/dev/null && return 0
    sleep 0.05
  done
  die "WAN link $link did not apply its conditions (see $WAN_DIR/$link.log)"
}

# Refuses to go on if any lab namespace could reach beyond the lab.
assert_isolated() {
  local ns routes
  for ns in "${LAB_NAMESPACES[@]}"; do
    ns_exists "$ns" || continue
    routes=$(nsx "$ns" ip -4 route show table all | grep -v -e "^local " -e "^broadcast " -e " dev lo " || true)
    if grep -q '^default' <<<"$routes"; then
      die "$ns has a default route: $routes"
    fi
    if grep -v -e "^$LAB_CIDR " -e '^$' <<<"$routes" | grep -q .; then
      die "$ns has a route outside $LAB_CIDR: $routes"
    fi
  done
  if ip -4 addr show | grep -q "inet $LAB_NET\."; then
    die "a lab address leaked into the root namespace"
  fi
}
