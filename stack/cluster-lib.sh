# The shape every cluster script of the stack shares (stack/redis-cluster.sh, rabbitmq-cluster.sh,
# zookeeper-ensemble.sh): N nodes as plain processes on loopback, node N's files under $CLUSTER_HOME/node-N, each
# node found by its pid file (never by name: other stacks run the same servers on this machine), and the same
# commands: up, down, status, kill N (kill -9: what a lost machine looks like), start N, reset.
#
# A script sets CLUSTER_NAME, CLUSTER_HOME, CLUSTER_NODES and CLUSTER_PID_FILE (the pid file's name in a node's
# directory), defines the hooks below, then runs `cluster_main "$@"`:
#   cluster_up                 start every node and wait until the cluster serves (required)
#   node_start N               start node N if it is not running, and wait for it (required)
#   node_label N               how node N is shown: its address (required)
#   node_stop N                a graceful stop of node N (optional; default: SIGTERM)
#   node_state N               what status says of a running node (optional; default: running)
#   cluster_summary            what status prints after the nodes (optional)
#   cluster_command CMD ARGS   more commands of this script; returns 2 for one it does not know (optional)
#   cluster_usage              the extra commands for the usage line (optional)

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '%s: %s\n' "$CLUSTER_NAME" "$*" >&2; exit 1; }
node_dir() { echo "$CLUSTER_HOME/node-$1"; }
pid_of() { cat "$CLUSTER_HOME/node-$1/$CLUSTER_PID_FILE" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [[ -n $p ]] && kill -0 "$p" 2>/dev/null; }

need_node() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= CLUSTER_NODES)) || die "which node? give 1-$CLUSTER_NODES"
}

# Stops node N: its graceful stop (or SIGTERM), SIGKILL after 30 s; the pid file goes.
cluster_stop_node() {
  local n="$1" pid
  pid="$(pid_of "$n")"
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    say "stopping $CLUSTER_NAME node $n (pid $pid, $(node_label "$n"))"
    if declare -F node_stop >/dev/null; then node_stop "$n" || kill -TERM "$pid" 2>/dev/null || true
    else kill -TERM "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$CLUSTER_HOME/node-$n/$CLUSTER_PID_FILE"
}

cluster_down() {
  local n
  for n in $(seq "$CLUSTER_NODES" -1 1); do cluster_stop_node "$n"; done
}

# kill -9 of the pid in node N's pid file: the process that serves, so that the others see their peer vanish at once.
cluster_kill() {
  local n="$1" pid
  pid="$(pid_of "$n")"
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || die "node $n is not running"
  say "kill -9 $CLUSTER_NAME node $n (pid $pid, $(node_label "$n"))"
  kill -KILL "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$CLUSTER_HOME/node-$n/$CLUSTER_PID_FILE"
}

cluster_status() {
  local n state
  for n in $(seq 1 "$CLUSTER_NODES"); do
    if alive "$n"; then
      state=running
      if declare -F node_state >/dev/null; then state="$(node_state "$n")"; fi
    else
      state=down
    fi
    printf 'node %s  %s  %s\n' "$n" "$(node_label "$n")" "$state"
  done
  if declare -F cluster_summary >/dev/null; then cluster_summary || true; fi
}

cluster_main() {
  local cmd="${1:-}"
  case "$cmd" in
    up) cluster_up ;;
    down) cluster_down ;;
    status) cluster_status ;;
    kill) need_node "${2:-}"; cluster_kill "$2" ;;
    start) need_node "${2:-}"; node_start "$2" ;;
    reset) cluster_down; rm -rf "${CLUSTER_HOME:?}" ;;
    *)
      local rc=2
      if [[ -n $cmd ]] && declare -F cluster_command >/dev/null; then
        rc=0
        cluster_command "$@" || rc=$?
      fi
      if ((rc == 2)); then
        local extra=''
        if declare -F cluster_usage >/dev/null; then extra=" | $(cluster_usage)"; fi
        die "usage: $(basename "$0") up | down | status | kill N | start N | reset$extra"
      fi
      return "$rc"
      ;;
  esac
}
