// The retention of alert packets: every interval, one session-worker (a MariaDB named lock; the others skip that run)
// deletes the alert_packet rows stored longer ago than retention_policy's retention_days for 'alert_packet', in
// bounded batches so that no delete holds locks on the table for long. The period lives in SQL, where operators set
// it (UPDATE retention_policy ...); it is read at every run, so a change applies at the next one. A missing row
// keeps everything (deleting on a guess would lose evidence) and is reported.
//
// Why the worker and not a MariaDB event: the event scheduler is off by default (it is in the stack) and an event's
// failures reach only the server's error log; here a run is logged with a code, counted in /metrics, and tested
// like the rest of the worker, and it needs no privilege beyond DELETE on alert_packet.
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { WorkerMetrics } from './metrics.ts';

export const RETENTION_LOCK = 'fleetcap_alert_packet_retention';
export const ALERT_PACKET_DATA = 'alert_packet';

export interface RetentionOptions {
  intervalMs: number;
  /** Rows per DELETE statement. */
  batchRows?: number;
}

export type RetentionOutcome =
  | { outcome: 'done'; retentionDays: number; deleted: number }
  | { outcome: 'skipped' }
  | { outcome: 'no-policy' };

/** One run: the number of rows deleted, or why none were. */
export async function applyAlertPacketRetention(pool: Pool, batchRows = 5000): Promise<RetentionOutcome> {
  const conn = await pool.getConnection();
  try {
    // A named lock belongs to the connection: held by this run only, freed if the worker dies.
    const [lock] = await conn.query('SELECT GET_LOCK(?, 0) AS got', [RETENTION_LOCK]);
    if ((lock as Array<{ got: number | null }>)[0]?.got !== 1) return { outcome: 'skipped' };
    try {
      const [policy] = await conn.query('SELECT retention_days FROM retention_policy WHERE data = ?', [
        ALERT_PACKET_DATA,
      ]);
      const days = (policy as Array<{ retention_days: number }>)[0]?.retention_days;
      if (days === undefined) return { outcome: 'no-policy' };
      let deleted = 0;
      for (;;) {
        const [result] = await conn.query(
          'DELETE FROM alert_packet WHERE stored_at < NOW(6) - INTERVAL ? DAY ORDER BY stored_at LIMIT ?',
          [days, batchRows],
        );
        const n = (result as { affectedRows: number }).affectedRows;
        deleted += n;
        if (n < batchRows) break;
      }
      return { outcome: 'done', retentionDays: days, deleted };
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [RETENTION_LOCK]);
    }
  } finally {
    conn.release();
  }
}

/** Runs the retention every intervalMs (the first run soon after start) until stopped. */
export class AlertPacketRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics,
    private readonly options: RetentionOptions,
  ) {}

  start(): void {
    // Jittered, so that workers started together do not all ask for the lock at the same moment.
    this.schedule(Math.floor(Math.random() * Math.min(this.options.intervalMs, 5000)));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  async runOnce(): Promise<void> {
    try {
      const r = await applyAlertPacketRetention(this.pool, this.options.batchRows);
      this.metrics.retentionRuns.inc({ outcome: r.outcome });
      if (r.outcome === 'done' && r.deleted > 0) {
        this.metrics.retentionDeleted.inc({ table: ALERT_PACKET_DATA }, r.deleted);
        this.log.info(
          { deleted: r.deleted, retentionDays: r.retentionDays },
          'retention deleted alert packets stored longer ago than retention_days',
        );
      }
      if (r.outcome === 'no-policy') {
        this.log.warn(
          { code: 'session-worker.retention-no-policy' },
          "no retention_policy row for 'alert_packet': alert packets are kept until one is inserted",
        );
      }
    } catch (err) {
      this.metrics.retentionRuns.inc({ outcome: 'failed' });
      this.log.warn(
        { code: 'session-worker.retention-failed', err: (err as Error).message },
        'the retention of alert packets failed; trying again at the next interval',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
