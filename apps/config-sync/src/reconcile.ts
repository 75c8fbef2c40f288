// Makes ZooKeeper equal to the sniffer_config table, read directly as the configsync account: the fallback for
// events that never reached config-sync (a topic truncated by retention, a consumer group reset, a node edited by
// hand). Runs at startup and after every rebalance. Safe to run beside the event stream and beside other
// instances: every write is revision-checked, and a node that looks newer than the table, or an orphan, is
// re-checked against a fresh read of its row before it is overwritten or deleted.

import type { AgentPaths } from '@fleetcap/lib/agent/paths';
import type { SnifferConfigRow } from '@fleetcap/lib/config/agent-config';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { StatusStore } from './agent-status.ts';
import type { RowChange } from './change-event.ts';
import { revisionOf } from './change-event.ts';
import type { ZkAclPolicy } from './zk-acl.ts';
import { type ApplyOutcome, ZkMirror, type ZkOps } from './zk-mirror.ts';

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

export async function reconcile(
  mirror: ZkMirror,
  source: RowSource,
  onAhead: (repair: AheadRepair) => void = () => {},
): Promise<ReconcileReport> {
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
      const repair = await repairIfAhead(mirror, source, agentId);
      if (repair) {
        onAhead(repair);
        outcome = repair.outcome;
      }
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

export interface AheadRepair {
  agentId: string;
  /** The revision the node held. */
  held: number;
  /** The table's revision (null: the row is gone, so the node was deleted). */
  table: number | null;
  outcome: ApplyOutcome;
}

/**
 * A node whose revision is ahead of the table was not written by config-sync from this table (written by hand, or
 * by a client before ACLs, or the row deleted and inserted again): it is not trusted. The table is the truth: the
 * node is written again from the row (or deleted when there is none). Resolves null when the node is not ahead.
 */
export async function repairIfAhead(mirror: ZkMirror, source: RowSource, agentId: string): Promise<AheadRepair | null> {
  const held = await mirror.heldRevision(agentId);
  if (held === null) return null;
  const row = await source.row(agentId);
  const table = row ? revisionOf(row) : null;
  if (row && (table === null || table >= held)) return null;
  const outcome = row
    ? await mirror.upsert(agentId, row, { overwriteNewer: true })
    : await mirror.remove(agentId, held);
  return { agentId, held, table, outcome };
}

/**
 * The mirror the change stream applies through: an event found stale (the node holds a newer revision) is checked
 * against the table at once, so a node pushed ahead (a revision of 2^53-1) cannot make every later SQL edit stale
 * until the next reconcile.
 */
export class TableCheckedMirror extends ZkMirror {
  constructor(
    zk: ZkOps,
    paths: AgentPaths,
    status: StatusStore,
    acl: ZkAclPolicy | undefined,
    private readonly source: RowSource,
    private readonly onAhead: (repair: AheadRepair) => void,
  ) {
    super(zk, paths, status, acl);
  }

  override async apply(change: RowChange): Promise<ApplyOutcome> {
    const outcome = await super.apply(change);
    if (outcome !== 'stale') return outcome;
    const repair = await repairIfAhead(this, this.source, change.agentId);
    if (!repair) return outcome;
    this.onAhead(repair);
    return repair.outcome;
  }
}
