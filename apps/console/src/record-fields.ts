// The session record (every column of its session_verdict row) in groups for the session page. Columns no group
// names (added by a later migration) are shown under "other", so the page shows the whole record whatever it holds.
const GROUPS: Array<{ title: string; columns: string[] }> = [
  {
    title: 'Session',
    columns: [
      'id',
      'agent_id',
      'session_key',
      'occurrence',
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
      'reason',
    ],
  },
  {
    title: 'Verdict',
    columns: ['label', 'score', 'alert', 'unknown', 'model_version', 'classified_at'],
  },
  {
    title: 'Connection (Zeek conn_state and history)',
    columns: [
      'conn_state',
      'history',
      'originator',
      'orig_pkts',
      'orig_ip_bytes',
      'resp_pkts',
      'resp_ip_bytes',
      'duration',
      'completed_at',
    ],
  },
  {
    title: 'Metadata',
    columns: [
      'service',
      'http_method',
      'http_host',
      'http_uri',
      'http_user_agent',
      'http_status',
      'tls_version',
      'tls_sni',
      'tls_alpn',
      'ja4',
      'dns_query',
      'dns_qtype',
      'dns_rcode',
      'ssh_client',
      'ssh_server',
      'hassh',
      'hassh_server',
      'metadata_truncated',
      'metadata_problems',
    ],
  },
];

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (v instanceof Date) return `${v.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function recordGroups(
  record: Record<string, unknown>,
): Array<{ title: string; fields: Array<[string, string]> }> {
  const named = new Set(GROUPS.flatMap((g) => g.columns));
  const groups = GROUPS.map((g) => ({
    title: g.title,
    fields: g.columns.filter((c) => c in record).map((c): [string, string] => [c, formatValue(record[c])]),
  }));
  const other = Object.keys(record).filter((c) => !named.has(c));
  if (other.length > 0)
    groups.push({ title: 'Other', fields: other.map((c): [string, string] => [c, formatValue(record[c])]) });
  return groups.filter((g) => g.fields.length > 0);
}
