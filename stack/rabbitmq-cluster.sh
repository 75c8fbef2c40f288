#!/usr/bin/env bash
# A RabbitMQ cluster of 3 nodes on loopback beside the local stack (issue 15): plain processes with data and logs
# under .stack/rabbitmq-cluster/, formed at first boot by classic peer discovery, the stack's users and permissions
# on every node (the same definitions file), one Erlang cookie generated for the cluster (0400, never printed). The
# apps' quorum queues (the ready queue, the delay queues `.q`, the detector's) get a replica on each node.
#
#   bash stack/rabbitmq-cluster.sh up        start the 3 nodes, wait until each runs and sees the other two
#   bash stack/rabbitmq-cluster.sh down      stop every node (data kept)
#   bash stack/rabbitmq-cluster.sh status    each node, running or not, and the cluster's members
#   bash stack/rabbitmq-cluster.sh urls      the nodes' AMQP addresses (host:port,...)
#   bash stack/rabbitmq-cluster.sh kill N    kill -9 node N (1-3): what a lost machine looks like
#   bash stack/rabbitmq-cluster.sh start N   start node N again (it rejoins the cluster)
#   bash stack/rabbitmq-cluster.sh reset     down, then delete the cluster's data
#
# AMQP ports FLEETCAP_RABBITMQ_CLUSTER_PORT .. +2 (default 5701-5703), distribution ports 25701-25703; each node about
# 130 MB resident, one scheduler thread.
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"
: "${FLEETCAP_RABBITMQ_CLUSTER_PORT:=5701}"
: "${FLEETCAP_RABBITMQ_CLUSTER_DIST_PORT:=25701}"
HOME_DIR="$FLEETCAP_STACK_HOME/rabbitmq-cluster"
DEFINITIONS="$FLEETCAP_STACK_HOME/rabbitmq/definitions.json"
NODES=3
BIN=/usr/lib/rabbitmq/bin
# The pid file is the broker's own (RABBITMQ_PID_FILE): the Erlang VM's pid, not the launcher script's, so that
# kill -9 takes the node down at once and its peers see the distribution link close.
CLUSTER_NAME=rabbitmq-cluster CLUSTER_HOME="$HOME_DIR" CLUSTER_NODES=$NODES CLUSTER_PID_FILE=rabbitmq.pid
# shellcheck source=stack/cluster-lib.sh
source "$STACK_DIR/cluster-lib.sh"

node_name() { echo "fleetcap-c$1@localhost"; }
port_of() { echo $((FLEETCAP_RABBITMQ_CLUSTER_PORT + $1 - 1)); }
node_label() { echo "$(node_name "$1")  amqp 127.0.0.1:$(port_of "$1")"; }
node_stop() { ctl "$1" stop >/dev/null 2>&1; }
ctl() { local n="$1"; shift; env HOME="$HOME_DIR/node-$n" "$BIN/rabbitmqctl" -q -n "$(node_name "$n")" "$@"; }

make_cookie() {
  mkdir -p "$HOME_DIR"
  if [[ ! -s "$HOME_DIR/erlang.cookie" ]]; then
    (umask 077 && openssl rand -hex 20 | tr 'a-f' 'A-F' >"$HOME_DIR/erlang.cookie")
  fi
  chmod 400 "$HOME_DIR/erlang.cookie"
}

start_node() {
  local n="$1" dir="$HOME_DIR/node-$1"
  if alive "$n"; then return 0; fi
  mkdir -p "$dir/mnesia" "$dir/log"
  install -m 400 "$HOME_DIR/erlang.cookie" "$dir/.erlang.cookie"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$(port_of "$n")
loopback_users = none
definitions.import_backend = local_filesystem
definitions.local.path = $DEFINITIONS
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = $(node_name 1)
cluster_formation.classic_config.nodes.2 = $(node_name 2)
cluster_formation.classic_config.nodes.3 = $(node_name 3)
# A node cut off from the majority stops serving rather than diverging (quorum queues need a majority anyway).
cluster_partition_handling = pause_minority
disk_free_limit.absolute = 200MB
log.console = true
log.file = false
CONF
  # The at-least-once dead-lettering of the TTL queues (the session delay, the record sweep) moves a message into its
  # target queue and waits for that queue's confirm before settling it; a confirm lost with the target's leader (a
  # node killed) is waited for dead_letter_worker_publisher_confirm_timeout before the move is tried again: 180 s by
  # default, so every message in that move (the delays and looks of the last second) stayed in the source queue,
  # neither ready nor delivered, for 3 minutes, and the cluster run's sessions and records went unfinished (stop 18).
  # 5 s: a move sent again is a duplicate at worst, which the workers ignore (done markers, look versions).
  cat >"$dir/advanced.config" <<'ADVANCED'
[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}].
ADVANCED
  echo '[].' >"$dir/enabled_plugins"
  say "starting rabbitmq cluster node $n ($(node_name "$n"), amqp 127.0.0.1:$(port_of "$n"); log: $dir/rabbitmq.log)"
  setsid env HOME="$dir" RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    RABBITMQ_DIST_PORT=$((FLEETCAP_RABBITMQ_CLUSTER_DIST_PORT + n - 1)) ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ERL_ARGS="+S 1:1" \
    "$BIN/rabbitmq-server" >>"$dir/rabbitmq.log" 2>&1 </dev/null &
  echo $! >"$dir/launcher.pid"
}

wait_running() {
  local n="$1" timeout="$2"
  for _ in $(seq 1 "$timeout"); do
    # rabbitmq-server writes its pid file once the Erlang VM is up; await_startup then waits for the app.
    if [[ -s "$HOME_DIR/node-$n/rabbitmq.pid" ]] && ctl "$n" await_startup --timeout 5 >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "node $n did not start within ${timeout} s: read $HOME_DIR/node-$n/rabbitmq.log"
}

wait_members() {
  local timeout="$1" running
  for _ in $(seq 1 "$timeout"); do
    running="$(ctl 1 cluster_status --formatter json 2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        try { console.log(JSON.parse(s).running_nodes.length); } catch { console.log(0); }
      });')"
    [[ $running == "$NODES" ]] && return 0
    sleep 1
  done
  die "the cluster has ${running:-0} of $NODES nodes running after ${timeout} s: bash stack/rabbitmq-cluster.sh status"
}

# The apps' dead-letter queues are quorum queues (`.dead.q`, lib/src/queue/topology.ts), replicated like the others:
# the classic ones of before, mirrored by a policy of this script until stop 15, are drained and deleted by the upgrade
# (docs/OPERATIONS.md, "Upgrading to the quorum dead-letter queues"), which also clears that policy.

cluster_up() {
  [[ -s "$DEFINITIONS" ]] || die "the stack's RabbitMQ users are missing: run 'bash stack/stack.sh secrets' (or 'up') first"
  make_cookie
  local n
  for n in $(seq 1 "$NODES"); do start_node "$n"; done
  for n in $(seq 1 "$NODES"); do wait_running "$n" 120; done
  wait_members 60
  say "rabbitmq cluster running: 3 nodes, amqp $(cmd_urls)"
}

cmd_urls() {
  local n out=()
  for n in $(seq 1 "$NODES"); do out+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}

cluster_summary() {
  local n
  for n in $(seq 1 "$NODES"); do
    if alive "$n"; then
      ctl "$n" cluster_status --formatter json 2>/dev/null | node -e '
        let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
          const c = JSON.parse(s); console.log(`members: ${c.disk_nodes.join(" ")}; running: ${c.running_nodes.join(" ")}`);
        });'
      break
    fi
  done
}

node_start() {
  make_cookie
  start_node "$1"
  wait_running "$1" 120
  wait_members 60
}

cluster_usage() { echo urls; }
cluster_command() {
  case "$1" in
    urls) cmd_urls ;;
    *) return 2 ;;
  esac
}

cluster_main "$@"
