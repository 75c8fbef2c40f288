#!/usr/bin/env bash
# The local stack: every server fleetcap needs, as plain processes on loopback, with data and logs
# under .stack/ (git-ignored). No Docker engine is needed; docker-compose.yml describes the same
# stack for machines that have one.
#
#   bash stack/stack.sh up       install what is missing, start what is not running, wait for health,
#                                apply the SQL migrations, register the Debezium connector
#                                (FLEETCAP_STACK_ALERTING=1: also Prometheus and Alertmanager, stack/alerting.sh)
#   bash stack/stack.sh up --cluster  the cluster stack (issue 15): MariaDB alone, a Redis Cluster, a RabbitMQ
#                                cluster, a ZooKeeper ensemble (stack/*-cluster.sh, zookeeper-ensemble.sh), Kafka's
#                                cluster when stack/kafka-cluster.sh exists (else the single Kafka and Connect), and
#                                HAProxy before two splitcaps; the apps' settings for them in .stack/run/cluster.env
#   bash stack/stack.sh down     stop every server, leave no process behind (data is kept)
#   bash stack/stack.sh status   every server, healthy or not, and why
#   bash stack/stack.sh logs [S] list log files, or follow the log of server S
#   bash stack/stack.sh reset    down, then delete .stack/ data (asks no question: for tests and CI)
#   bash stack/stack.sh restart S stop server S (SIGTERM, as down does) and start it again, wait for health
#                                (the fault-injection run, test/faults/: never on a stack others use)
#   bash stack/stack.sh secrets  generate the secrets and the CA only (what docker-compose.yml mounts)
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$STACK_DIR")"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"

STATE="$FLEETCAP_STACK_HOME"
LOGS="$STATE/logs"
RUN="$STATE/run"
SERVERS=(mariadb redis rabbitmq zookeeper kafka connect)
# The cluster stack's settings for the apps and the tests (written by `up --cluster`, removed by `down`).
CLUSTER_ENV="$RUN/cluster.env"
CLUSTER_MODE=0
: "${FLEETCAP_SPLITCAP_BALANCER_PORT:=7401}"
: "${FLEETCAP_SPLITCAP_REPLICA_PORT:=7411}"

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

pid_alive() {
  local pidfile="$RUN/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# Starts a server in its own session (setsid) so that `down` can signal its whole process group.
launch() {
  local name="$1"; shift
  mkdir -p "$LOGS" "$RUN"
  say "starting $name (log: $LOGS/$name.log)"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
}

probe() { node --import tsx --conditions=fleetcap-source "$STACK_DIR/probe.ts" "$@"; }

# Waits for the server's real health check; on timeout names the server and its log file.
wait_healthy() {
  local name="$1" timeout="$2"
  if ! probe wait "$name" "$timeout"; then
    printf '\nstack: %s did not become healthy within %ss. Last lines of %s:\n' "$name" "$timeout" "$LOGS/$name.log" >&2
    tail -n 25 "$LOGS/$name.log" >&2 || true
    die "$name failed to start: read $LOGS/$name.log, fix the cause, then run 'bash stack/stack.sh up' again"
  fi
}

start_mariadb() {
  local dir="$STATE/mariadb"
  mkdir -p "$dir/binlog" "$dir/tmp"
  if [[ ! -d "$dir/data/mysql" ]]; then
    say "initialising MariaDB data directory"
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$LOGS/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed: read $LOGS/mariadb-install.log"
  fi
  # binlog ROW + FULL row image + server id: what Debezium needs to stream sniffer_config changes. Its temporary
  # tables live in the stack's folder: a cleaner of /tmp removed one under a running query once ("Error on delete").
  launch mariadb mariadbd --no-defaults --user=root --datadir="$dir/data" --tmpdir="$dir/tmp" \
    --bind-address=127.0.0.1 --port="$FLEETCAP_MYSQL_PORT" --socket="$FLEETCAP_MYSQL_SOCKET" \
    --pid-file="$dir/mariadbd.pid" --log-bin="$dir/binlog/mariadb-bin" --binlog-format=ROW \
    --binlog-row-image=FULL --server-id=1 --log-bin-trust-function-creators=1 \
    --expire-logs-days=2 --innodb-buffer-pool-size=256M --max-connections=400 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
}

# The admin account the migration runner uses, bound to loopback (where the CLI and the stack connect from), with the
# generated password; run on every `up` through the root socket, so it also rotates a stack's old password and removes
# an admin at '%'. App accounts come from the sql/ migrations and are bound and rotated by `fleetcap migrate`.
bootstrap_mariadb_admin() {
  local password
  password="$(<"$STATE/secrets/mysql-admin.password")"
  mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User='';
CREATE USER IF NOT EXISTS '$FLEETCAP_MYSQL_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$FLEETCAP_MYSQL_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO '$FLEETCAP_MYSQL_ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS \`$FLEETCAP_MYSQL_DATABASE\` CHARACTER SET utf8mb4;
FLUSH PRIVILEGES;
SQL
  # Every refused statement (every statement error) with its account, address and text goes to
  # mariadb/data/sql_errors.log (the sql_errlog plugin; INSTALL SONAME keeps it installed across restarts).
  if [[ "$(mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot -N -B \
    -e "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'SQL_ERROR_LOG'")" == 0 ]]; then
    mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot -e "INSTALL SONAME 'sql_errlog'"
  fi
  # A stack from before made its triggers and views as the admin at '%', their definer: that account stays, locked
  # (it cannot log in) and without GRANT OPTION; a stack without such definers has no admin at '%' at all.
  local legacy
  legacy="$(mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot -N -B <<SQL
SELECT COUNT(*) FROM (SELECT DEFINER FROM information_schema.TRIGGERS UNION ALL SELECT DEFINER FROM information_schema.VIEWS
  UNION ALL SELECT DEFINER FROM information_schema.ROUTINES) d WHERE DEFINER = '$FLEETCAP_MYSQL_ADMIN_USER@%';
SQL
)"
  if [[ "$legacy" != 0 ]]; then
    mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot <<SQL
CREATE USER IF NOT EXISTS '$FLEETCAP_MYSQL_ADMIN_USER'@'%' IDENTIFIED BY '$password';
ALTER USER '$FLEETCAP_MYSQL_ADMIN_USER'@'%' IDENTIFIED BY '$password' ACCOUNT LOCK;
GRANT ALL PRIVILEGES ON *.* TO '$FLEETCAP_MYSQL_ADMIN_USER'@'%';
REVOKE GRANT OPTION ON *.* FROM '$FLEETCAP_MYSQL_ADMIN_USER'@'%';
FLUSH PRIVILEGES;
SQL
  else
    mariadb --no-defaults --socket="$FLEETCAP_MYSQL_SOCKET" -uroot -e "DROP USER IF EXISTS '$FLEETCAP_MYSQL_ADMIN_USER'@'%'"
  fi
}

start_redis() {
  mkdir -p "$STATE/redis"
  launch redis redis-server --bind 127.0.0.1 --port "$FLEETCAP_REDIS_PORT" --dir "$STATE/redis" \
    --save 60 1000 --appendonly yes --appendfsync everysec --daemonize no --protected-mode yes \
    --aclfile "$STATE/redis/users.acl" \
    --maxmemory "$FLEETCAP_REDIS_MAXMEMORY" --maxmemory-policy noeviction \
    --zset-max-listpack-value 4096 --hash-max-listpack-value 1024 # a session's packets and record in listpacks: docs/OPERATIONS.md, Redis memory per session
}

start_rabbitmq() {
  local dir="$STATE/rabbitmq"
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$FLEETCAP_AMQP_PORT
loopback_users = none
# Users and permissions come from the definitions (stack/server-secrets.ts): no guest, no default user.
definitions.import_backend = local_filesystem
definitions.local.path = $dir/definitions.json
disk_free_limit.absolute = 200MB
log.console = true
log.file = false
CONF
  echo '[].' >"$dir/enabled_plugins"
  launch rabbitmq env HOME="$dir" RABBITMQ_NODENAME="$FLEETCAP_RABBITMQ_NODENAME" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    RABBITMQ_DIST_PORT="$FLEETCAP_RABBITMQ_DIST_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ERL_ARGS="+S 2:2" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

start_zookeeper() {
  local dir="$STATE/zookeeper"
  mkdir -p "$dir/data"
  cat >"$dir/zoo.cfg" <<CONF
tickTime=2000
dataDir=$dir/data
clientPort=$FLEETCAP_ZK_PORT
clientPortAddress=127.0.0.1
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
# Every change request and its result (result=failure for a refused one: NoAuth) in zookeeper.log, who and from where.
audit.enable=true
# Every ACL refusal, reads included, one fleetcap-acl-refusal line each (stack/zookeeper/AclRefusalLog.java).
authProvider.ip=org.fleetcap.zookeeper.AclRefusalLog
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CONF
  # Compiled first, outside $(...): a failing javac must stop `up`, not start ZooKeeper without its refusal log.
  compile_zookeeper_refusal_log
  launch zookeeper java -Xms64m -Xmx256m -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:$STATE/zookeeper/plugin" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg"
}

# ZooKeeper's "ip" scheme with a line per ACL refusal (stack/zookeeper/AclRefusalLog.java), compiled into
# zookeeper/plugin against the ZooKeeper it runs in when the source is newer than the class.
compile_zookeeper_refusal_log() {
  local src="$STACK_DIR/zookeeper/AclRefusalLog.java" out="$STATE/zookeeper/plugin"
  local class="$out/org/fleetcap/zookeeper/AclRefusalLog.class"
  if [[ ! -f "$class" || "$src" -nt "$class" ]]; then
    mkdir -p "$out"
    javac -d "$out" -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar" "$src" >>"$LOGS/zookeeper.log" 2>&1 \
      || die "javac could not compile $src (a JDK 17 is needed): read $LOGS/zookeeper.log"
  fi
}

start_kafka() {
  local dir="$STATE/kafka"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$FLEETCAP_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$FLEETCAP_KAFKA_PORT,CONTROLLER://127.0.0.1:$FLEETCAP_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$FLEETCAP_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
CONF
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    say "formatting Kafka KRaft storage"
    local cluster_id
    cluster_id="$(java -cp "$STATE/jvm/kafka/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$STATE/jvm/kafka/*" -Dlog4j.configuration="file:$STACK_DIR/jvm/log4j.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >>"$LOGS/kafka.log" 2>&1 \
      || die "formatting Kafka storage failed: read $LOGS/kafka.log"
  fi
  launch kafka java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$STACK_DIR/jvm/log4j.properties" \
    -cp "$STATE/jvm/kafka/*" kafka.Kafka "$dir/server.properties"
}

start_connect() {
  local dir="$STATE/connect"
  mkdir -p "$dir"
  # The only worker: no other worker can return to take back its connector, so its lost tasks are assigned at once.
  connect_worker_properties "127.0.0.1:$FLEETCAP_KAFKA_PORT" fleetcap-connect "$FLEETCAP_CONNECT_PORT" 1 0 \
    >"$dir/connect.properties"
  # Kafka Connect reads its REST users once, at start (PropertyFileLoginModule caches the file): up restarts it when
  # the password changed since (apply_secrets_to_running compares this stamp).
  mkdir -p "$RUN" && connect_rest_stamp >"$RUN/connect-rest.stamp"
  launch connect java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Djava.security.auth.login.config="$dir/jaas.conf" \
    -Dlog4j.configuration="file:$STACK_DIR/jvm/log4j.properties" \
    -cp "$STATE/jvm/connect/*" org.apache.kafka.connect.cli.ConnectDistributed "$dir/connect.properties"
}

# The local CA and the certificates of splitcap and the console (for 127.0.0.1, ::1 and localhost), made once and
# again when a certificate is 30 days from expiry: splitcap and the console serve HTTPS with them, agents and browsers
# verify against ca.crt. Keys are 0600.
make_tls() {
  local dir="$STATE/tls"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [[ ! -f "$dir/ca.key" || ! -f "$dir/ca.crt" ]] || ! openssl x509 -checkend 2592000 -noout -in "$dir/ca.crt" >/dev/null 2>&1; then
    say "making the local CA ($dir/ca.crt)"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=fleetcap local CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>>"$LOGS/tls.log") \
      || die "openssl could not make the CA: read $LOGS/tls.log"
    rm -f "$dir/splitcap.crt" "$dir/console.crt"
  fi
  local name
  for name in splitcap console; do
    if [[ ! -f "$dir/$name.key" || ! -f "$dir/$name.crt" ]] || ! openssl x509 -checkend 2592000 -noout -in "$dir/$name.crt" >/dev/null 2>&1; then
      say "making the $name certificate ($dir/$name.crt, signed by the local CA)"
      (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>>"$LOGS/tls.log" \
        && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$dir/$name.ext" \
        && openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
          -days 825 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>>"$LOGS/tls.log") \
        || die "openssl could not make the $name certificate: read $LOGS/tls.log"
      rm -f "$dir/$name.csr" "$dir/$name.ext"
    fi
    chmod 600 "$dir/$name.key"
    chmod 644 "$dir/$name.crt"
  done
  chmod 600 "$dir/ca.key"
  chmod 644 "$dir/ca.crt"
}

# The secrets the stack generates once (0600 files under .stack/secrets/, one per account; the apps read them from
# their files, lib/src/config/secrets.ts), then the servers' files made from them (stack/server-secrets.ts). A file
# an operator replaced (rotation, docs/OPERATIONS.md) is kept; `up` puts its value into the servers.
SECRET_NAMES=(
  mysql-admin mysql-worker mysql-report mysql-cdc mysql-configsync mysql-detector mysql-splitcap mysql-console
  redis-fleetcap redis-splitcap redis-worker redis-detector redis-console redis-replica
  amqp-fleetcap amqp-splitcap amqp-worker amqp-detector
  connect-rest zk-configsync forecast-token grafana-admin
)
make_secrets() {
  local dir="$STATE/secrets"
  mkdir -p "$dir" "$STATE/redis" "$STATE/rabbitmq" "$STATE/connect"
  chmod 700 "$dir"
  local name
  # The console signs its session cookies with this (not an account's password: no server gets it).
  if [[ ! -s "$dir/console-session.secret" ]]; then
    (umask 077 && openssl rand -base64 33 | tr '+/' '-_' >"$dir/console-session.secret")
  fi
  chmod 600 "$dir/console-session.secret"
  # docker-compose's host agent: an agent secret (fca1_ and 32 random bytes, as `fleetcap agents add` makes) that
  # compose's stack-init enrolls in agent_credential and its listener reads; the local stack does not use it.
  if [[ ! -s "$dir/compose-agent.secret" ]]; then
    (umask 077 && printf 'fca1_%s\n' "$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')" >"$dir/compose-agent.secret")
  fi
  chmod 600 "$dir/compose-agent.secret"
  # docker-compose's cluster profile: the Erlang cookie its three RabbitMQ nodes share (stack/rabbitmq-cluster.sh
  # makes its own for the local cluster).
  if [[ ! -s "$dir/rabbitmq-cluster.cookie" ]]; then
    (umask 077 && openssl rand -hex 20 | tr 'a-f' 'A-F' >"$dir/rabbitmq-cluster.cookie")
  fi
  chmod 600 "$dir/rabbitmq-cluster.cookie"
  for name in "${SECRET_NAMES[@]}"; do
    if [[ ! -s "$dir/$name.password" ]]; then
      (umask 077 && openssl rand -base64 33 | tr '+/' '-_' >"$dir/$name.password")
    fi
    chmod 600 "$dir/$name.password"
  done
  # The servers' files are made again, and given to running servers, only when a secret or the accounts' rules
  # (server-secrets.ts: a user's keys and commands) changed, or a file is missing: it costs a few seconds, which every
  # `up` of `fleetcap run` and the tests would pay.
  SECRETS_STAMP="$(cat "$dir"/*.password "$STACK_DIR/server-secrets.ts" | sha256sum | cut -c1-16)"
  SECRETS_CHANGED=0
  if [[ "$(cat "$RUN/secrets.stamp" 2>/dev/null)" != "$SECRETS_STAMP" || ! -f "$STATE/redis/users.acl" \
    || ! -f "$STATE/rabbitmq/definitions.json" || ! -f "$STATE/connect/jaas.conf" || ! -f "$dir/connect-cdc.properties" ]]; then
    probe write-server-secrets >/dev/null
    SECRETS_CHANGED=1
  fi
}

stop_server() {
  local s="$1" pidfile="$RUN/$1.pid"
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $s (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$s did not stop within 30s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

rabbitmqctl_node() {
  env HOME="$STATE/rabbitmq" /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$FLEETCAP_RABBITMQ_NODENAME" "$@"
}

# Servers that run already get the current secrets without a restart (this also upgrades a stack that ran with the
# old built-in passwords): Redis loads the ACL users, RabbitMQ imports its definitions and loses the old defaults,
# MariaDB's admin is rebound and rotated (bootstrap_mariadb_admin, and the app accounts by `fleetcap migrate`).
# Kafka Connect reads its REST users and extension at start only: one started without them is restarted.
connect_rest_stamp() { sha256sum <"$STATE/secrets/connect-rest.password" | cut -c1-16; }

apply_secrets_to_running() {
  if [[ "$SECRETS_CHANGED" == 1 ]] && pid_alive redis; then probe apply-redis-acl >/dev/null || die "could not load the Redis ACL users: read $LOGS/redis.log"; fi
  if [[ "$SECRETS_CHANGED" == 1 ]] && pid_alive rabbitmq; then
    local conf="$STATE/rabbitmq/rabbitmq.conf"
    if grep -q '^default_pass' "$conf" 2>/dev/null; then sed -i '/^default_user/d;/^default_pass/d' "$conf"; fi
    rabbitmqctl_node import_definitions "$STATE/rabbitmq/definitions.json" >/dev/null \
      || die "could not import RabbitMQ's users (rabbitmqctl import_definitions): read $LOGS/rabbitmq.log"
    rabbitmqctl_node delete_user guest >/dev/null 2>&1 || true
  fi
  if pid_alive connect && ! grep -q BasicAuthSecurityRestExtension "$STATE/connect/connect.properties" 2>/dev/null; then
    say "Kafka Connect runs without REST authentication: restarting it"
    stop_server connect || true
  elif pid_alive connect && [[ -f "$RUN/connect-rest.stamp" && "$(cat "$RUN/connect-rest.stamp")" != "$(connect_rest_stamp)" ]]; then
    say "Kafka Connect's REST password changed: restarting it (it reads its users at start)"
    stop_server connect || true
  fi
  # ZooKeeper logs each refused change (audit.enable, zoo.cfg): one started before that setting is restarted once.
  # Likewise for the line per ACL refusal (authProvider.ip, stack/zookeeper/AclRefusalLog.java).
  if pid_alive zookeeper && ! { grep -q '^audit.enable=true' "$STATE/zookeeper/zoo.cfg" \
    && grep -q '^authProvider.ip=org.fleetcap.zookeeper.AclRefusalLog' "$STATE/zookeeper/zoo.cfg"; } 2>/dev/null; then
    say "ZooKeeper runs without its audit log or its refusal log: restarting it"
    stop_server zookeeper || true
  fi
}

cmd_up() {
  local t0=$SECONDS
  bash "$STACK_DIR/install.sh"
  mkdir -p "$LOGS" "$RUN"
  make_tls
  make_secrets
  apply_secrets_to_running
  local health
  health="$(probe check-all --quiet || true)"
  healthy() { grep -qx "$1" <<<"$health"; }

  # The cluster stack runs MariaDB alone (and Kafka and Connect alone until Kafka has its cluster script); the
  # probe checks only these (FLEETCAP_STACK_SERVERS), the clusters answer their own scripts.
  local independent=(mariadb redis rabbitmq zookeeper) kafka_single=1
  if [[ $CLUSTER_MODE == 1 ]]; then
    independent=(mariadb)
    [[ -f "$STACK_DIR/kafka-cluster.sh" ]] && kafka_single=0
    if [[ $kafka_single == 1 ]]; then export FLEETCAP_STACK_SERVERS="mariadb kafka connect"
    else export FLEETCAP_STACK_SERVERS="mariadb"; fi
  fi
  # The four independent servers start together; the JVM chain (Kafka, then Connect) follows.
  local started=()
  for s in "${independent[@]}"; do
    if healthy "$s"; then continue; fi
    pid_alive "$s" || "start_$s"
    started+=("$s")
  done
  for s in "${started[@]}"; do
    case "$s" in
      rabbitmq) wait_healthy "$s" 120 ;;
      *) wait_healthy "$s" 60 ;;
    esac
  done
  bootstrap_mariadb_admin
  if [[ $kafka_single == 1 ]]; then
    if ! healthy kafka; then
      pid_alive kafka || start_kafka
      wait_healthy kafka 90
    fi
    if ! healthy connect; then
      pid_alive connect || start_connect
      wait_healthy connect 120
    fi
  fi
  if [[ $CLUSTER_MODE == 1 ]]; then
    # Before the clusters: kafka-cluster.sh registers its connector against the migrated MariaDB.
    say "applying SQL migrations"
    (cd "$REPO_DIR" && node --import tsx --conditions=fleetcap-source "$REPO_DIR/cli/src/main.ts" migrate)
    start_clusters
    # The probe (the connector) and what follows use the clusters' addresses.
    set -a
    # shellcheck source=/dev/null
    source "$CLUSTER_ENV"
    set +a
  fi

  if [[ $CLUSTER_MODE != 1 ]]; then
    say "applying SQL migrations"
    (cd "$REPO_DIR" && node --import tsx --conditions=fleetcap-source "$REPO_DIR/cli/src/main.ts" migrate)
  fi
  say "registering the Debezium connector for sniffer_config"
  # After a change of secrets its task starts again, to log in with the CDC password of connect-cdc.properties.
  if [[ "$SECRETS_CHANGED" == 1 ]]; then probe register-connector --restart; else probe register-connector; fi
  start_refusal_exporter
  [[ "${FLEETCAP_STACK_ALERTING:-0}" == 1 ]] && bash "$STACK_DIR/alerting.sh" up
  # Every server has the current secrets: the next `up` gives them again only when one changes.
  echo "$SECRETS_STAMP" >"$RUN/secrets.stamp"
  say "stack is up in $((SECONDS - t0))s"
  probe check-all
  if [[ $CLUSTER_MODE == 1 ]]; then cluster_status; fi
}

# The cluster scripts of the stack (stack/cluster-lib.sh's interface): `up --cluster` starts them together.
cluster_scripts() {
  local s
  for s in redis-cluster rabbitmq-cluster zookeeper-ensemble kafka-cluster; do
    [[ -f "$STACK_DIR/$s.sh" ]] && echo "$s"
  done
}

# Starts every cluster, then HAProxy, and writes the apps' settings (cluster.env): one line each, as `export` would.
start_clusters() {
  # The four clusters need nothing of each other (Kafka runs KRaft, not ZooKeeper; its connector needs only MariaDB,
  # migrated before): they start side by side, which took the start from about 2.5 min to the slowest one's (Kafka's).
  local s i pids=() names=() failed=()
  for s in $(cluster_scripts); do
    bash "$STACK_DIR/$s.sh" up &
    pids+=("$!")
    names+=("$s")
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
  for s in "${failed[@]}"; do say "$s did not start: bash stack/$s.sh status, and its node logs under $STATE/$s/"; done
  ((${#failed[@]} == 0)) || die "clusters that did not start: ${failed[*]}"
  local tmp="$CLUSTER_ENV.tmp"
  {
    echo "# written by stack.sh up --cluster: the apps' settings for the cluster stack (source it before starting them)"
    echo "FLEETCAP_REDIS_CLUSTER_NODES=$(bash "$STACK_DIR/redis-cluster.sh" nodes)"
    # A 202 means "on a master and its replica": Redis Cluster replicates asynchronously, and a master killed before
    # its replica had an append loses it at the failover (docs/ARCHITECTURE.md, "What a 202 promises").
    echo "FLEETCAP_REDIS_WAIT_REPLICAS=1"
    echo "FLEETCAP_AMQP_CLUSTER_NODES=$(bash "$STACK_DIR/rabbitmq-cluster.sh" urls)"
    echo "FLEETCAP_ZK_CONNECT=$(bash "$STACK_DIR/zookeeper-ensemble.sh" connect)"
    # FLEETCAP_KAFKA_BROKERS=… and FLEETCAP_CONNECT_URL=… (kafka-cluster.sh env).
    if [[ -f "$STACK_DIR/kafka-cluster.sh" ]]; then bash "$STACK_DIR/kafka-cluster.sh" env | grep '^FLEETCAP_'; fi
    echo "FLEETCAP_SPLITCAP_BALANCER_URL=https://127.0.0.1:$FLEETCAP_SPLITCAP_BALANCER_PORT"
    echo "FLEETCAP_SPLITCAP_REPLICA_PORTS=$FLEETCAP_SPLITCAP_REPLICA_PORT,$((FLEETCAP_SPLITCAP_REPLICA_PORT + 1))"
  } >"$tmp"
  mv "$tmp" "$CLUSTER_ENV"
  start_balancer
  say "cluster settings for the apps: $CLUSTER_ENV"
}

# HAProxy before the two splitcaps (ports FLEETCAP_SPLITCAP_REPLICA_PORT and +1) on FLEETCAP_SPLITCAP_BALANCER_PORT,
# TLS passed through (mode tcp): splitcap keeps terminating TLS with the stack's certificate and checking the agents'
# tokens, so an agent sees one splitcap. Each replica is checked with GET /healthz over TLS, verified against the
# stack's CA, every second; two failed checks take it out, and the connections it had are closed so that their
# agents retry on the other one (an upload is safe to retry: docs/ARCHITECTURE.md, "What a 202 promises").
start_balancer() {
  local dir="$STATE/balancer" first="$FLEETCAP_SPLITCAP_REPLICA_PORT"
  mkdir -p "$dir"
  cat >"$dir/haproxy.cfg" <<CONF
global
  maxconn 2000
  log stdout format short local0 info
defaults
  mode tcp
  log global
  option tcplog
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # An upload refused by a replica that went down before it answered is sent again by the agent, not by HAProxy.
  retries 2
frontend splitcap
  bind 127.0.0.1:$FLEETCAP_SPLITCAP_BALANCER_PORT
  default_backend splitcaps
backend splitcaps
  balance leastconn
  option httpchk
  http-check send meth GET uri /healthz
  http-check expect status 200
  default-server check check-ssl verify required ca-file $STATE/tls/ca.crt inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
  server splitcap-1 127.0.0.1:$first
  server splitcap-2 127.0.0.1:$((first + 1))
frontend stats
  mode http
  bind 127.0.0.1:$((FLEETCAP_SPLITCAP_BALANCER_PORT + 1))
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
CONF
  haproxy -c -q -f "$dir/haproxy.cfg" >>"$LOGS/balancer.log" 2>&1 \
    || die "HAProxy refused its configuration $dir/haproxy.cfg: read $LOGS/balancer.log"
  if pid_alive balancer; then
    # A running HAProxy takes the configuration again: stop it and start it (a second or so without the balancer).
    stop_one balancer || true
  fi
  launch balancer haproxy -db -f "$dir/haproxy.cfg"
  for _ in $(seq 1 20); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$((FLEETCAP_SPLITCAP_BALANCER_PORT + 1))/stats" 2>/dev/null; then
      say "HAProxy for splitcap on 127.0.0.1:$FLEETCAP_SPLITCAP_BALANCER_PORT (replicas on $first and $((first + 1)); stats http://127.0.0.1:$((FLEETCAP_SPLITCAP_BALANCER_PORT + 1))/stats)"
      return
    fi
    pid_alive balancer || break
    sleep 0.5
  done
  tail -n 20 "$LOGS/balancer.log" >&2 || true
  die "HAProxy did not start: read $LOGS/balancer.log"
}

cluster_status() {
  local s
  for s in $(cluster_scripts); do
    echo "$s:"
    bash "$STACK_DIR/$s.sh" status | sed 's/^/  /' || true
  done
  if pid_alive balancer; then
    echo "balancer: HAProxy on 127.0.0.1:$FLEETCAP_SPLITCAP_BALANCER_PORT, replicas:"
    curl -fsS "http://127.0.0.1:$((FLEETCAP_SPLITCAP_BALANCER_PORT + 1))/stats;csv" 2>/dev/null \
      | awk -F, '$1 == "splitcaps" && $2 != "BACKEND" { printf "  %s %s\n", $2, $18 }' || true
  else
    echo "balancer: not running"
  fi
}

# The refusal exporter (apps/refusal-exporter) follows ZooKeeper's and MariaDB's logs on this host and counts every
# refusal in /metrics: it runs beside the servers because it reads their files. One started from older sources, or
# one that is not healthy, is started again.
start_refusal_exporter() {
  local url="http://127.0.0.1:$FLEETCAP_REFUSAL_EXPORTER_PORT/healthz" stamp
  stamp="$(cat "$REPO_DIR"/apps/refusal-exporter/src/*.ts | sha256sum | cut -c1-16)"
  if pid_alive refusal-exporter && [[ "$(cat "$RUN/refusal-exporter.stamp" 2>/dev/null)" == "$stamp" ]] \
    && curl -fsS -o /dev/null "$url" 2>/dev/null; then
    return
  fi
  stop_one refusal-exporter || true
  echo "$stamp" >"$RUN/refusal-exporter.stamp"
  # The ensemble's servers log to their own files without the refusal log (stack/zookeeper-ensemble.sh): on the cluster
  # stack it follows MariaDB's log alone.
  if [[ $CLUSTER_MODE == 1 && ! -f "$LOGS/zookeeper.log" ]]; then export FLEETCAP_REFUSAL_ZOOKEEPER_LOG=off; fi
  launch refusal-exporter node --import tsx --conditions=fleetcap-source "$REPO_DIR/apps/refusal-exporter/src/main.ts"
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      say "refusal-exporter is healthy: http://127.0.0.1:$FLEETCAP_REFUSAL_EXPORTER_PORT/metrics"
      return
    fi
    pid_alive refusal-exporter || break
    sleep 0.5
  done
  tail -n 20 "$LOGS/refusal-exporter.log" >&2 || true
  die "refusal-exporter did not become healthy: read $LOGS/refusal-exporter.log"
}

# Stops one server: SIGTERM to its process group, SIGKILL after 30 s.
stop_one() {
  local s="$1" pidfile="$RUN/$1.pid"
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  local was=1
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $s (pid $pid)"
    was=0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$s did not stop within 30s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
  return $was
}

cmd_down() {
  local any=0
  bash "$STACK_DIR/alerting.sh" down
  stop_one refusal-exporter && any=1
  # The cluster stack's parts, when it ran (their scripts stop only the nodes their pid files name).
  stop_one balancer && any=1
  local c
  for c in $(cluster_scripts); do
    if [[ -d "$STATE/$c" ]]; then bash "$STACK_DIR/$c.sh" down; fi
  done
  rm -f "$CLUSTER_ENV"
  for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
    stop_one "${SERVERS[$i]}" && any=1
    if stop_server "${SERVERS[$i]}"; then any=1; fi
  done
  # RabbitMQ's Erlang port mapper outlives the node; -kill stops it only when no node is registered.
  epmd -kill >/dev/null 2>&1 || true
  [[ $any -eq 1 ]] && say "stack is down" || say "stack was not running"
}

cmd_restart() {
  local s="${1:-}"
  [[ " ${SERVERS[*]} " == *" $s "* ]] || die "usage: stack.sh restart SERVER (one of: ${SERVERS[*]})"
  stop_one "$s" || true
  "start_$s"
  case "$s" in
    rabbitmq | connect) wait_healthy "$s" 120 ;;
    *) wait_healthy "$s" 90 ;;
  esac
}

# The secrets and the CA alone, without starting anything: what docker-compose.yml mounts as compose secrets.
cmd_secrets() {
  mkdir -p "$LOGS" "$RUN"
  make_tls
  make_secrets
  # Servers that run get them at the next `up` (the stamp is written by `up` only).
  say "secrets in $STATE/secrets, certificates in $STATE/tls"
}

cmd_status() {
  if [[ -f "$CLUSTER_ENV" ]]; then
    local rc=0
    if [[ -f "$STACK_DIR/kafka-cluster.sh" ]]; then FLEETCAP_STACK_SERVERS=mariadb probe check-all || rc=$?
    else FLEETCAP_STACK_SERVERS="mariadb kafka connect" probe check-all || rc=$?; fi
    cluster_status
    return "$rc"
  fi
  probe check-all
}

cmd_logs() {
  if [[ $# -eq 0 ]]; then
    for s in "${SERVERS[@]}"; do printf '%-10s %s\n' "$s" "$LOGS/$s.log"; done
    return
  fi
  [[ -f "$LOGS/$1.log" ]] || die "no log for '$1': expected $LOGS/$1.log (servers: ${SERVERS[*]})"
  tail -n 100 -F "$LOGS/$1.log"
}

cmd_reset() {
  cmd_down
  rm -rf "${STATE:?}/mariadb" "$STATE/redis" "$STATE/rabbitmq" "$STATE/zookeeper" "$STATE/kafka" "$STATE/connect" "$LOGS"
  say "stack data deleted"
}

case "${1:-}" in
  up)
    case "${2:-}" in
      --cluster) CLUSTER_MODE=1 ;;
      '') ;;
      *) die "usage: stack.sh up [--cluster]" ;;
    esac
    cmd_up
    ;;
  down) cmd_down ;;
  status) cmd_status ;;
  secrets) cmd_secrets ;;
  logs) shift; cmd_logs "$@" ;;
  reset) cmd_reset ;;
  restart) shift; cmd_restart "$@" ;;
  *) die "usage: stack.sh up [--cluster]|down|status|logs [server]|reset|restart SERVER|secrets" ;;
esac
