// The Debezium MariaDB connector that streams sniffer_config changes into Kafka (the role Canal had
// in the reference design). Only that table is captured; keys and values are schemaless JSON so
// consumers read the plain Debezium envelope {before, after, source, op, ts_ms}.
import type { Account } from '../db/accounts.ts';

export const connectorName = 'fleetcap-sniffer-config';
export const topicPrefix = 'fleetcap';

export function snifferConfigTopic(database: string): string {
  return `${topicPrefix}.${database}.sniffer_config`;
}

export interface ConnectorSettings {
  mysqlHost: string;
  mysqlPort: number;
  database: string;
  cdc: Account;
  kafkaBrokers: string[];
  /**
   * The binlog client's server id (default 184054). Two connectors reading one MariaDB (the stack's Connect and the
   * cluster's, stack/kafka-cluster.sh) need two ids: MariaDB drops the older connection of a server id that logs in again.
   */
  serverId?: number;
  /** Replication factor of the topics the connector creates (default 1: one broker; 3 on stack/kafka-cluster.sh). */
  replicationFactor?: number;
}

export function snifferConfigConnector(s: ConnectorSettings): Record<string, string> {
  return {
    'connector.class': 'io.debezium.connector.mariadb.MariaDbConnector',
    'tasks.max': '1',
    'database.hostname': s.mysqlHost,
    'database.port': String(s.mysqlPort),
    'database.user': s.cdc.user,
    'database.password': s.cdc.password,
    // Must differ from every MariaDB server id and other binlog client of the same server.
    'database.server.id': String(s.serverId ?? 184054),
    // The MariaDB driver Debezium bundles rejects the connector's default ssl mode ('preferred').
    'database.ssl.mode': 'disabled',
    'topic.prefix': topicPrefix,
    'database.include.list': s.database,
    'table.include.list': `${s.database}.sniffer_config`,
    'include.schema.changes': 'false',
    'schema.history.internal.kafka.bootstrap.servers': s.kafkaBrokers.join(','),
    'schema.history.internal.kafka.topic': `${topicPrefix}.schema-history`,
    'snapshot.mode': 'initial',
    // Debezium waits this long for more binlog events before handing a batch to Kafka (default 500 ms):
    // most of an UPDATE's way to the agents was this wait (bench/config-propagation).
    'poll.interval.ms': '100',
    'snapshot.locking.mode': 'minimal',
    // The binlog client finds a lost connection (a MariaDB restart) by a ping from its keep-alive thread, once per
    // interval, and only the second ping after the loss fails: at the default of 60 s the connector read no binlog for
    // about two minutes after each restart while its task said RUNNING (measured: 118 s; the fault run's config probe
    // failed). A ping a second reconnects it within a few seconds of MariaDB being back.
    'connect.keep.alive.interval.ms': '1000',
    'tombstones.on.delete': 'false',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': 'false',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': 'false',
    'topic.creation.default.replication.factor': String(s.replicationFactor ?? 1),
    'topic.creation.default.partitions': '3',
  };
}
