// The columns of a session_verdict row (the session record), declared once: the session-worker writes them (its
// verdict INSERT, its connection-record UPDATE), the console shows them in these groups, and a unit test checks this
// list against the migrations. A column added by a migration goes here, in its group.

/** The session and its place in the fleet, written with the verdict. */
export const SESSION_COLUMNS = [
  'session_key',
  'occurrence',
  'agent_id',
  'community_id',
  'protocol',
  'client_addr',
  'client_port',
  'server_addr',
  'server_port',
  'first_packet_at',
  'last_packet_at',
  'packets',
  'bytes',
] as const;

/** The verdict (the model's label, score and alert) and why the row is an alert (sql/010). */
export const VERDICT_COLUMNS = [
  'label',
  'score',
  'alert',
  'unknown',
  'model_version',
  'reason',
  'alert_reason',
  'alert_label',
  'detection_id',
] as const;

/** The connection's record in Zeek's terms, written when the connection is over (sql/006). */
export const CONNECTION_COLUMNS = [
  'conn_state',
  'history',
  'originator',
  'orig_pkts',
  'orig_ip_bytes',
  'resp_pkts',
  'resp_ip_bytes',
  'duration',
] as const;

/** The application metadata columns (sql/006) with their length in characters (text) or null (numbers). */
export const METADATA_COLUMNS = {
  service: 64,
  http_method: 16,
  http_host: 255,
  http_uri: 1024,
  http_user_agent: 512,
  http_status: null,
  tls_version: 16,
  tls_sni: 255,
  tls_alpn: 255,
  ja4: 64,
  dns_query: 255,
  dns_qtype: null,
  dns_rcode: null,
  ssh_client: 255,
  ssh_server: 255,
  hassh: 32,
  hassh_server: 32,
  metadata_truncated: null,
  metadata_problems: 255,
} as const;

export type MetadataColumn = keyof typeof METADATA_COLUMNS;
export const METADATA_COLUMN_NAMES = Object.keys(METADATA_COLUMNS) as MetadataColumn[];

/** What the verdict INSERT writes, in its order. */
export const VERDICT_INSERT_COLUMNS = [...SESSION_COLUMNS, ...VERDICT_COLUMNS, ...METADATA_COLUMN_NAMES] as const;

/**
 * The record in the groups a person reads it by, with the columns MariaDB fills (id, occurrence_day: the day
 * partition of the occurrence, sql/016; classified_at, completed_at).
 */
export const RECORD_GROUPS: ReadonlyArray<{ title: string; columns: readonly string[] }> = [
  { title: 'Session', columns: ['id', ...SESSION_COLUMNS, 'occurrence_day'] },
  { title: 'Verdict', columns: [...VERDICT_COLUMNS, 'classified_at'] },
  { title: 'Connection (Zeek conn_state and history)', columns: [...CONNECTION_COLUMNS, 'completed_at'] },
  { title: 'Metadata', columns: METADATA_COLUMN_NAMES },
];
