// Makes ZooKeeper equal to the sniffer_config table, read directly as the configsync account: the fallback for
// events that never reached config-sync (a topic truncated by retention, a consumer group reset, a node edited by
// hand). Runs at startup and after every rebalance. Safe to run beside the event stream and beside other
// instances: every write is revision-checked, and a node that looks newer than the table, or an orphan, is
// re-checked against a fresh read of its row before it is overwritten or deleted.
import type { SnifferConfigRow } from '@fleetcap/lib/config/agent-config';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { revisionOf } from './change-event.ts';
import type { ApplyOutcome, ZkMirror } from './zk-mirror.ts';

export interface RowSource {
  allRows(): Promise<SnifferConfigRow[]>;
  row(agentId: string): Promise<SnifferConfigRow | null>;
}

export class MysqlRowSource implements RowSource {
  constructor(private readonly pool: Pool) {}

  async allRows(): Promise<SnifferConfigRow[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT * FROM sniffer_config');
    return rows as SnifferConfigRow[];
  }

  async row(agentId: string): Promise<SnifferConfigRow | null> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM sniffer_config WHERE agent_id = ?', [
      agentId,
    ]);
    return (rows[0] as SnifferConfigRow | undefined) ?? null;
  }
}

export type ReconcileReport = Record<ApplyOutcome, number> & { rows: number };

export async function reconcile(mirror: ZkMirror, source: RowSource): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    rows: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    stale: 0,
    deleted: 0,
    absent: 0,
    invalid: 0,
  };
  const rows = await source.allRows();
  report.rows = rows.length;
  const inTable = new Set<string>();
  for (const row of rows) {
    const agentId = String(row.agent_id);
    inTable.add(agentId);
    let outcome = await mirror.upsert(agentId, row);
    if (outcome === 'stale') {
      // The node holds a newer revision than our read of the table: either an event newer than our read was
      // applied meanwhile (fine), or the row was deleted and inserted again (its revision started over). A fresh
      // read tells which.
      const fresh = await source.row(agentId);
      if (fresh && (revisionOf(fresh) ?? 0) <= (revisionOf(row) ?? 0))
        outcome = await mirror.upsert(agentId, fresh, { overwriteNewer: true });
    }
    report[outcome] += 1;
  }
  const nodes = await mirror.configNodes();
  for (const [agentId, revision] of nodes) {
    if (inTable.has(agentId)) continue;
    // Inserted after our read? Then the stream (or the next reconcile) handles it; never delete a live row's node.
    if (await source.row(agentId)) continue;
    const outcome = await mirror.remove(agentId, revision);
    report[outcome] += 1;
  }
  return report;
}
