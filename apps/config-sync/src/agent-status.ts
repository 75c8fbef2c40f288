// Writes to agent_status as the fleetcap_configsync account (SELECT/INSERT/UPDATE on agent_status only): the live
// status mirrored from ZooKeeper, and why a sniffer_config row was not pushed.
import type { LiveStatusReading } from '@fleetcap/lib/agent/live-status';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/** What the mirrors need from agent_status; an interface so that unit tests can record the calls. */
export interface StatusStore {
  /** Records why a row was not pushed, unless a newer revision's error is already recorded. */
  recordConfigError(agentId: string, message: string, revision: number | null): Promise<void>;
  /** Clears a config error recorded for this revision or an older one. */
  clearConfigError(agentId: string, revision: number | null): Promise<void>;
  upsertLive(agentId: string, live: LiveStatusReading): Promise<void>;
  markOffline(agentId: string): Promise<void>;
  onlineAgents(): Promise<string[]>;
}

const newer =
  'config_error_revision IS NULL OR VALUES(config_error_revision) IS NULL OR VALUES(config_error_revision) >= config_error_revision';

interface PendingClear {
  agentId: string;
  revision: number | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Agents per coalesced clear statement (its placeholders: 4 per agent, well under the protocol's 65,535). */
const MAX_CLEARS_PER_STATEMENT = 500;

export class MysqlStatusStore implements StatusStore {
  constructor(private readonly pool: Pool) {}

  async recordConfigError(agentId: string, message: string, revision: number | null): Promise<void> {
    // config_error_revision is assigned last: the condition must see the old value.
    await this.pool.execute(
      `INSERT INTO agent_status (agent_id, config_error, config_error_revision) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE config_error = IF(${newer}, VALUES(config_error), config_error),
                               config_error_revision = IF(${newer}, VALUES(config_error_revision), config_error_revision)`,
      [agentId, message, revision],
    );
  }

  /**
   * Clears issued in the same turn of the event loop go out as one UPDATE (fleet scale: one UPDATE of 1,000 agents'
   * rows is 1,000 events applied side by side, and a statement each queued on the pool's few connections). Each
   * caller's promise settles with that statement. Nearly every clear matches no row (no error recorded): it changes
   * nothing and costs one statement per window instead of one per event.
   */
  clearConfigError(agentId: string, revision: number | null): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingClears.push({ agentId, revision, resolve, reject });
      if (this.pendingClears.length === 1) setImmediate(() => void this.flushClears());
    });
  }

  private pendingClears: PendingClear[] = [];

  private async flushClears(): Promise<void> {
    const clears = this.pendingClears;
    this.pendingClears = [];
    for (let i = 0; i < clears.length; i += MAX_CLEARS_PER_STATEMENT) {
      const part = clears.slice(i, i + MAX_CLEARS_PER_STATEMENT);
      // One agent appears at most once: the mirror applies an agent's events one after the other (its lock), and
      // the next clear of an agent is issued only after the last one settled.
      const conditions = part
        .map(() => '(agent_id = ? AND (config_error_revision IS NULL OR ? IS NULL OR config_error_revision <= ?))')
        .join(' OR ');
      try {
        await this.pool.query<ResultSetHeader>(
          `UPDATE agent_status SET config_error = NULL, config_error_revision = NULL
           WHERE agent_id IN (${part.map(() => '?').join(',')}) AND config_error IS NOT NULL AND (${conditions})`,
          [...part.map((c) => c.agentId), ...part.flatMap((c) => [c.agentId, c.revision, c.revision])],
        );
        for (const c of part) c.resolve();
      } catch (err) {
        for (const c of part) c.reject(err);
      }
    }
  }

  async upsertLive(agentId: string, live: LiveStatusReading): Promise<void> {
    const c = live.counters;
    await this.pool.execute(
      `INSERT INTO agent_status (agent_id, online, pid, applied_revision, state, last_error,
                                 captured, kernel_drops, batches_uploaded, spooled, spool_dropped, last_seen)
       VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3))
       ON DUPLICATE KEY UPDATE online = 1, pid = VALUES(pid), applied_revision = VALUES(applied_revision),
         state = VALUES(state), last_error = VALUES(last_error), captured = VALUES(captured),
         kernel_drops = VALUES(kernel_drops), batches_uploaded = VALUES(batches_uploaded), spooled = VALUES(spooled),
         spool_dropped = VALUES(spool_dropped), last_seen = NOW(3)`,
      [
        agentId,
        live.pid,
        live.appliedRevision,
        live.state,
        live.lastError,
        c.captured,
        c.kernelDrops,
        c.batchesUploaded,
        c.spooled,
        c.spoolDropped,
      ],
    );
  }

  async markOffline(agentId: string): Promise<void> {
    await this.pool.execute('UPDATE agent_status SET online = 0, pid = NULL WHERE agent_id = ? AND online = 1', [
      agentId,
    ]);
  }

  async onlineAgents(): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT agent_id FROM agent_status WHERE online = 1');
    return rows.map((r) => String(r.agent_id));
  }
}
