// Watches the agent_credential table (sql/008) for splitcap and config-sync: every pollMs one cheap query
// (COUNT and MAX(changed_at), on an index) and, when either moved, one read of the rows this account may see. So
// an enrollment, a rotation or a revocation is in force within pollMs plus one query, with no restart; while
// MariaDB is away the last rows read stay in force and health says so.
import type { Pool, RowDataPacket } from 'mysql2/promise';

export interface CredentialTableOptions<Row> {
  pool: Pick<Pool, 'query'>;
  /** The columns to read (the account's column grants decide which it may). */
  columns: readonly string[];
  pollMs: number;
  onRows: (rows: Row[]) => void;
  onError?: (err: Error) => void;
}

export class CredentialTable<Row> {
  private timer: NodeJS.Timeout | null = null;
  private signature: string | null = null;
  private lastError: string | null = null;
  private polling: Promise<void> = Promise.resolve();
  /** When rows were last read successfully (ms since the epoch), 0 before. */
  loadedAt = 0;

  constructor(private readonly options: CredentialTableOptions<Row>) {}

  /** Reads once (rejecting if that fails), then keeps polling. */
  async start(): Promise<void> {
    const first = this.poll();
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.poll().catch(() => undefined));
    }, this.options.pollMs);
    this.timer.unref();
    await first;
  }

  stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return this.polling;
  }

  get loaded(): boolean {
    return this.loadedAt > 0;
  }

  /** undefined while the last poll worked; else why it failed. */
  get error(): string | null {
    return this.lastError;
  }

  async poll(): Promise<void> {
    try {
      const [marks] = await this.options.pool.query<RowDataPacket[]>(
        'SELECT COUNT(agent_id) AS n, COALESCE(DATE_FORMAT(MAX(changed_at), "%Y%m%d%H%i%s%f"), "") AS m FROM agent_credential',
      );
      const signature = `${marks[0]?.n}/${marks[0]?.m}`;
      if (signature !== this.signature) {
        const [rows] = await this.options.pool.query<RowDataPacket[]>(
          `SELECT ${this.options.columns.join(', ')} FROM agent_credential`,
        );
        this.options.onRows(rows as Row[]);
        this.signature = signature;
      }
      this.loadedAt = Date.now();
      this.lastError = null;
    } catch (err) {
      const e = err as Error;
      if (e.message !== this.lastError) this.options.onError?.(e);
      this.lastError = e.message;
      throw e;
    }
  }
}
