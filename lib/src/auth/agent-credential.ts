// An agent's credential: one random secret per enrollment (`fleetcap agents add|rotate`), from which the listener
// derives the two things it presents, so the host keeps one secret and each server stores only a verifier:
//   upload token  = "fcu1_" + base64url(HMAC-SHA256(secret, "fleetcap upload token v1"))  -> splitcap (Bearer)
//   ZK password   = base64url(HMAC-SHA256(secret, "fleetcap zookeeper digest v1"))        -> ZooKeeper digest auth
// The table agent_credential (sql/008) holds sha256(upload token) and the ZooKeeper digest id of the agent's
// user (`agent.<id>:base64(sha1(user:password))`, the form ZooKeeper's own ACLs store), never the secret.
// Why SHA-256 and not scrypt/argon2: the secret is 256 bits from the CSPRNG (./credential-hash.ts says it for every
// credential).
// The sniffer is given only the upload token (it never sees the secret nor the ZooKeeper password).
import { createHmac, randomBytes } from 'node:crypto';
import { digestId, withRefusalLog, type ZkAclEntry, ZkPermission } from '../zookeeper/acl.ts';
import { sha256Hex } from './credential-hash.ts';

// Kept importable from here; it lives apart so that reading a secret does not load ZooKeeper and argon2.
export { readSecretFile } from './secret-file.ts';

export const SECRET_PREFIX = 'fca1_';
export const UPLOAD_TOKEN_PREFIX = 'fcu1_';
const secretPattern = /^fca1_[A-Za-z0-9_-]{43}$/;

/** A new agent secret: 32 random bytes, base64url, with a prefix that secret scanners can match. */
export function newAgentSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function isAgentSecret(text: string): boolean {
  return secretPattern.test(text);
}

function derive(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(purpose).digest('base64url');
}

/** What the sniffer sends as `Authorization: Bearer`. */
export function uploadToken(secret: string): string {
  return `${UPLOAD_TOKEN_PREFIX}${derive(secret, 'fleetcap upload token v1')}`;
}

/** The agent's ZooKeeper digest user: `agent.<id>` (an agent id holds no ':'). */
export function zkUser(agentId: string): string {
  return `agent.${agentId}`;
}

export function zkPassword(secret: string): string {
  return derive(secret, 'fleetcap zookeeper digest v1');
}

/** `user:password` for ZooKeeper's addAuth('digest', ...). */
export function zkAuthCredentials(agentId: string, secret: string): string {
  return `${zkUser(agentId)}:${zkPassword(secret)}`;
}

/**
 * The ACL of the nodes the agent creates (its live node): the agent may do anything with it, anyone may read it
 * (it is status, as agent_status is, and config-sync reads it with its own credential).
 */
export function agentOwnedAcl(agentId: string, secret: string): ZkAclEntry[] {
  return withRefusalLog([
    { scheme: 'digest', id: digestId(zkUser(agentId), zkPassword(secret)), permissions: ZkPermission.ALL },
    { scheme: 'world', id: 'anyone', permissions: ZkPermission.READ },
  ]);
}

/** sha256 hex: what the table stores for an upload token, and what splitcap compares. */
export function tokenHash(token: string): string {
  return sha256Hex(token);
}

/** The verifiers of one secret, as stored in agent_credential. */
export function credentialVerifiers(agentId: string, secret: string): { tokenSha256: string; zkDigest: string } {
  return {
    tokenSha256: tokenHash(uploadToken(secret)),
    zkDigest: digestId(zkUser(agentId), zkPassword(secret)),
  };
}
