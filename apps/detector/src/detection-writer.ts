// Writes incidents to the detection table, one row per incident: an upsert keyed by the incident id, in which the
// counts only grow (GREATEST/LEAST) and the lists are those of the highest version written, so that replicas
// writing the same incident in any order leave the newest state.
import type { Detection } from '@fleetcap/lib/detectors/detection';
import type { Pool } from 'mysql2/promise';

const columns = [
  'incident_id',
  'detector',
  'source_addr',
  'target',
  'window_seconds',
  'threshold',
  'peak_count',
  'sessions',
  'distinct_targets',
  'distinct_sources',
  'period_seconds',
  'targets',
  'sources',
  'agents',
  'evidence',
  'first_seen',
  'last_seen',
  'version',
] as const;

/** µs since the epoch as a DATETIME(6) literal in UTC. */
export function datetimeOfUs(us: number): string {
  const micros = String(Math.round(us % 1_000_000)).padStart(6, '0');
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ')}.${micros}`;
}

export function detectionValues(d: Detection): Array<string | number | null> {
  return [
    d.id,
    d.detector,
    d.source,
    d.target,
    d.windowSeconds,
    d.threshold,
    d.peakCount,
    d.sessions,
    d.distinctTargets,
    d.distinctSources,
    d.periodSeconds,
    JSON.stringify(d.targets),
    JSON.stringify(d.sources),
    JSON.stringify(d.agents),
    JSON.stringify(d.evidence),
    datetimeOfUs(d.firstSeenUs),
    datetimeOfUs(d.lastSeenUs),
    d.version,
  ];
}

const newer = 'VALUES(version) > version';
// MariaDB applies the assignments left to right, each seeing the ones before: version goes last.
const updates = [
  'peak_count = GREATEST(peak_count, VALUES(peak_count))',
  'sessions = GREATEST(sessions, VALUES(sessions))',
  'distinct_targets = GREATEST(distinct_targets, VALUES(distinct_targets))',
  'distinct_sources = GREATEST(distinct_sources, VALUES(distinct_sources))',
  `period_seconds = IF(${newer}, VALUES(period_seconds), period_seconds)`,
  `targets = IF(${newer}, VALUES(targets), targets)`,
  `sources = IF(${newer}, VALUES(sources), sources)`,
  `agents = IF(${newer}, VALUES(agents), agents)`,
  `evidence = IF(${newer}, VALUES(evidence), evidence)`,
  'first_seen = LEAST(first_seen, VALUES(first_seen))',
  'last_seen = GREATEST(last_seen, VALUES(last_seen))',
  'version = GREATEST(version, VALUES(version))',
];

/** The newest state of each incident among `detections` (a batch may hold several of one). */
export function newestPerIncident(detections: Detection[]): Detection[] {
  const newest = new Map<string, Detection>();
  for (const d of detections) {
    const prior = newest.get(d.id);
    if (!prior || d.version > prior.version) newest.set(d.id, d);
  }
  return [...newest.values()];
}

export async function upsertDetections(pool: Pool, detections: Detection[]): Promise<number> {
  const rows = newestPerIncident(detections);
  if (rows.length === 0) return 0;
  const placeholders = rows.map(() => `(${columns.map(() => '?').join(',')})`).join(',');
  const sql = `INSERT INTO detection (${columns.join(',')}) VALUES ${placeholders} ON DUPLICATE KEY UPDATE ${updates.join(', ')}`;
  await pool.query(sql, rows.flatMap(detectionValues));
  return rows.length;
}
