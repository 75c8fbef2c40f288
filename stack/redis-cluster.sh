#!/usr/bin/env bash
# A Redis Cluster on loopback beside the local stack: 3 masters with a replica each, as plain processes with data
# and logs under .stack/redis-cluster/, the stack's ACL users on every node (the same generated secrets), and a
# `replica` user that only replicates. The first piece of the cluster stack (issue 15); the apps use it when
# FLEETCAP_REDIS_CLUSTER_NODES names its nodes (lib/src/redis/connect.ts).
#
#   bash stack/redis-cluster.sh up         start the 6 nodes, create the cluster the first time, wait for state ok
#   bash stack/redis-cluster.sh down       stop every node (data kept)
#   bash stack/redis-cluster.sh status     the cluster's state and its nodes, master or replica
#   bash stack/redis-cluster.sh nodes      the seed list for FLEETCAP_REDIS_CLUSTER_NODES
#   bash stack/redis-cluster.sh kill N     kill -9 node N (1-6): what a lost machine looks like
#   bash stack/redis-cluster.sh start N    start node N again (it rejoins from its nodes.conf; a master once its
#                                          replica took its slots over)
#   bash stack/redis-cluster.sh reset      down, then delete the cluster's data
#
# Ports FLEETCAP_REDIS_CLUSTER_PORT .. +5 (default 7101-7106); memory 64 MB per node at most (maxmemory).
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"
: "${FLEETCAP_REDIS_CLUSTER_PORT:=7101}"
: "${FLEETCAP_REDIS_CLUSTER_MAXMEMORY:=64mb}"
HOME_DIR="$FLEETCAP_STACK_HOME/redis-cluster"
SECRETS="$FLEETCAP_STACK_HOME/secrets"
NODES=6
CLUSTER_NAME=redis-cluster CLUSTER_HOME="$HOME_DIR" CLUSTER_NODES=$NODES CLUSTER_PID_FILE=redis.pid
# shellcheck source=stack/cluster-lib.sh
source "$STACK_DIR/cluster-lib.sh"

port_of() { echo $((FLEETCAP_REDIS_CLUSTER_PORT + $1 - 1)); }
node_label() { echo "127.0.0.1:$(port_of "$1")"; }
node_state() { cli "$(port_of "$1")" role 2>/dev/null | head -n1; }
# The operator account, its password through the environment (never on a command line).
cli() {
  local port="$1"; shift
  REDISCLI_AUTH="$(head -n1 "$SECRETS/redis-fleetcap.password")" redis-cli --no-auth-warning --user fleetcap \
    -h 127.0.0.1 -p "$port" "$@"
}

need_secrets() {
  [[ -s "$SECRETS/redis-fleetcap.password" && -s "$FLEETCAP_STACK_HOME/redis/users.acl" ]] ||
    die "the stack's secrets are missing: run 'bash stack/stack.sh secrets' (or 'up') first"
}

start_node() {
  local n="$1" dir="$HOME_DIR/node-$1" port
  port="$(port_of "$n")"
  if alive "$n"; then return 0; fi
  mkdir -p "$dir"
  # The same users as the single Redis (one ACL file, made from the same secrets), and the replica's own login: in a
  # 0600 file, not on the command line.
  cp "$FLEETCAP_STACK_HOME/redis/users.acl" "$dir/users.acl"
  chmod 600 "$dir/users.acl"
  (
    umask 077
    cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
dir $dir
daemonize no
pidfile $dir/redis.pid
logfile $dir/redis.log
cluster-enabled yes
cluster-config-file $dir/nodes.conf
cluster-node-timeout 3000
appendonly yes
appendfsync everysec
aclfile $dir/users.acl
masteruser replica
masterauth $(head -n1 "$SECRETS/redis-replica.password")
maxmemory $FLEETCAP_REDIS_CLUSTER_MAXMEMORY
maxmemory-policy noeviction
zset-max-listpack-value 4096
hash-max-listpack-value 1024
CONF
  )
  say "starting redis cluster node $n on 127.0.0.1:$port (log: $dir/redis.log)"
  setsid redis-server "$dir/redis.conf" >>"$dir/stdout.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do
    [[ "$(cli "$port" ping 2>/dev/null)" == PONG ]] && return 0
    sleep 0.2
  done
  die "node $n did not answer on port $port within 10 s: read $dir/redis.log"
}

wait_state_ok() {
  local timeout="$1" state=''
  for _ in $(seq 1 $((timeout * 5))); do
    state="$(cli "$FLEETCAP_REDIS_CLUSTER_PORT" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')"
    if [[ $state == ok ]]; then
      local n port
      for n in $(seq 1 "$NODES"); do
        alive "$n" || continue
        port="$(port_of "$n")"
        [[ "$(cli "$port" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')" == ok ]] || continue 2
      done
      return 0
    fi
    sleep 0.2
  done
  die "the cluster's state is '${state:-unknown}' after ${timeout} s: bash stack/redis-cluster.sh status"
}

cluster_up() {
  need_secrets
  [[ -s "$SECRETS/redis-replica.password" ]] || die "no replica secret: run 'bash stack/stack.sh secrets' first"
  mkdir -p "$HOME_DIR"
  local n
  for n in $(seq 1 "$NODES"); do start_node "$n"; done
  if [[ ! -f "$HOME_DIR/created" ]]; then
    local addrs=()
    for n in $(seq 1 "$NODES"); do addrs+=("127.0.0.1:$(port_of "$n")"); done
    say "creating the cluster: 3 masters, a replica each"
    cli "$FLEETCAP_REDIS_CLUSTER_PORT" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
      >"$HOME_DIR/create.log" 2>&1 || die "redis-cli --cluster create failed: read $HOME_DIR/create.log"
    touch "$HOME_DIR/created"
  fi
  wait_state_ok 30
  say "redis cluster ok: FLEETCAP_REDIS_CLUSTER_NODES=$(cmd_nodes)"
}

cmd_nodes() {
  local n out=()
  for n in $(seq 1 "$NODES"); do out+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}

cluster_summary() {
  cli "$FLEETCAP_REDIS_CLUSTER_PORT" cluster info 2>/dev/null | grep -E 'cluster_state|cluster_known_nodes|cluster_size'
}

# A master killed with kill -9 must not come back before its replica took its slots over: started in between (its
# down time about as long as the failover, cluster-node-timeout plus the election), it serves its slots again as a
# master with a new replication history, takes writes, and loses them a moment later when the replica's election
# (begun before) makes it a replica that resyncs from scratch. Found by the cluster run (215 acknowledged packets lost,
# stop 17). So a master waits, up to 60 s, until another node no longer gives it slots; a node that was a replica, a
# cluster with no live node to ask, or a replica that never takes over (it is down too) starts at once or then.
wait_taken_over() {
  local n="$1" me other line
  me="$(awk '$3 ~ /myself/ && $3 ~ /master/ && NF >= 9 { print $1 }' "$HOME_DIR/node-$n/nodes.conf" 2>/dev/null)"
  [[ -n $me ]] || return 0
  for _ in $(seq 1 300); do
    line=''
    for other in $(seq 1 "$NODES"); do
      ((other == n)) && continue
      alive "$other" || continue
      line="$(cli "$(port_of "$other")" cluster nodes 2>/dev/null | tr -d '\r' | awk -v id="$me" '$1 == id')" && [[ -n $line ]] && break
    done
    [[ -n $line ]] || return 0
    if [[ "$(awk '{ print NF }' <<<"$line")" -lt 9 ]]; then
      say "node $n's slots are served by its replica now: starting it (it rejoins as a replica)"
      return 0
    fi
    sleep 0.2
  done
  say "node $n's replica did not take its slots over within 60 s: starting it as their master"
}

node_start() {
  need_secrets
  alive "$1" || wait_taken_over "$1"
  start_node "$1"
  wait_state_ok 30
}

cluster_usage() { echo nodes; }
cluster_command() {
  case "$1" in
    nodes) cmd_nodes ;;
    *) return 2 ;;
  esac
}

cluster_main "$@"
