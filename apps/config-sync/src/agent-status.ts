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

  async clearConfigError(agentId: string, revision: number | null): Promise<void> {
    await this.pool.execute<ResultSetHeader>(
      `UPDATE agent_status SET config_error = NULL, config_error_revision = NULL
       WHERE agent_id = ? AND config_error IS NOT NULL
         AND (config_error_revision IS NULL OR ? IS NULL OR config_error_revision <= ?)`,
      [agentId, revision, revision],
    );
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
