// The SQL `fleetcap run` executes, as the admin account: it registers its agent the operator's way (an INSERT
// through the mariadb command-line client), then reads back whether the agent applied that config and which
// verdicts arrived.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConnections } from '@fleetcap/lib/config/connections';
import mysql from 'mysql2/promise';
import { rotateAgent } from '../commands/agent-credentials.ts';
import type { ScoredVerdict } from '../lab/score.ts';

async function query<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  const conn = loadConnections();
  const c = await mysql.createConnection({ ...conn.mysql, ...conn.mysqlAdmin, timezone: 'Z' });
  try {
    const [rows] = await c.query(sql, values);
    return rows as T[];
  } finally {
    await c.end();
  }
}

export interface AgentRegistration {
  agentId: string;
  device: string;
  filter: string;
  splitcapUrl: string;
}

/** The operator's way: an INSERT through the mariadb command-line client. */
export function registerAgentWithSql(agent: AgentRegistration): void {
  const conn = loadConnections();
  const sql = `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url, snaplen, batch_packets, batch_ms, upload_concurrency, enabled)
    VALUES ('${agent.agentId}', '${agent.device}', '${agent.filter}', '${agent.splitcapUrl}', 65535, 500, 500, 2, 1)
    ON DUPLICATE KEY UPDATE device = VALUES(device), bpf_filter = VALUES(bpf_filter), splitcap_url = VALUES(splitcap_url), enabled = 1`;
  // The password goes in an option file only this user can read, not on the command line (which every user of the
  // machine can read in /proc/<pid>/cmdline). --defaults-file reads that file and no other, as --no-defaults would.
  const dir = mkdtempSync(join(tmpdir(), 'fleetcap-mariadb-'));
  const options = join(dir, 'client.cnf');
  try {
    // Quoted, so that a # or a space in the password is part of it (option files read \\ and \" in quotes).
    const quoted = conn.mysqlAdmin.password.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    writeFileSync(options, `[client]\npassword="${quoted}"\n`, { mode: 0o600 });
    execFileSync('mariadb', [
      `--defaults-file=${options}`,
      '-h',
      conn.mysql.host,
      '-P',
      String(conn.mysql.port),
      '-u',
      conn.mysqlAdmin.user,
      conn.mysql.database,
      '-e',
      sql,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A new credential for the demo's agent (the earlier ones end now), its secret in a new 0600 file. */
export async function enrollAgent(agentId: string, secretFile: string): Promise<string> {
  const conn = loadConnections();
  const c = await mysql.createConnection({ ...conn.mysql, ...conn.mysqlAdmin, timezone: 'Z' });
  try {
    const enrolled = await rotateAgent(c, agentId, 0, 'fleetcap run');
    rmSync(secretFile, { force: true });
    writeFileSync(secretFile, `${enrolled.secret}\n`, { mode: 0o600, flag: 'wx' });
    return enrolled.secret;
  } finally {
    await c.end();
  }
}

/** The agent's config revision beside what the agent reported in agent_status (null: nothing yet). */
export interface AgentConfigStatus {
  revision: number;
  applied_revision: number | null;
  state: string | null;
  last_error: string | null;
  config_error: string | null;
}

export async function agentConfigStatus(agentId: string): Promise<AgentConfigStatus | undefined> {
  const rows = await query<AgentConfigStatus>(
    'SELECT c.revision, s.applied_revision, s.state, s.last_error, s.config_error FROM sniffer_config c LEFT JOIN agent_status s USING (agent_id) WHERE c.agent_id = ?',
    [agentId],
  );
  return rows[0];
}

export async function countVerdicts(agents: string[]): Promise<number> {
  const rows = await query<{ n: number }>('SELECT COUNT(*) AS n FROM session_verdict WHERE agent_id IN (?)', [agents]);
  return Number(rows[0]?.n ?? 0);
}

/** The agent's verdicts of sessions that began at `since` or later, as the lab score reads them. */
export async function labVerdicts(agentId: string, since: Date): Promise<ScoredVerdict[]> {
  return query<ScoredVerdict>(
    'SELECT client_addr, server_addr, first_packet_at, label, alert FROM session_verdict WHERE agent_id = ? AND first_packet_at >= ?',
    [agentId, since],
  );
}
