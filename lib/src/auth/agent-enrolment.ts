// Enrollment and revocation of agents in agent_credential (sql/008): a new secret per enrollment (its verifiers
// stored, the secret returned once to be handed to the agent), rotation with an overlap, revocation. Used by
// `fleetcap agents add|rotate|revoke|list` (as the admin account) and by the console's admin actions (as the console
// account, which may insert credentials and set revoked_at/not_after and nothing else: sql/012).
import type mysql from 'mysql2/promise';
import { agentIdPattern } from '../agent/paths.ts';
import { credentialVerifiers, isAgentSecret, newAgentSecret } from './agent-credential.ts';

export interface Enrolled {
  agentId: string;
  credentialId: number;
  secret: string;
  /** The old credentials' expiry (rotate only). */
  oldUntil?: Date;
}

type Sql = Pick<mysql.Connection, 'query' | 'execute'>;

export function checkAgentId(agentId: string): void {
  if (!agentIdPattern.test(agentId))
    throw new Error(
      `"${agentId}" is no agent id: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
}

const validNow = 'revoked_at IS NULL AND (not_after IS NULL OR not_after > NOW(3))';

async function validCount(sql: Sql, agentId: string): Promise<number> {
  const [rows] = await sql.execute<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM agent_credential WHERE agent_id = ? AND ${validNow}`,
    [agentId],
  );
  return Number(rows[0]?.n ?? 0);
}

async function insertCredential(sql: Sql, agentId: string, note: string, secret = newAgentSecret()): Promise<Enrolled> {
  const v = credentialVerifiers(agentId, secret);
  const [res] = await sql.execute<mysql.ResultSetHeader>(
    'INSERT INTO agent_credential (agent_id, token_sha256, zk_digest, note) VALUES (?, ?, ?, ?)',
    [agentId, v.tokenSha256, v.zkDigest, note],
  );
  return { agentId, credentialId: res.insertId, secret };
}

/** A first credential for the agent; refused when it has a valid one (rotate it instead). */
export async function addAgent(sql: Sql, agentId: string, note = ''): Promise<Enrolled> {
  checkAgentId(agentId);
  if ((await validCount(sql, agentId)) > 0)
    throw new Error(
      `agent "${agentId}" already has a valid credential: fleetcap agents rotate ${agentId} gives it a new one`,
    );
  return insertCredential(sql, agentId, note);
}

/**
 * Enrolls a secret made elsewhere (docker-compose's agent: `stack.sh secrets` writes it, compose's stack-init enrolls
 * it at every start), so it is idempotent: `present` when the agent already has a valid credential of this secret.
 * Refused when the agent has a valid credential of another secret (rotate it instead), or when the text is no agent
 * secret (a weak one would be a guessable token).
 */
export async function addAgentSecret(
  sql: Sql,
  agentId: string,
  secret: string,
  note = '',
): Promise<{ state: 'added' | 'present'; credentialId: number }> {
  checkAgentId(agentId);
  if (!isAgentSecret(secret))
    throw new Error(
      'that is no agent secret: "fca1_" and 43 base64url characters (32 random bytes), as `fleetcap agents add` makes',
    );
  const [rows] = await sql.execute<mysql.RowDataPacket[]>(
    `SELECT id FROM agent_credential WHERE agent_id = ? AND token_sha256 = ? AND ${validNow}`,
    [agentId, credentialVerifiers(agentId, secret).tokenSha256],
  );
  if (rows[0]) return { state: 'present', credentialId: Number(rows[0].id) };
  if ((await validCount(sql, agentId)) > 0)
    throw new Error(
      `agent "${agentId}" already has a valid credential of another secret: fleetcap agents rotate ${agentId} gives it a new one`,
    );
  const enrolled = await insertCredential(sql, agentId, note, secret);
  return { state: 'added', credentialId: enrolled.credentialId };
}

/** A new credential; the old ones stay valid for overlapSeconds (both secrets work meanwhile), then expire. */
export async function rotateAgent(sql: Sql, agentId: string, overlapSeconds: number, note = ''): Promise<Enrolled> {
  checkAgentId(agentId);
  const enrolled = await insertCredential(sql, agentId, note || 'rotation');
  await sql.execute(
    `UPDATE agent_credential SET not_after = LEAST(COALESCE(not_after, NOW(3) + INTERVAL ? SECOND), NOW(3) + INTERVAL ? SECOND)
     WHERE agent_id = ? AND id <> ? AND ${validNow}`,
    [overlapSeconds, overlapSeconds, agentId, enrolled.credentialId],
  );
  return { ...enrolled, oldUntil: new Date(Date.now() + overlapSeconds * 1000) };
}

/** Revokes every valid credential of the agent; resolves with how many. */
export async function revokeAgent(sql: Sql, agentId: string): Promise<number> {
  checkAgentId(agentId);
  const [res] = await sql.execute<mysql.ResultSetHeader>(
    `UPDATE agent_credential SET revoked_at = NOW(3) WHERE agent_id = ? AND ${validNow}`,
    [agentId],
  );
  return res.affectedRows;
}

export async function listCredentials(sql: Sql): Promise<Array<Record<string, unknown>>> {
  const [rows] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT id, agent_id, note, created_at, not_after, revoked_at,
            CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                 WHEN not_after IS NOT NULL AND not_after <= NOW(3) THEN 'expired'
                 WHEN not_after IS NOT NULL THEN 'valid until not_after'
                 ELSE 'valid' END AS state
     FROM agent_credential ORDER BY agent_id, id`,
  );
  return rows;
}
