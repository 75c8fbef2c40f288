// What each page reads, through the reporting account (read-only). Each query is shaped for an index of sql/012 or
// earlier, so that a page stays fast with millions of verdict rows (bench/console measures it).
import type mysql from 'mysql2/promise';
import type { AlertFilters } from './alert-filters.ts';

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
 * The index of migration 012 for the filters: the most selective filter given (a source, a target, an agent, a label,
 * in that order) leads. Each index is (alert, <column>, first_packet_at, label), so every query of the alerts page
 * reads it in order or counts from it alone.
 */
export function alertIndex(f: AlertFilters): string {
  if (f.source) return 'ix_alert_client_time';
  if (f.target) return 'ix_alert_server_time';
  if (f.agent) return 'ix_alert_agent_time';
  if (f.label) return 'ix_alert_label_time';
  return 'ix_alert_time_label';
}

function alertWhere(f: AlertFilters): { from: string; where: string; values: unknown[] } {
  const where = ['alert = 1', 'first_packet_at >= ?', 'first_packet_at < ?'];
  const values: unknown[] = [f.from, f.to];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    values.push(value);
  };
  if (f.label) add('label = ?', f.label);
  if (f.agent) add('agent_id = ?', f.agent);
  if (f.source) add('client_addr = ?', f.source);
  if (f.target) add('server_addr = ?', f.target);
  if (f.targetPort) add('server_port = ?', f.targetPort);
  return { from: `session_verdict FORCE INDEX (${alertIndex(f)})`, where: where.join(' AND '), values };
}

export interface AlertsPage {
  rows: Row[];
  total: number;
  hasMore: boolean;
}

/** Alerted sessions, newest first, `pageRows` a page, with how many of their packets are kept. */
export async function alerts(sql: Sql, f: AlertFilters, pageRows: number): Promise<AlertsPage> {
  const { from, where, values } = alertWhere(f);
  const [[rows], [count]] = await Promise.all([
    sql.query<mysql.RowDataPacket[]>(
      `SELECT id, agent_id, community_id, label, score, protocol, client_addr, client_port, server_addr, server_port,
              first_packet_at, packets, bytes, service, conn_state
       FROM ${from} WHERE ${where} ORDER BY first_packet_at DESC, label DESC, id DESC LIMIT ? OFFSET ?`,
      [...values, pageRows + 1, (f.page - 1) * pageRows],
    ),
    sql.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${from} WHERE ${where}`, values),
  ]);
  const page = rows.slice(0, pageRows) as Row[];
  if (page.length > 0) {
    const [kept] = await sql.query<mysql.RowDataPacket[]>(
      'SELECT verdict_id, COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?) GROUP BY verdict_id',
      [page.map((r) => r.id)],
    );
    const n = new Map(kept.map((k) => [Number(k.verdict_id), Number(k.n)]));
    for (const r of page) r.packets_kept = n.get(Number(r.id)) ?? 0;
  }
  return { rows: page, total: Number(count[0]?.n ?? 0), hasMore: rows.length > pageRows };
}

export interface LabelCount {
  bucket: number;
  label: string;
  n: number;
}

/** Alerts per label per bucket of `bucketSeconds` (bucket = seconds since the epoch / bucketSeconds). */
export async function alertCounts(sql: Sql, f: AlertFilters, bucketSeconds: number): Promise<LabelCount[]> {
  const { from, where, values } = alertWhere(f);
  const [rows] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01', first_packet_at) / ?) AS bucket, label, COUNT(*) AS n
     FROM ${from} WHERE ${where} GROUP BY bucket, label`,
    [bucketSeconds, ...values],
  );
  return rows.map((r) => ({ bucket: Number(r.bucket), label: String(r.label), n: Number(r.n) }));
}

/**
 * The labels that have alerted (the label filter's choices). Read once a minute at most: it is the model's attack
 * classes, which change with a new model, and finding them reads every alert's index entry.
 */
export function alertLabelsCache(ttlMs = 60_000, now = () => Date.now()) {
  let cached: { at: number; labels: Promise<string[]> } | null = null;
  return (sql: Sql): Promise<string[]> => {
    if (cached && now() - cached.at < ttlMs) return cached.labels;
    const labels = sql
      .query<mysql.RowDataPacket[]>(
        'SELECT DISTINCT label FROM session_verdict FORCE INDEX (ix_alert_label_time) WHERE alert = 1 ORDER BY label LIMIT 100',
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
