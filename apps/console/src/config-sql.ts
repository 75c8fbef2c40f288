// The SQL an operator runs to change an agent's config (sniffer_config is edited with plain SQL: docs/OPERATIONS.md),
// shown beside each agent on the fleet page with its current values filled in, ready to edit and paste into
// `mariadb fleetcap`.

function sqlString(v: unknown): string {
  return `'${String(v ?? '')
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")}'`;
}

export function configUpdateSql(agentId: string, c: Record<string, unknown>): string {
  return [
    'UPDATE sniffer_config SET',
    `  device = ${sqlString(c.device)},`,
    `  bpf_filter = ${sqlString(c.bpf_filter)},`,
    `  snaplen = ${Number(c.snaplen)}, batch_packets = ${Number(c.batch_packets)}, batch_ms = ${Number(c.batch_ms)},`,
    `  upload_concurrency = ${Number(c.upload_concurrency)}, enabled = ${Number(c.enabled)}`,
    `WHERE agent_id = ${sqlString(agentId)};`,
  ].join('\n');
}

export function configInsertSql(agentId: string): string {
  return [
    'INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url)',
    `VALUES (${sqlString(agentId)}, 'eth0', '', 'https://splitcap.example:8080');`,
  ].join('\n');
}
