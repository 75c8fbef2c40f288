// refusal-exporter's Prometheus metrics.
import { Counter, createRegistry, Gauge } from '@fleetcap/lib/telemetry/metrics';

export function createMetrics() {
  const registry = createRegistry('refusal-exporter');
  return {
    registry,
    refusals: new Counter({
      name: 'fleetcap_server_refusals_total',
      help: 'Requests a server refused for want of a permission, from its log: server (zookeeper, mariadb), user (the principal; "(none)" when anonymous, "(other)" past FLEETCAP_REFUSAL_MAX_USERS), kind (zookeeper: anonymous, other-principal, wrong-password, not-permitted; mariadb: table, column, database, routine, privilege, login), operation (the permission or SQL command refused)',
      labelNames: ['server', 'user', 'kind', 'operation'] as const,
      registers: [registry],
    }),
    lines: new Counter({
      name: 'fleetcap_refusal_exporter_lines_total',
      help: 'Log lines read, by log and outcome: refusal, other (not a refusal), unparsed (a refusal line not in the expected format: logged), truncated (longer than 64 KiB)',
      labelNames: ['log', 'outcome'] as const,
      registers: [registry],
    }),
    logReadable: new Gauge({
      name: 'fleetcap_refusal_exporter_log_readable',
      help: '1 while the log file is there and read, 0 while it is missing or unreadable',
      labelNames: ['log'] as const,
      registers: [registry],
    }),
    suppressedLogLines: new Counter({
      name: 'fleetcap_refusal_exporter_suppressed_log_lines_total',
      help: 'Refusals counted but not logged one by one (over FLEETCAP_REFUSAL_LOG_PER_MINUTE for one server, user and kind)',
      labelNames: ['server'] as const,
      registers: [registry],
    }),
  };
}

export type RefusalMetrics = ReturnType<typeof createMetrics>;
