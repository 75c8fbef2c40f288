// What becomes of each refusal read from a server's log: one increment of fleetcap_server_refusals_total and one
// log line saying who (user, client address), what (operation, kind) and where (the node, table or column). The user
// comes from the client, so an attacker trying names could make a series per name: past maxUsers distinct users per
// server the rest share user="(other)" (the log line keeps the real name). Log lines are limited per server, user
// and kind and minute; the refusals over the limit are counted and the next line says how many.
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import type { RefusalMetrics } from './metrics.ts';

export type ServerName = 'zookeeper' | 'mariadb';

export interface Refusal {
  server: ServerName;
  /** The principal; '' when the client is anonymous. */
  user: string;
  kind: string;
  operation: string;
  /** The znode, table, column, database... refused. */
  object: string;
  /** The client's address. */
  client: string;
  /** Server-specific details for the log line (session, error code, statement). */
  detail: Record<string, string | number>;
}

export const ANONYMOUS_USER = '(none)';
export const OTHER_USERS = '(other)';

export interface RecorderOptions {
  maxUsers: number;
  logPerMinute: number;
  now?: () => number;
}

export class RefusalRecorder {
  private readonly users = new Map<ServerName, Set<string>>();
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();
  private readonly now: () => number;

  constructor(
    private readonly metrics: RefusalMetrics,
    private readonly log: Logger,
    private readonly options: RecorderOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The user label: the user itself while the server has fewer than maxUsers distinct ones. */
  userLabel(server: ServerName, user: string): string {
    const name = user === '' ? ANONYMOUS_USER : user;
    let seen = this.users.get(server);
    if (!seen) {
      seen = new Set();
      this.users.set(server, seen);
    }
    if (seen.has(name)) return name;
    if (seen.size >= this.options.maxUsers) return OTHER_USERS;
    seen.add(name);
    return name;
  }

  record(r: Refusal): void {
    const user = this.userLabel(r.server, r.user);
    this.metrics.refusals.inc({ server: r.server, user, kind: r.kind, operation: r.operation });
    const key = `${r.server}\u0000${r.user}\u0000${r.kind}`;
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.start >= 60_000) {
      // A window per key: forget the ones that ended, so that many users do not grow the map for ever.
      if (this.windows.size > 10_000)
        for (const [k, v] of this.windows) if (t - v.start >= 60_000) this.windows.delete(k);
      const suppressed = w?.suppressed ?? 0;
      w = { start: t, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
      if (suppressed > 0) this.logLine(r, { suppressedBefore: suppressed });
      else this.logLine(r, {});
      w.logged++;
      return;
    }
    if (w.logged < this.options.logPerMinute) {
      w.logged++;
      this.logLine(r, {});
      return;
    }
    w.suppressed++;
    this.metrics.suppressedLogLines.inc({ server: r.server });
  }

  private logLine(r: Refusal, extra: Record<string, number>): void {
    this.log.warn(
      {
        code: `refusal-exporter.${r.server}-refusal`,
        server: r.server,
        user: r.user === '' ? ANONYMOUS_USER : r.user,
        client: r.client,
        kind: r.kind,
        operation: r.operation,
        object: r.object,
        ...r.detail,
        ...extra,
      },
      `${r.server} refused ${r.operation} of ${r.object || '(login)'} to ${r.user === '' ? 'an anonymous client' : r.user} from ${r.client} (${r.kind})`,
    );
  }
}
