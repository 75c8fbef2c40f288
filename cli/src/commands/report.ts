// `fleetcap report` and `fleetcap agents`: the reporting views as tables, read with the reporting
// account (which can write nothing).

import { loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccounts } from '@fleetcap/lib/db/accounts';
import Table from 'cli-table3';
import type { Command } from 'commander';
import mysql from 'mysql2/promise';

export interface ReportSection {
  title: string;
  sql: string;
}

export const reportSections: ReportSection[] = [
  {
    title: 'Sessions and alerts per label',
    sql: `SELECT label, SUM(sessions) AS sessions, SUM(alerts) AS alerts, SUM(packets) AS packets, SUM(bytes) AS bytes
          FROM report_verdicts_per_agent GROUP BY label ORDER BY sessions DESC`,
  },
  {
    title: 'Alerts per hour by the class alerted as (last 24 hours; by_detection: evidence of a detection)',
    sql: `SELECT hour, label, alerts, by_model, by_detection, agents, clients, servers, ROUND(avg_score, 3) AS avg_score FROM report_alerts_per_hour
          WHERE hour >= DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 24 HOUR, '%Y-%m-%d %H:00:00') ORDER BY hour DESC, alerts DESC LIMIT 50`,
  },
  {
    title: 'Verdicts per label per hour (last 24 hours)',
    sql: `SELECT hour, label, sessions, alerts, unknown, ROUND(avg_score, 3) AS avg_score FROM report_verdicts_per_label_hour
          WHERE hour >= DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 24 HOUR, '%Y-%m-%d %H:00:00') ORDER BY hour DESC, sessions DESC LIMIT 50`,
  },
  {
    title: 'Alerts by label and endpoints (most recent 20)',
    sql: `SELECT label, client_addr AS attacker, server_addr AS target, COUNT(*) AS sessions,
                 COUNT(DISTINCT server_port) AS target_ports,
                 GROUP_CONCAT(DISTINCT server_port ORDER BY server_port SEPARATOR ',' LIMIT 6) AS first_ports,
                 ROUND(AVG(score), 3) AS avg_score, MIN(first_packet_at) AS first_seen, MAX(last_packet_at) AS last_seen,
                 GROUP_CONCAT(DISTINCT agent_id SEPARATOR ',') AS agents
          FROM report_malicious_sessions GROUP BY label, client_addr, server_addr ORDER BY last_seen DESC LIMIT 20`,
  },
  {
    title:
      "Alerts (most recent 10; why: the model's alert or a detection's evidence; their packets: npx fleetcap pcap <id>)",
    sql: `SELECT id, alert_label AS alerted_as, alert_reason AS why, detector, label AS model_label,
                 ROUND(score, 3) AS score, protocol, CONCAT(client_addr, ':', client_port) AS client,
                 CONCAT(server_addr, ':', server_port) AS server, packets, packets_kept, first_packet_at, agent_id,
                 community_id
          FROM report_alerts ORDER BY first_packet_at DESC LIMIT 10`,
  },
  {
    title: 'Sessions with their connection record and application metadata (most recent 10)',
    sql: `SELECT id, label, IF(alert, CONCAT(alert_label, ' (', alert_reason, ')'), '') AS alert, protocol,
                 CONCAT(client_addr, ':', client_port) AS client, CONCAT(server_addr, ':', server_port) AS server, service,
                 LEFT(COALESCE(tls_sni, http_host, dns_query, ssh_client), 40) AS about,
                 IF(open, 'open', conn_state) AS conn_state, history, orig_pkts + resp_pkts AS all_packets,
                 ROUND(duration, 3) AS duration, first_packet_at
          FROM report_sessions ORDER BY first_packet_at DESC LIMIT 10`,
  },
  {
    title: 'Conversations seen by several agents (most recent 10)',
    sql: `SELECT community_id, protocol, CONCAT(client_addr, ':', client_port) AS client,
                 CONCAT(server_addr, ':', server_port) AS server, agents, labels, ROUND(max_score, 3) AS max_score,
                 first_packet_at
          FROM report_conversations_multi_agent ORDER BY first_packet_at DESC LIMIT 10`,
  },
  {
    title: 'Detections: scans, floods, brute force, beaconing across sessions and agents (most recent 10)',
    sql: `SELECT detector, source_addr AS source, target, peak_count AS peak, threshold, sessions,
                 distinct_targets AS targets, distinct_sources AS sources, agents, first_seen, last_seen
          FROM report_detections ORDER BY last_seen DESC LIMIT 10`,
  },
  {
    title: 'Top talkers (by bytes)',
    sql: `SELECT client_addr, sessions, bytes, distinct_servers, distinct_server_ports, alerts
          FROM report_top_talkers ORDER BY bytes DESC LIMIT 10`,
  },
];

export const agentsSql = `SELECT agent_id, device, bpf_filter, enabled, config_revision, applied_revision, config_applied,
  online, state, last_error, config_error, captured, kernel_drops, batches_uploaded, spool_dropped, last_seen
  FROM report_agents ORDER BY agent_id`;

/** The columns an operator checks first: what each agent was told, whether it applied it, whether it captures. */
export const agentsSummarySql = `SELECT agent_id, device, bpf_filter, config_revision, applied_revision, config_applied,
  online, state, captured, kernel_drops, COALESCE(config_error, last_error) AS error
  FROM report_agents ORDER BY agent_id`;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString().replace('T', ' ').slice(0, 23);
  return String(v);
}

export function renderTable(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '  (none)';
  const head = Object.keys(rows[0]!);
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) table.push(head.map((h) => cell(r[h])));
  return table.toString();
}

export async function withReportConnection<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = loadConnections();
  const account = loadAccounts().report;
  let c: mysql.Connection;
  try {
    c = await mysql.createConnection({ ...conn.mysql, user: account.user, password: account.password, timezone: 'Z' });
  } catch (err) {
    throw new Error(
      `cannot reach MariaDB at ${conn.mysql.host}:${conn.mysql.port} as ${account.user}: ${(err as Error).message}. Is the stack up? (npx fleetcap status)`,
    );
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function printReport(out: (line: string) => void = console.log): Promise<void> {
  await withReportConnection(async (c) => {
    for (const s of reportSections) {
      const [rows] = await c.query(s.sql);
      out(`\n${s.title}`);
      out(renderTable(rows as Array<Record<string, unknown>>));
    }
  });
}

export async function printAgents(out: (line: string) => void = console.log, sql = agentsSql): Promise<void> {
  await withReportConnection(async (c) => {
    const [rows] = await c.query(sql);
    out(renderTable(rows as Array<Record<string, unknown>>));
  });
}

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description(
      'the reporting views as tables: sessions and alerts per label, per hour, the alerts, conversations seen by several agents, top talkers',
    )
    .action(async () => {
      try {
        await printReport();
      } catch (err) {
        console.error(`fleetcap report: ${(err as Error).message}`);
        process.exit(1);
      }
    });
  program
    .command('agents')
    .description('every agent: its config in SQL, what it applied, whether it is online, its counters and errors')
    .action(async () => {
      try {
        await printAgents();
      } catch (err) {
        console.error(`fleetcap agents: ${(err as Error).message}`);
        process.exit(1);
      }
    });
}
