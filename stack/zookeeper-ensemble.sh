#!/usr/bin/env bash
# A ZooKeeper ensemble of 3 on loopback beside the local stack (issue 15): plain JVMs with data and logs under
# .stack/zookeeper-ensemble/, configured as the stack's single ZooKeeper is (stack/stack.sh start_zookeeper: loopback
# only, the admin server off, only the ruok/srvr/mntr four-letter words, the audit log of every change request and
# its result, a 60 s session cap), plus the quorum. Access control is the apps' as on the single server: config-sync
# creates the agents' nodes with digest ACLs (apps/config-sync/src/zk-acl.ts) from the stack's zk-configsync secret,
# so a node made on the ensemble carries the same ACL, checked by whichever server a client is on.
#
#   bash stack/zookeeper-ensemble.sh up       start the 3 servers, wait until each serves and one leads
#   bash stack/zookeeper-ensemble.sh down     stop every server (data kept)
#   bash stack/zookeeper-ensemble.sh status   each server: leader, follower or down
#   bash stack/zookeeper-ensemble.sh connect  the connect string for FLEETCAP_ZK_CONNECT (host:port,...)
#   bash stack/zookeeper-ensemble.sh leader   the number of the server that leads now
#   bash stack/zookeeper-ensemble.sh kill N   kill -9 server N (1-3): what a lost machine looks like
#   bash stack/zookeeper-ensemble.sh start N  start server N again (it rejoins as a follower)
#   bash stack/zookeeper-ensemble.sh reset    down, then delete the ensemble's data
#
# Client ports FLEETCAP_ZK_ENSEMBLE_PORT .. +2 (default 7201-7203), quorum ports +10 (7211-7213), election ports +20
# (7221-7223); each JVM at most 128 MB heap (about 110 MB resident when idle).
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"
: "${FLEETCAP_ZK_ENSEMBLE_PORT:=7201}"
HOME_DIR="$FLEETCAP_STACK_HOME/zookeeper-ensemble"
NODES=3
# java's own pid: setsid execs java in place, so $! of the launch is the JVM (kill -9 takes the server down at once).
CLUSTER_NAME=zookeeper-ensemble CLUSTER_HOME="$HOME_DIR" CLUSTER_NODES=$NODES CLUSTER_PID_FILE=zookeeper.pid
# shellcheck source=stack/cluster-lib.sh
source "$STACK_DIR/cluster-lib.sh"

port_of() { echo $((FLEETCAP_ZK_ENSEMBLE_PORT + $1 - 1)); }
node_label() { echo "127.0.0.1:$(port_of "$1")"; }

# A four-letter word to server N (empty when it does not answer within 2 s).
four_letter() {
  local port
  port="$(port_of "$1")"
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf '%s' '$2' >&3 && cat <&3" 2>/dev/null || true
}
mode_of() { four_letter "$1" srvr | sed -n 's/^Mode: //p'; }
node_state() { local m; m="$(mode_of "$1")"; echo "${m:-running, not serving}"; }

start_node() {
  local n="$1" dir="$HOME_DIR/node-$1" i
  if alive "$n"; then return 0; fi
  mkdir -p "$dir/data"
  echo "$n" >"$dir/data/myid"
  {
    cat <<CONF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$(port_of "$n")
clientPortAddress=127.0.0.1
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
# Every change request and its result (result=failure for a refused one: NoAuth) in zookeeper.log, who and from where.
audit.enable=true
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CONF
    for i in $(seq 1 "$NODES"); do
      echo "server.$i=127.0.0.1:$((FLEETCAP_ZK_ENSEMBLE_PORT + 10 + i - 1)):$((FLEETCAP_ZK_ENSEMBLE_PORT + 20 + i - 1))"
    done
  } >"$dir/zoo.cfg"
  say "starting zookeeper ensemble server $n on 127.0.0.1:$(port_of "$n") (log: $dir/zookeeper.log)"
  setsid java -Xms32m -Xmx128m -Dorg.slf4j.simpleLogger.showDateTime=true -Dzookeeper.jmx.log4j.disable=true \
    -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >>"$dir/zookeeper.log" 2>&1 </dev/null &
  echo $! >"$dir/zookeeper.pid"
}

# Until every running server serves (leader or follower) and exactly one leads.
wait_serving() {
  local timeout="$1" n mode leaders serving running
  for _ in $(seq 1 $((timeout * 2))); do
    leaders=0 serving=0 running=0
    for n in $(seq 1 "$NODES"); do
      alive "$n" || continue
      running=$((running + 1))
      mode="$(mode_of "$n")"
      [[ $mode == leader ]] && leaders=$((leaders + 1))
      [[ $mode == leader || $mode == follower ]] && serving=$((serving + 1))
    done
    ((running > 0 && serving == running && leaders == 1)) && return 0
    sleep 0.5
  done
  die "the ensemble does not serve after ${timeout} s ($serving of $running running servers serve, $leaders leader(s)): bash stack/zookeeper-ensemble.sh status, and read $HOME_DIR/node-*/zookeeper.log"
}

cluster_up() {
  mkdir -p "$HOME_DIR"
  local n
  for n in $(seq 1 "$NODES"); do start_node "$n"; done
  wait_serving 90
  say "zookeeper ensemble serving: FLEETCAP_ZK_CONNECT=$(cmd_connect), server $(cmd_leader) leads"
}

node_start() {
  start_node "$1"
  wait_serving 90
}

cmd_connect() {
  local n out=()
  for n in $(seq 1 "$NODES"); do out+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}

cmd_leader() {
  local n
  for n in $(seq 1 "$NODES"); do
    if alive "$n" && [[ "$(mode_of "$n")" == leader ]]; then echo "$n"; return 0; fi
  done
  die "no server leads now: bash stack/zookeeper-ensemble.sh status"
}

cluster_usage() { echo 'connect | leader'; }
cluster_command() {
  case "$1" in
    connect) cmd_connect ;;
    leader) cmd_leader ;;
    *) return 2 ;;
  esac
}

cluster_main "$@"
