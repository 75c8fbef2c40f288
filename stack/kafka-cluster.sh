#!/usr/bin/env bash
# Kafka with 3 brokers in KRaft and Kafka Connect in distributed mode on loopback beside the local stack (issue 15):
# plain JVMs (the Kafka and Connect jars stack/install.sh fetches) with data and logs under .stack/kafka-cluster/.
# Nodes 1-3 are the brokers, each a combined broker+controller (process.roles=broker,controller; the three are the
# controller quorum); nodes 4-5 are the two Connect workers of one group, running the stack's Debezium MariaDB connector
# (lib/src/cdc/debezium-connector.ts) under a binlog server id of its own (184055; the stack's Connect uses 184054).
# Every topic is replicated 3 times with min.insync.replicas=2 (broker defaults, and set on the sniffer_config topic
# itself): a write acknowledged by acks=all survives the loss of any one broker, and one broker down does not stop writes.
#
# Secured as the single-node stack is: the brokers listen on loopback only, without authentication, as the stack's
# Kafka does; the Connect workers' REST API asks for the stack's login (BasicAuthSecurityRestExtension with the stack's
# jaas.conf, .stack/connect/), and the connector's MariaDB password is a ${file:…} reference resolved inside the worker
# (.stack/secrets/connect-cdc.properties), so GET /connectors/*/config shows no password. `stack.sh secrets` makes them.
#
#   bash stack/kafka-cluster.sh up           start the 3 brokers, create the sniffer_config topic, start the 2 workers,
#                                            register the connector against FLEETCAP_MYSQL_HOST:FLEETCAP_MYSQL_PORT
#                                            (the stack's MariaDB, migrated), wait until its task runs
#   bash stack/kafka-cluster.sh down         stop the workers, then the brokers (data kept)
#   bash stack/kafka-cluster.sh status       each node: broker or worker, running or down; the connector's state
#   bash stack/kafka-cluster.sh brokers      the value of FLEETCAP_KAFKA_BROKERS (host:port,...)
#   bash stack/kafka-cluster.sh connect-urls the workers' REST URLs (comma-separated; FLEETCAP_CONNECT_URL takes one)
#   bash stack/kafka-cluster.sh env          FLEETCAP_KAFKA_BROKERS=… and FLEETCAP_CONNECT_URL=… lines for the apps
#   bash stack/kafka-cluster.sh leader [P]   the node (1-3) leading partition P (default 0) of sniffer_config now
#   bash stack/kafka-cluster.sh task-node    the node (4-5) running the connector's task now
#   bash stack/kafka-cluster.sh register     (re)register the connector and wait until it runs
#   bash stack/kafka-cluster.sh kill N       kill -9 node N (1-3 a broker, 4-5 a worker): what a lost machine looks like
#   bash stack/kafka-cluster.sh start N      start node N again and wait until it is whole (a broker: every replica
#                                            in sync again; a worker: back in the group)
#   bash stack/kafka-cluster.sh reset        down, then delete the cluster's data
#
# Ports: brokers FLEETCAP_KAFKA_CLUSTER_PORT .. +2 (default 7301-7303), their controllers +10 (7311-7313); workers'
# REST FLEETCAP_CONNECT_CLUSTER_PORT .. +1 (default 7321-7322).
# Memory budget: each broker -Xmx256m (heap; FLEETCAP_KAFKA_CLUSTER_HEAP), each worker -Xmx256m
# (FLEETCAP_CONNECT_CLUSTER_HEAP); measured resident after the cluster test: see docs/OPERATIONS.md (about 2 GB
# for the five JVMs together).
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$STACK_DIR")"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"
: "${FLEETCAP_KAFKA_CLUSTER_PORT:=7301}"
: "${FLEETCAP_CONNECT_CLUSTER_PORT:=7321}"
: "${FLEETCAP_KAFKA_CLUSTER_HEAP:=256m}"
: "${FLEETCAP_CONNECT_CLUSTER_HEAP:=256m}"
HOME_DIR="$FLEETCAP_STACK_HOME/kafka-cluster"
JARS="$FLEETCAP_STACK_HOME/jvm"
BROKERS=3
WORKERS=2
# java's own pid: setsid execs java in place, so $! of the launch is the JVM (kill -9 takes the node down at once).
CLUSTER_NAME=kafka-cluster CLUSTER_HOME="$HOME_DIR" CLUSTER_NODES=$((BROKERS + WORKERS)) CLUSTER_PID_FILE=server.pid
# shellcheck source=stack/cluster-lib.sh
source "$STACK_DIR/cluster-lib.sh"

is_broker() { (($1 <= BROKERS)); }
broker_port() { echo $((FLEETCAP_KAFKA_CLUSTER_PORT + $1 - 1)); }
controller_port() { echo $((FLEETCAP_KAFKA_CLUSTER_PORT + 10 + $1 - 1)); }
worker_port() { echo $((FLEETCAP_CONNECT_CLUSTER_PORT + $1 - BROKERS - 1)); }
node_label() {
  if is_broker "$1"; then echo "broker 127.0.0.1:$(broker_port "$1")"; else echo "worker http://127.0.0.1:$(worker_port "$1")"; fi
}

cmd_brokers() {
  local n out=()
  for n in $(seq 1 "$BROKERS"); do out+=("127.0.0.1:$(broker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
cmd_connect_urls() {
  local n out=()
  for n in $(seq $((BROKERS + 1)) $((BROKERS + WORKERS))); do out+=("http://127.0.0.1:$(worker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

# The helper speaks to the cluster with the apps' clients (stack/kafka-cluster.ts).
helper() {
  FLEETCAP_KAFKA_BROKERS="$(cmd_brokers)" FLEETCAP_CONNECT_URLS="$(cmd_connect_urls)" \
    node --import tsx --conditions=fleetcap-source "$STACK_DIR/kafka-cluster.ts" "$@"
}

need_secrets() {
  [[ -s "$FLEETCAP_STACK_HOME/connect/jaas.conf" && -s "$FLEETCAP_STACK_HOME/secrets/connect-cdc.properties" ]] ||
    die "the stack's secrets are missing: run 'bash stack/stack.sh secrets' (or 'up') first"
  [[ -d "$JARS/kafka" && -d "$JARS/connect" ]] || die "no Kafka jars in $JARS: run 'bash stack/install.sh' (or 'stack.sh up') first"
}

# C1 only (TieredStopAtLevel=1): a JVM that starts on a loaded 2-core machine spends most of its start in the C2
# compiler; the cluster's load is a few messages a second, far below what C1's code serves.
jvm_flags() {
  echo "-Xms64m -Xmx$1 -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Dlog4j.configuration=file:$STACK_DIR/jvm/log4j.properties"
}

write_broker_config() {
  local n="$1" dir="$HOME_DIR/node-$1" voters='' i
  for i in $(seq 1 "$BROKERS"); do voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"; done
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
# Every topic on every broker, and a write acknowledged (acks=all) only once two hold it: one broker may go.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
# Small: 10 offsets partitions, not 50; a 16 MB cleaner buffer, not 128 MB (it lives in the 256 MB heap).
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=3
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=4
background.threads=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
CONF
}

start_broker() {
  local n="$1" dir="$HOME_DIR/node-$1"
  write_broker_config "$n"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    # One cluster id for the three log dirs, made once.
    if [[ ! -s "$HOME_DIR/cluster.id" ]]; then
      java -cp "$JARS/kafka/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$HOME_DIR/cluster.id"
    fi
    say "formatting broker $n's KRaft storage (cluster $(cat "$HOME_DIR/cluster.id"))"
    # shellcheck disable=SC2046
    java $(jvm_flags 128m) -cp "$JARS/kafka/*" kafka.tools.StorageTool format -t "$(cat "$HOME_DIR/cluster.id")" \
      -c "$dir/server.properties" >>"$dir/kafka.log" 2>&1 || die "formatting broker $n failed: read $dir/kafka.log"
  fi
  say "starting kafka broker $n on 127.0.0.1:$(broker_port "$n"), controller $(controller_port "$n") (log: $dir/kafka.log)"
  # shellcheck disable=SC2046
  setsid java $(jvm_flags "$FLEETCAP_KAFKA_CLUSTER_HEAP") -cp "$JARS/kafka/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/server.pid"
}

start_worker() {
  local n="$1" dir="$HOME_DIR/node-$1" port
  port="$(worker_port "$n")"
  mkdir -p "$dir"
  {
    connect_worker_properties "$(cmd_brokers)" fleetcap-connect-cluster "$port" 3
    cat <<CONF
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
rest.advertised.listener=http
offset.storage.partitions=5
status.storage.partitions=3
# The plugins are found by their ServiceLoader manifests (every jar on the classpath has them): scanning the classes
# too took 31 s of the 57 s a worker took to start at load 25.
plugin.discovery=service_load
# A lost worker's tasks move after its session times out (6 s) and the scheduled delay (5 s; default 5 min, which
# would leave the connector's task unassigned that long): about 11 s without CDC, measured in the cluster test.
session.timeout.ms=6000
heartbeat.interval.ms=2000
scheduled.rebalance.max.delay.ms=5000
CONF
  } >"$dir/connect.properties"
  say "starting kafka connect worker $((n - BROKERS)) on http://127.0.0.1:$port (log: $dir/connect.log)"
  # shellcheck disable=SC2046
  setsid java $(jvm_flags "$FLEETCAP_CONNECT_CLUSTER_HEAP") \
    -Djava.security.auth.login.config="$FLEETCAP_STACK_HOME/connect/jaas.conf" \
    -cp "$JARS/connect/*" org.apache.kafka.connect.cli.ConnectDistributed "$dir/connect.properties" \
    >>"$dir/connect.log" 2>&1 </dev/null &
  echo $! >"$dir/server.pid"
}

running_brokers() {
  local n c=0
  for n in $(seq 1 "$BROKERS"); do alive "$n" && c=$((c + 1)); done
  echo "$c"
}

start_node() {
  local n="$1"
  alive "$n" && return 0
  if is_broker "$n"; then start_broker "$n"; else start_worker "$n"; fi
}

wait_node() {
  local n="$1"
  if is_broker "$n"; then
    # Registered, and holding every replica it had again (it catches up from the leaders): whole.
    helper wait-brokers "$(running_brokers)" 120 --isr || die "broker $n did not join or catch up: read $HOME_DIR/node-$n/kafka.log"
  else
    helper wait-worker "http://127.0.0.1:$(worker_port "$n")" 180 ||
      die "worker $((n - BROKERS)) did not join its group: read $HOME_DIR/node-$n/connect.log"
  fi
}

cluster_up() {
  need_secrets
  mkdir -p "$HOME_DIR"
  local n
  for n in $(seq 1 "$BROKERS"); do start_node "$n"; done
  helper wait-brokers "$BROKERS" 180 || die "the brokers did not form a cluster: read $HOME_DIR/node-*/kafka.log"
  helper topic || die "could not create the sniffer_config topic"
  for n in $(seq $((BROKERS + 1)) $((BROKERS + WORKERS))); do start_node "$n"; done
  for n in $(seq $((BROKERS + 1)) $((BROKERS + WORKERS))); do wait_node "$n"; done
  helper register || die "the Debezium connector does not run: bash stack/kafka-cluster.sh status, and read $HOME_DIR/node-{4,5}/connect.log"
  say "kafka cluster up: FLEETCAP_KAFKA_BROKERS=$(cmd_brokers) FLEETCAP_CONNECT_URL=http://127.0.0.1:$(worker_port $((BROKERS + 1)))"
}

node_start() {
  need_secrets
  start_node "$1"
  wait_node "$1"
}

# Workers first (they hold the connector's offsets in the brokers), then the brokers; a broker's graceful stop
# moves its leaderships away (controlled shutdown), which takes a few seconds each.
cluster_down() {
  local n
  for n in $(seq "$CLUSTER_NODES" -1 1); do cluster_stop_node "$n"; done
}

node_state() {
  if is_broker "$1"; then echo running; else
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(worker_port "$1")/" || true)"
    [[ $code == 401 ]] && echo 'running (REST asks for the login)' || echo "running, REST answered ${code:-nothing}"
  fi
}

cluster_summary() {
  local up
  up="$(running_brokers)"
  ((up > 0)) || return 0
  helper leader 0 >/dev/null 2>&1 && echo "sniffer_config partition 0 led by broker $(helper leader 0 2>/dev/null)"
  echo "connector task on $(helper task-worker 2>/dev/null || echo 'no worker')"
}

cmd_task_node() {
  local url port
  url="$(helper task-worker)" || die "no task of the connector runs now"
  port="${url##*:}"
  echo $((port - FLEETCAP_CONNECT_CLUSTER_PORT + BROKERS + 1))
}

cluster_usage() { echo 'brokers | connect-urls | env | leader [PARTITION] | task-node | register'; }
cluster_command() {
  case "$1" in
    brokers) cmd_brokers ;;
    connect-urls) cmd_connect_urls ;;
    env) printf 'FLEETCAP_KAFKA_BROKERS=%s\nFLEETCAP_CONNECT_URL=%s\n' "$(cmd_brokers)" "http://127.0.0.1:$(worker_port $((BROKERS + 1)))" ;;
    leader) helper leader "${2:-0}" ;;
    task-node) cmd_task_node ;;
    register) need_secrets; helper register ;;
    *) return 2 ;;
  esac
}

cd "$REPO_DIR"
cluster_main "$@"
