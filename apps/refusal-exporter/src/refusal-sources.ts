// Each server's log line to a Refusal (or nothing), with the outcome counted per log: the one place where the two
// formats (./zookeeper-refusal-line.ts, ./mariadb-sql-error-line.ts) meet the recorder.
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import { parseSqlErrorLine, SqlErrorLineError } from './mariadb-sql-error-line.ts';
import type { RefusalMetrics } from './metrics.ts';
import type { Refusal, ServerName } from './refusal-recorder.ts';
import { parseZookeeperRefusalLine, RefusalLineError } from './zookeeper-refusal-line.ts';

export function zookeeperRefusal(line: string): Refusal | null {
  const r = parseZookeeperRefusalLine(line);
  if (!r) return null;
  return {
    server: 'zookeeper',
    user: r.principals.join(','),
    kind: r.kind,
    operation: r.permission,
    object: r.znode,
    client: r.ip,
    detail: { session: r.session },
  };
}

export function mariadbRefusal(line: string): Refusal | null {
  const parsed = parseSqlErrorLine(line);
  if (parsed.type !== 'refusal') return null;
  const r = parsed.refusal;
  return {
    server: 'mariadb',
    user: r.user,
    kind: r.kind,
    operation: r.operation,
    object: r.object,
    client: r.ip,
    detail: { account: `'${r.user}'@'${r.host}'`, error: r.code, loggedAt: r.time, statement: r.query.slice(0, 500) },
  };
}

/** A line handler for one server's log: refusals to `record`, each line's outcome counted, bad lines logged. */
export function lineHandler(
  server: ServerName,
  metrics: RefusalMetrics,
  log: Logger,
  record: (r: Refusal) => void,
): (line: string) => void {
  const toRefusal = server === 'zookeeper' ? zookeeperRefusal : mariadbRefusal;
  let unparsedLogged = 0;
  return (line) => {
    let refusal: Refusal | null;
    try {
      refusal = toRefusal(line);
    } catch (err) {
      if (!(err instanceof RefusalLineError || err instanceof SqlErrorLineError)) throw err;
      metrics.lines.inc({ log: server, outcome: 'unparsed' });
      // The first 20, then every 1000th: a log in a format of another version should not flood ours.
      if (unparsedLogged++ < 20 || unparsedLogged % 1000 === 0)
        log.error(
          {
            code: 'refusal-exporter.unparsed-line',
            server,
            error: err.message,
            line: line.slice(0, 300),
            seen: unparsedLogged,
          },
          `a ${server} log line looks like a refusal but is not in the format this exporter reads: not counted (see docs/TROUBLESHOOTING.md)`,
        );
      return;
    }
    metrics.lines.inc({ log: server, outcome: refusal ? 'refusal' : 'other' });
    if (refusal) record(refusal);
  };
}
