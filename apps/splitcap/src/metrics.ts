// splitcap's Prometheus metrics.
import { Counter, createRegistry, Gauge, Histogram } from '@fleetcap/lib/telemetry/metrics';

export function createMetrics() {
  const registry = createRegistry('splitcap');
  return {
    registry,
    batches: new Counter({
      name: 'fleetcap_splitcap_batches_total',
      help: 'Uploaded batches by outcome (stored, resumed: a retry of an attempt that stopped after its append, duplicate, rejected, unavailable)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    packets: new Counter({
      name: 'fleetcap_splitcap_packets_total',
      help: 'Packets of accepted batches by fate (stored, skipped-<reason>, over-max, session-done)',
      labelNames: ['fate'] as const,
      registers: [registry],
    }),
    scheduled: new Counter({
      name: 'fleetcap_splitcap_sessions_scheduled_total',
      help: 'Session messages published, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    recordUpdates: new Counter({
      name: 'fleetcap_splitcap_record_updates_total',
      help: "Sessions' connection records per batch, by outcome (started, updated, straggler, duplicate, conflict, corrupt)",
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    recordLeftOut: new Counter({
      name: 'fleetcap_splitcap_record_left_out_packets_total',
      help: "Packets not added to their session's connection record, by reason: ended (a packet of the batch starts another connection on the flow, e.g. a SYN after data when batches arrive out of order), straggler (the connection's row is completed). They are in the verdict's packets when they came before it",
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'fleetcap_splitcap_dropped_packets_total',
      help: "Packets of acknowledged batches in no verdict and no connection record, by reason (skipped-<decoder reason>: never sessionized; straggler: came after its session's row was completed and its record was closed). The same counts are in MariaDB: packet_drop",
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    dropCopyAge: new Gauge({
      name: 'fleetcap_splitcap_drop_copy_age_seconds',
      help: 'Seconds since the dropped-packet counts were last copied into packet_drop (grows while MariaDB is away)',
      registers: [registry],
    }),
    recordPackets: new Counter({
      name: 'fleetcap_splitcap_record_packets_total',
      help: 'Packets added to connection records (every packet of a connection, also those after its verdict)',
      registers: [registry],
    }),
    authRefusals: new Counter({
      name: 'fleetcap_splitcap_auth_refusals_total',
      help: 'Uploads refused before their body was read, by reason (missing-agent, missing-token, unknown-token, revoked, expired, other-agent, not-loaded)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    tlsRefusals: new Counter({
      name: 'fleetcap_splitcap_tls_refusals_total',
      help: 'Connections refused during the TLS handshake, by reason (plaintext: an HTTP request to the HTTPS port; handshake: any other TLS error)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    credentialAgents: new Gauge({
      name: 'fleetcap_splitcap_credential_agents',
      help: 'Agents with a valid credential (agent_credential rows in force, plus FLEETCAP_SPLITCAP_TOKENS agents the table does not know)',
      registers: [registry],
    }),
    credentialLoadAge: new Gauge({
      name: 'fleetcap_splitcap_credential_load_age_seconds',
      help: 'Seconds since agent_credential was last read successfully (grows while MariaDB is away)',
      registers: [registry],
    }),
    ingestSeconds: new Histogram({
      name: 'fleetcap_splitcap_ingest_seconds',
      help: 'Time from request body received to answer',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
export type SplitcapMetrics = ReturnType<typeof createMetrics>;
