# Local defaults of the stack, shared by stack.sh and (through the same variable names) the apps.
# Every value can be overridden from the environment. No secret is here: `stack up` generates them (.stack/secrets/).
: "${FLEETCAP_STACK_HOME:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.stack}"
: "${FLEETCAP_REDIS_PORT:=6379}"
# Redis refuses writes beyond this (noeviction), and splitcap refuses uploads before (FLEETCAP_SPLITCAP_REDIS_MEMORY_*).
: "${FLEETCAP_REDIS_MAXMEMORY:=1gb}"
: "${FLEETCAP_AMQP_PORT:=5672}"
: "${FLEETCAP_RABBITMQ_NODENAME:=fleetcap@localhost}"
: "${FLEETCAP_RABBITMQ_DIST_PORT:=25672}"
: "${FLEETCAP_MYSQL_PORT:=3306}"
: "${FLEETCAP_MYSQL_SOCKET:=$FLEETCAP_STACK_HOME/mariadb/mariadbd.sock}"
: "${FLEETCAP_MYSQL_DATABASE:=fleetcap}"
: "${FLEETCAP_MYSQL_ADMIN_USER:=fleetcap_admin}"
: "${FLEETCAP_ZK_PORT:=2181}"
: "${FLEETCAP_KAFKA_PORT:=9092}"
: "${FLEETCAP_KAFKA_CONTROLLER_PORT:=9093}"
: "${FLEETCAP_CONNECT_PORT:=8083}"
# The refusal exporter `up` starts beside the servers (apps/refusal-exporter: /metrics, /healthz).
: "${FLEETCAP_REFUSAL_EXPORTER_PORT:=8097}"
export FLEETCAP_STACK_HOME FLEETCAP_REDIS_PORT FLEETCAP_REDIS_MAXMEMORY FLEETCAP_AMQP_PORT \
  FLEETCAP_RABBITMQ_NODENAME FLEETCAP_RABBITMQ_DIST_PORT FLEETCAP_MYSQL_PORT FLEETCAP_MYSQL_SOCKET \
  FLEETCAP_MYSQL_DATABASE FLEETCAP_MYSQL_ADMIN_USER FLEETCAP_ZK_PORT \
  FLEETCAP_KAFKA_PORT FLEETCAP_KAFKA_CONTROLLER_PORT FLEETCAP_CONNECT_PORT FLEETCAP_REFUSAL_EXPORTER_PORT

# The Kafka Connect worker properties both stacks write (stack.sh's one worker, kafka-cluster.sh's two): one text, so
# the two cannot drift apart. $1 the brokers (host:port,...), $2 the worker group, $3 the REST port on loopback, $4 the
# replication factor of Connect's three internal topics (1 on one broker, 3 on the cluster). What only the cluster's
# workers need (advertised REST address, partitions, rebalance timing) its script adds after this text.
connect_worker_properties() {
  local brokers="$1" group="$2" port="$3" replication="$4" rebalance_delay_ms="${5:-}"
  cat <<CONF
bootstrap.servers=$brokers
group.id=$group
listeners=http://127.0.0.1:$port
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic=fleetcap-connect-configs
offset.storage.topic=fleetcap-connect-offsets
status.storage.topic=fleetcap-connect-status
config.storage.replication.factor=$replication
offset.storage.replication.factor=$replication
status.storage.replication.factor=$replication
offset.flush.interval.ms=1000
# The REST API asks for basic auth (users in rest-users.properties, via jaas.conf); connector configs name secrets
# in files (\${file:PATH:KEY}) that the worker reads, so GET /connectors/*/config shows no password.
rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension
config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
CONF
  # How long the connectors and tasks of a worker that left the group wait for it to return before they are assigned
  # again (Kafka's default: 5 minutes). A worker whose poll timed out (a Kafka restart on a loaded machine) rejoins as
  # a new member, and its own lost tasks waited out that delay: no change events for 5 minutes (a fault run).
  if [[ -n $rebalance_delay_ms ]]; then echo "scheduled.rebalance.max.delay.ms=$rebalance_delay_ms"; fi
}
