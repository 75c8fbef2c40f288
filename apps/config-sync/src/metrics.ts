// config-sync's Prometheus metrics.
import { Counter, createRegistry, Gauge, Histogram } from '@fleetcap/lib/telemetry/metrics';

export function createMetrics() {
  const registry = createRegistry('config-sync');
  const events = new Counter({
    name: 'fleetcap_config_sync_events_total',
    help: 'Change events by outcome: created, updated, unchanged, stale (skipped), deleted, absent, invalid (config not pushed), malformed (unparseable message), ignored, dead-lettered (refused by the server after retries; skipped)',
    labelNames: ['outcome', 'format'] as const,
    registers: [registry],
  });
  return {
    registry,
    events,
    lag: new Gauge({
      name: 'fleetcap_config_sync_lag_messages',
      help: 'Messages behind the partition high watermark after the last applied event',
      labelNames: ['partition'] as const,
      registers: [registry],
    }),
    propagationSeconds: new Histogram({
      name: 'fleetcap_config_sync_propagation_seconds',
      help: 'From the database change (the binlog event time, whole seconds for Debezium) to ZooKeeper holding it',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'fleetcap_config_sync_reconcile_total',
      help: 'Reconcile runs by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconciled: new Counter({
      name: 'fleetcap_config_sync_reconciled_nodes_total',
      help: 'Config nodes written or deleted by reconcile, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: 'fleetcap_config_sync_status_writes_total',
      help: 'agent_status upserts from live nodes, by kind (online, offline)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    repaired: new Counter({
      name: 'fleetcap_config_sync_nodes_repaired_total',
      help: 'Config nodes not trusted and written again from the table, by why (revision-ahead: the node held a revision the table never had)',
      labelNames: ['why'] as const,
      registers: [registry],
    }),
    aclUpdates: new Counter({
      name: 'fleetcap_config_sync_acl_updates_total',
      help: 'ZooKeeper ACLs set from agent_credential, by node (root, agent, config, live-removed: the live node of an agent with no valid credential)',
      labelNames: ['node'] as const,
      registers: [registry],
    }),
    aclErrors: new Counter({
      name: 'fleetcap_config_sync_acl_errors_total',
      help: 'Failed passes setting the agents’ ZooKeeper ACLs (retried every poll)',
      registers: [registry],
    }),
    partitionsReleased: new Counter({
      name: 'fleetcap_config_sync_partitions_released_total',
      help: 'Batches given back to Kafka while a change event was retried, by reason (retries-exhausted: retried for too long; membership-lost: a heartbeat was refused): the consumer fetches again or rejoins, and the event is replayed',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    statusErrors: new Counter({
      name: 'fleetcap_config_sync_status_errors_total',
      help: 'Failed status mirror passes (retried by the next resync)',
      registers: [registry],
    }),
  };
}
export type ConfigSyncMetrics = ReturnType<typeof createMetrics>;
