// What each page reads, through the reporting account (read-only). Each query is shaped for an index of sql/014 or
// earlier, or reads the hourly rollup of sql/014, so that a page stays fast with millions of verdict rows (bench/console measures it).
import type mysql from 'mysql2/promise';
import type { AlertCursor, AlertFilters } from './alert-filters.ts';

type Sql = Pick<mysql.Pool, 'query'>;
type Row = Record<string, unknown>;

export interface FleetAgent {
  agent_id: string;
  config: Row | null;
  status: Row | null;
  credentials: { valid: number; revoked: number; latest: Date | null };
}

/** Every agent that has a config, a status or a credential, with all three. */
export async function fleet(sql: Sql): Promise<FleetAgent[]> {
  const [[configs], [statuses], [creds]] = await Promise.all([
    sql.query<mysql.RowDataPacket[]>(
      `SELECT agent_id, device, bpf_filter, splitcap_url, snaplen, batch_packets, batch_ms, upload_concurrency, enabled,
              revision, updated_at FROM sniffer_config`,
    ),
    sql.query<mysql.RowDataPacket[]>(
      `SELECT agent_id, online, pid, applied_revision, state, last_error, config_error, config_error_revision,
              captured, kernel_drops, batches_uploaded, spooled, spool_dropped, last_seen FROM agent_status`,
    ),
    sql.query<mysql.RowDataPacket[]>(
      `SELECT agent_id,
              SUM(revoked_at IS NULL AND (not_after IS NULL OR not_after > NOW(3))) AS valid,
              SUM(revoked_at IS NOT NULL) AS revoked, MAX(created_at) AS latest
       FROM agent_credential GROUP BY agent_id`,
    ),
  ]);
  const ids = new Set<string>([...configs, ...statuses, ...creds].map((r) => String(r.agent_id)));
  const by = (rows: mysql.RowDataPacket[]) => new Map(rows.map((r) => [String(r.agent_id), r as Row]));
  const [c, s, k] = [by(configs), by(statuses), by(creds)];
  return [...ids].sort().map((id) => {
    const cred = k.get(id);
    return {
      agent_id: id,
      config: c.get(id) ?? null,
      status: s.get(id) ?? null,
      credentials: {
        valid: Number(cred?.valid ?? 0),
        revoked: Number(cred?.revoked ?? 0),
        latest: (cred?.latest as Date | undefined) ?? null,
      },
    };
  });
}

/**
 * The index of migration 014 for the filters: the most selective filter given (a source, a target, an agent, a class,
 * in that order) leads. Each index is (alert, <column>, first_packet_at, alert_label), so the page's rows are read in
 * index order from the cursor on, and a count of the range is read from the index alone.
 */
export function alertIndex(f: AlertFilters): string {
  if (f.source) return 'ix_alert_client_time';
  if (f.target) return f.targetPort ? 'ix_alert_service_time' : 'ix_alert_server_time';
  if (f.agent) return 'ix_alert_agent_time';
  if (f.label) return 'ix_alert_class_time';
  return 'ix_alert_time_class';
}

/**
 * The page's order as the chosen index holds it. With the class index the class is one value, and it is left out:
 * MariaDB sees `alert_label = ?` as a constant only when the value's collation is the column's, and mysql2's
 * connections use another, so "ORDER BY first_packet_at, alert_label" there was sorted row by row (20,000 rows for a
 * week of one class, 170 ms) instead of read in index order.
 */
export function alertOrder(f: AlertFilters): string {
  return alertIndex(f) === 'ix_alert_class_time'
    ? 'first_packet_at DESC, id DESC'
    : 'first_packet_at DESC, alert_label DESC, id DESC';
}

interface Where {
  clauses: string[];
  values: unknown[];
}

/** The filters but the time range (which each query bounds its own way). */
function filterWhere(f: AlertFilters): Where {
  const w: Where = { clauses: ['alert = 1'], values: [] };
  const add = (clause: string, value: unknown) => {
    w.clauses.push(clause);
    w.values.push(value);
  };
  if (f.label) add('alert_label = ?', f.label);
  if (f.agent) add('agent_id = ?', f.agent);
  if (f.source) add('client_addr = ?', f.source);
  if (f.target) add('server_addr = ?', f.target);
  if (f.targetPort) add('server_port = ?', f.targetPort);
  return w;
}

/**
 * After the cursor in the page's order (first_packet_at DESC, alert_label DESC, id DESC; MariaDB sorts NULL lowest):
 * three ranges of the index, which the range optimizer reads as such.
 */
function afterCursor(c: AlertCursor): Where {
  if (c.label === null)
    return {
      clauses: ['(first_packet_at < ? OR (first_packet_at = ? AND alert_label IS NULL AND id < ?))'],
      values: [c.at, c.at, c.id],
    };
  return {
    clauses: [
      '(first_packet_at < ? OR (first_packet_at = ? AND (alert_label < ? OR alert_label IS NULL OR (alert_label = ? AND id < ?))))',
    ],
    values: [c.at, c.at, c.label, c.label, c.id],
  };
}

const and = (...ws: Where[]): Where => ({
  clauses: ws.flatMap((w) => w.clauses),
  values: ws.flatMap((w) => w.values),
});
const range = (from: Date | string, to: Date | string): Where => ({
  clauses: ['first_packet_at >= ?', 'first_packet_at < ?'],
  values: [from, to],
});

export interface AlertsPage {
  rows: Row[];
  hasMore: boolean;
  /** Where the older page starts (the last row's place), when there is one. */
  next: AlertCursor | null;
}

/** Alerted sessions, newest first, `pageRows` from the cursor on (keyset), with how many of their packets are kept. */
export async function alerts(sql: Sql, f: AlertFilters, pageRows: number): Promise<AlertsPage> {
  const w = and(filterWhere(f), range(f.from, f.to), ...(f.before ? [afterCursor(f.before)] : []));
  const [rows] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT id, agent_id, community_id, label, alert_label, alert_reason, score, protocol, client_addr, client_port,
            server_addr, server_port, first_packet_at, DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:%i:%s.%f') AS at_us,
            packets, bytes, service, conn_state
     FROM session_verdict FORCE INDEX (${alertIndex(f)}) WHERE ${w.clauses.join(' AND ')}
     ORDER BY ${alertOrder(f)} LIMIT ?`,
    [...w.values, pageRows + 1],
  );
  const page = rows.slice(0, pageRows) as Row[];
  if (page.length > 0) {
    const [kept] = await sql.query<mysql.RowDataPacket[]>(
      'SELECT verdict_id, COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?) GROUP BY verdict_id',
      [page.map((r) => r.id)],
    );
    const n = new Map(kept.map((k) => [Number(k.verdict_id), Number(k.n)]));
    for (const r of page) r.packets_kept = n.get(Number(r.id)) ?? 0;
  }
  const last = page[page.length - 1];
  const hasMore = rows.length > pageRows;
  return {
    rows: page,
    hasMore,
    next:
      hasMore && last
        ? { at: String(last.at_us), label: (last.alert_label as string | null) ?? null, id: Number(last.id) }
        : null,
  };
}

export interface LabelCount {
  bucket: number;
  label: string;
  n: number;
}

/** Ranges of at least this many hours are counted from the hourly rollup (sql/014), in buckets of an hour or more. */
export const ROLLUP_MIN_HOURS = 6;
/** Alerts counted from the index at most (the newest of the range); a range with more shows "N+" and their chart. */
export const INDEX_COUNT_CAP = 10_000;

export interface AlertSummary {
  /** Per bucket of `bucketSeconds` (seconds since the epoch / bucketSeconds) and class. */
  counts: LabelCount[];
  total: number;
  /** The range holds more alerts than INDEX_COUNT_CAP: total and counts are those of its newest INDEX_COUNT_CAP. */
  capped: boolean;
  /** Where the counts come from: the hourly rollup, or the index. */
  source: 'rollup' | 'index';
  /** The range counted: the filters' range, or from the rollup that range widened to whole hours. */
  from: Date;
  to: Date;
}

/** Whether the range and filters are counted from the rollup: no agent, source or target filter; long enough. */
export function countsFromRollup(f: AlertFilters): boolean {
  return !f.agent && !f.source && !f.target && f.to.getTime() - f.from.getTime() >= ROLLUP_MIN_HOURS * 3_600_000;
}

const HOUR_MS = 3_600_000;

/** The range widened to whole hours (what the rollup counts). */
export function wholeHours(from: Date, to: Date): { from: Date; to: Date } {
  return {
    from: new Date(Math.floor(from.getTime() / HOUR_MS) * HOUR_MS),
    to: new Date(Math.ceil(to.getTime() / HOUR_MS) * HOUR_MS),
  };
}

/**
 * The chart's counts and the total. Both read only index entries or rollup rows: from the index, the class is
 * alert_label, which every alert row has (the writers set it, sql/010's default and sql/014 fill it); an alert row
 * without one is counted as "(none)" there and under its model label in the rollup. From the rollup, the range widened to whole hours costs one row per hour, class
 * and slot, whatever the number of alerts (the default range, the last hours up to now, is whole hours already:
 * the current hour holds nothing after now); from the index (a filter the rollup does not hold, or a range of a few
 * hours), the filters' own range, at most INDEX_COUNT_CAP entries. `bucketSeconds` must be a multiple of 3600 when
 * countsFromRollup(f).
 */
export async function alertSummary(sql: Sql, f: AlertFilters, bucketSeconds: number): Promise<AlertSummary> {
  const rows = (r: mysql.RowDataPacket[]) =>
    r.map((x) => ({ bucket: Number(x.bucket), label: String(x.label), n: Number(x.n) })).filter((c) => c.n !== 0);
  if (countsFromRollup(f)) {
    const hours = wholeHours(f.from, f.to);
    const [found] = await sql.query<mysql.RowDataPacket[]>(
      `SELECT FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01', hour_start) / ?) AS bucket, alert_label AS label,
              SUM(alerts) AS n
       FROM alert_count_hour WHERE hour_start >= ? AND hour_start < ?${f.label ? ' AND alert_label = ?' : ''}
       GROUP BY bucket, label`,
      [bucketSeconds, hours.from, hours.to, ...(f.label ? [f.label] : [])],
    );
    const counts = rows(found);
    return { counts, total: counts.reduce((a, c) => a + c.n, 0), capped: false, source: 'rollup', ...hours };
  }
  const w = and(filterWhere(f), range(f.from, f.to));
  const [found] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01', first_packet_at) / ?) AS bucket,
            COALESCE(alert_label, '(none)') AS label, COUNT(*) AS n
     FROM (SELECT first_packet_at, alert_label
           FROM session_verdict FORCE INDEX (${alertIndex(f)}) WHERE ${w.clauses.join(' AND ')}
           ORDER BY ${alertOrder(f)} LIMIT ?) newest
     GROUP BY bucket, alert_label`,
    [bucketSeconds, ...w.values, INDEX_COUNT_CAP + 1],
  );
  let counts = rows(found);
  const total = counts.reduce((a, c) => a + c.n, 0);
  const capped = total > INDEX_COUNT_CAP;
  if (capped) counts = dropOldestOne(counts);
  return { counts, total: Math.min(total, INDEX_COUNT_CAP), capped, source: 'index', from: f.from, to: f.to };
}

/** The counts without one alert of the oldest bucket (the one read past the cap, to know there were more). */
function dropOldestOne(counts: LabelCount[]): LabelCount[] {
  const oldest = counts.reduce((a, c) => (c.bucket < a.bucket ? c : a), counts[0]!);
  return counts.map((c) => (c === oldest ? { ...c, n: c.n - 1 } : c)).filter((c) => c.n > 0);
}

/**
 * The classes that have alerted (the label filter's choices). Read once a minute at most: they are the model's attack
 * classes and the detectors', which change with a new model; the index gives them by a loose scan.
 */
export function alertLabelsCache(ttlMs = 60_000, now = () => Date.now()) {
  let cached: { at: number; labels: Promise<string[]> } | null = null;
  return (sql: Sql): Promise<string[]> => {
    if (cached && now() - cached.at < ttlMs) return cached.labels;
    const labels = sql
      .query<mysql.RowDataPacket[]>(
        // Grouped by both columns of the index's prefix: MariaDB then reads one entry per class (a loose index scan,
        // "Using index for group-by"), where DISTINCT alert_label reads every alert's entry.
        `SELECT alert, alert_label AS label FROM session_verdict FORCE INDEX (ix_alert_class_time)
         WHERE alert = 1 AND alert_label IS NOT NULL GROUP BY alert, alert_label ORDER BY alert_label LIMIT 100`,
      )
      .then(([rows]) => rows.map((r) => String(r.label)));
    cached = { at: now(), labels };
    labels.catch(() => {
      cached = null;
    });
    return labels;
  };
}

export const DETECTORS = ['horizontal_scan', 'vertical_scan', 'syn_flood', 'brute_force', 'beaconing'] as const;

/**
 * Detections that overlap the range, newest first. The label filter picks a detector when it names one (and no
 * detection otherwise); agent, source and target narrow as they do for alerts.
 */
export async function detections(sql: Sql, f: AlertFilters, limit: number): Promise<Row[]> {
  if (f.label && !(DETECTORS as readonly string[]).includes(f.label)) return [];
  const where = ['last_seen >= ?', 'first_seen < ?'];
  const values: unknown[] = [f.from, f.to];
  if (f.label) {
    where.push('detector = ?');
    values.push(f.label);
  }
  if (f.source) {
    where.push('source_addr = ?');
    values.push(f.source);
  }
  if (f.target) {
    where.push("(target = ? OR target LIKE CONCAT(?, ':%'))");
    values.push(f.target, f.target);
  }
  if (f.agent) {
    where.push('JSON_CONTAINS(agents, JSON_QUOTE(?))');
    values.push(f.agent);
  }
  const [rows] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT id, detector, source_addr, target, window_seconds, threshold, peak_count, sessions, distinct_targets,
            distinct_sources, agents, first_seen, last_seen
     FROM detection FORCE INDEX (ix_last_seen) WHERE ${where.join(' AND ')} ORDER BY last_seen DESC, id DESC LIMIT ?`,
    [...values, limit],
  );
  return rows as Row[];
}

export interface SessionView {
  record: Row;
  /** Every session of the same conversation (Community ID), this one included: the agents that saw it. */
  sightings: Row[];
  detections: Row[];
}

export async function session(sql: Sql, id: number): Promise<SessionView | null> {
  const [rows] = await sql.query<mysql.RowDataPacket[]>('SELECT * FROM session_verdict WHERE id = ?', [id]);
  const record = rows[0] as Row | undefined;
  if (!record) return null;
  const cid = record.community_id as string | null;
  const [sightings, found] = cid
    ? await Promise.all([
        sql
          .query<mysql.RowDataPacket[]>(
            `SELECT id, agent_id, label, score, alert, first_packet_at, packets, bytes FROM session_verdict
             WHERE community_id = ? ORDER BY first_packet_at, id LIMIT 100`,
            [cid],
          )
          .then(([r]) => r as Row[]),
        // Incidents whose evidence names the conversation, among those that overlap the session's time.
        sql
          .query<mysql.RowDataPacket[]>(
            `SELECT id, detector, source_addr, target, sessions, first_seen, last_seen FROM detection
             WHERE last_seen >= ? - INTERVAL 1 DAY AND first_seen <= ? + INTERVAL 1 DAY
               AND JSON_CONTAINS(evidence, JSON_QUOTE(?)) ORDER BY last_seen DESC LIMIT 20`,
            [record.first_packet_at, record.last_packet_at, cid],
          )
          .then(([r]) => r as Row[]),
      ])
    : [[record], []];
  return { record, sightings, detections: found };
}

export interface PacketRow {
  packet_index: number;
  ts_us: string;
  wire_length: number;
  linktype: number;
  frame: Buffer;
}

export async function sessionPackets(sql: Sql, verdictId: number): Promise<PacketRow[]> {
  const [rows] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT packet_index, CAST(ts_us AS CHAR) AS ts_us, wire_length, linktype, frame FROM alert_packet
     WHERE verdict_id = ? ORDER BY ts_us, packet_index`,
    [verdictId],
  );
  return rows as PacketRow[];
}
