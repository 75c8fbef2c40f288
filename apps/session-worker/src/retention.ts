// The retention of the tables that grow with traffic (session_verdict, alert_packet, detection, packet_drop), by
// partition (sql/016): every interval one session-worker calls fleetcap_maintain_partitions(), which adds each
// table's days ahead and drops the days older than retention_policy's retention_days for it (one run at a time: a
// named lock in the procedure; a second caller gets no rows and counts a skip). The periods live in SQL, where
// operators set them (UPDATE retention_policy ...), read at every run. A table without a retention row keeps all its
// days (dropping on a guess would lose evidence) and is reported.
//
// Why the worker and not a MariaDB event: the event scheduler is off by default and an event's failures reach only
// the server's error log; here a run is logged with a code, counted in /metrics, and tested like the rest of the
// worker. The procedure runs as its definer, so the worker needs EXECUTE on it and no ALTER or DROP.
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { WorkerMetrics } from './metrics.ts';

export interface RetentionOptions {
  intervalMs: number;
}

export interface TableMaintenance {
  table: string;
  /** Day partitions now (p_before and p_future not counted). */
  partitions: number;
  added: number;
  dropped: number;
}

export type RetentionOutcome =
  | { outcome: 'done'; tables: TableMaintenance[]; withoutPolicy: string[] }
  | { outcome: 'skipped' };

/** One run: what it did to each table, or that another run holds the lock. */
export async function maintainPartitions(pool: Pool): Promise<RetentionOutcome> {
  const [results] = await pool.query('CALL fleetcap_maintain_partitions(NULL)');
  // A CALL returns its SELECT's rows (none when the lock was held), then the status of the CALL itself.
  const sets = Array.isArray(results) ? results : [];
  const rows = (Array.isArray(sets[0]) ? sets[0] : []) as Array<{
    table_name: string;
    partitions: number | null;
    last_added: number | null;
    last_dropped: number | null;
  }>;
  if (rows.length === 0) return { outcome: 'skipped' };
  const [missing] = await pool.query(
    `SELECT m.table_name FROM partition_maintenance m LEFT JOIN retention_policy r ON r.data = m.table_name
      WHERE r.data IS NULL ORDER BY m.table_name`,
  );
  return {
    outcome: 'done',
    tables: rows.map((r) => ({
      table: r.table_name,
      partitions: Number(r.partitions ?? 0),
      added: Number(r.last_added ?? 0),
      dropped: Number(r.last_dropped ?? 0),
    })),
    withoutPolicy: (missing as Array<{ table_name: string }>).map((r) => r.table_name),
  };
}

/** Runs the maintenance every intervalMs (the first run soon after start) until stopped. */
export class PartitionRetention {
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
      const r = await maintainPartitions(this.pool);
      this.metrics.retentionRuns.inc({ outcome: r.outcome });
      if (r.outcome !== 'done') return;
      for (const t of r.tables) {
        this.metrics.partitions.set({ table: t.table }, t.partitions);
        this.metrics.partitionsAdded.inc({ table: t.table }, t.added);
        this.metrics.partitionsDropped.inc({ table: t.table }, t.dropped);
        if (t.dropped > 0)
          this.log.info(
            { table: t.table, dropped: t.dropped, partitions: t.partitions },
            'retention dropped the days older than retention_days',
          );
      }
      if (r.withoutPolicy.length > 0) {
        this.metrics.retentionRuns.inc({ outcome: 'no-policy' });
        this.log.warn(
          { code: 'session-worker.retention-no-policy', tables: r.withoutPolicy },
          'no retention_policy row for these tables: their days are kept until one is inserted',
        );
      }
    } catch (err) {
      this.metrics.retentionRuns.inc({ outcome: 'failed' });
      this.log.warn(
        { code: 'session-worker.retention-failed', err: (err as Error).message },
        'the partition maintenance (retention) failed; trying again at the next interval',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
