// The listener's Prometheus metrics: its own state and its sniffers' counters (summed over every sniffer it has
// run, so they only grow while the listener lives), read at scrape time from the given source.
import type { SnifferCounters } from '@fleetcap/lib/agent/ipc';
import { createRegistry, Gauge, type Registry } from '@fleetcap/lib/telemetry/metrics';

export interface ListenerMetricsSource {
  zookeeperConnected(): boolean;
  appliedRevision(): number | null;
  capturing(): boolean;
  snifferRestarts(): number;
  counters(): SnifferCounters;
  /** ZooKeeper calls refused for want of permission (NO_AUTH: a revoked agent, or a wrong secret). */
  zookeeperRefusals?(): number;
}

export function createListenerMetrics(source: ListenerMetricsSource): { registry: Registry } {
  const registry = createRegistry('listener');
  const gauges: Array<[string, string, () => number]> = [
    [
      'fleetcap_listener_zookeeper_connected',
      '1 while a ZooKeeper session is connected',
      () => (source.zookeeperConnected() ? 1 : 0),
    ],
    ['fleetcap_listener_applied_revision', 'config revision running', () => source.appliedRevision() ?? -1],
    ['fleetcap_listener_capturing', '1 while a sniffer captures', () => (source.capturing() ? 1 : 0)],
    ['fleetcap_listener_sniffer_restarts', 'sniffer restarts after unexpected exits', () => source.snifferRestarts()],
    [
      'fleetcap_listener_zookeeper_refusals',
      'ZooKeeper calls refused with NO_AUTH (this agent may not read its config or write its live node)',
      () => source.zookeeperRefusals?.() ?? 0,
    ],
    ['fleetcap_agent_captured', 'packets captured', () => source.counters().captured],
    [
      'fleetcap_agent_kernel_drops',
      'packets dropped by the kernel (libpcap ps_drop, reported by the sniffers)',
      () => source.counters().kernelDrops,
    ],
    ['fleetcap_agent_batches_uploaded', 'batches uploaded', () => source.counters().batchesUploaded],
    ['fleetcap_agent_spooled', 'batches waiting in the spool', () => source.counters().spooled],
    ['fleetcap_agent_spool_dropped', 'batches dropped from the spool', () => source.counters().spoolDropped],
  ];
  for (const [name, help, value] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  }
  return { registry };
}
