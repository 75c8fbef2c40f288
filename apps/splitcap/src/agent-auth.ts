// Who may upload: an agent proves its id with the upload token derived from its secret (lib/src/auth/agent-credential.ts).
// Two sources of accepted tokens:
//   - the agent_credential table (sql/008, polled by CredentialTable): enrollment, rotation, revocation by SQL;
//   - FLEETCAP_SPLITCAP_TOKENS (agent=token pairs, development and tests).
// The table wins: an agent that has any row in the table (valid, expired or revoked) is judged by the table only,
// so revoking an agent in SQL also ends a development token configured for it.
// A token is bound to its agent: it is looked up by its hash, and the agent the row names must be the agent the
// upload claims (X-Fleetcap-Agent), so agent A's token claiming to be agent B is refused, and told apart from a
// forged one in the log and the metric.
import { tokenHash } from '@fleetcap/lib/auth/agent-credential';
import { matchesDigest, sha256 } from '@fleetcap/lib/auth/credential-hash';

export interface CredentialRow {
  agent_id: string;
  token_sha256: string;
  /** ms since the epoch, or null: no expiry. */
  not_after_ms: number | string | null;
  revoked_at: Date | string | null;
}

/** The columns splitcap reads (its account may read these only). */
export const credentialColumns = [
  'agent_id',
  'token_sha256',
  'UNIX_TIMESTAMP(not_after) * 1000 AS not_after_ms',
  'revoked_at',
] as const;

export type AuthRefusal =
  | 'missing-agent'
  | 'missing-token'
  | 'unknown-token'
  | 'revoked'
  | 'expired'
  | 'other-agent'
  | 'not-loaded';

export type AuthResult =
  | { ok: true; source: 'sql' | 'static' }
  | { ok: false; reason: AuthRefusal; message: string; tokenAgent?: string };

interface Known {
  agentId: string;
  notAfterMs: number | null;
  revoked: boolean;
}

export class AgentAuth {
  private byHash = new Map<string, Known>();
  private enrolled = new Set<string>();
  private readonly staticDigests: Map<string, Buffer>;
  private loaded = false;

  constructor(
    staticTokens: ReadonlyMap<string, string> = new Map(),
    /** false: no table (FLEETCAP_SPLITCAP_CREDENTIALS=tokens); only the static tokens count. */
    private readonly tableEnabled = true,
  ) {
    this.staticDigests = new Map([...staticTokens].map(([agent, token]) => [agent, sha256(token)]));
  }

  /** Replaces the table's rows (from CredentialTable). */
  setRows(rows: readonly CredentialRow[]): void {
    const byHash = new Map<string, Known>();
    const enrolled = new Set<string>();
    for (const r of rows) {
      enrolled.add(r.agent_id);
      const notAfter = r.not_after_ms === null ? null : Number(r.not_after_ms);
      byHash.set(String(r.token_sha256).toLowerCase(), {
        agentId: r.agent_id,
        notAfterMs: notAfter !== null && Number.isFinite(notAfter) ? notAfter : null,
        revoked: r.revoked_at !== null,
      });
    }
    this.byHash = byHash;
    this.enrolled = enrolled;
    this.loaded = true;
  }

  /** Agents with a valid credential now (for the ready signal and the gauge). */
  validAgents(now = Date.now()): number {
    const agents = new Set<string>();
    for (const k of this.byHash.values())
      if (!k.revoked && (k.notAfterMs === null || k.notAfterMs > now)) agents.add(k.agentId);
    for (const a of this.staticDigests.keys()) if (!this.enrolled.has(a)) agents.add(a);
    return agents.size;
  }

  check(agent: string | undefined, token: string | undefined, now = Date.now()): AuthResult {
    if (!agent)
      return {
        ok: false,
        reason: 'missing-agent',
        message: 'missing X-Fleetcap-Agent header: name the agent whose token you send',
      };
    if (!token)
      return {
        ok: false,
        reason: 'missing-token',
        message: `missing bearer token for agent "${agent}": send Authorization: Bearer <the agent's upload token>`,
      };
    const known = this.tableEnabled ? this.byHash.get(tokenHash(token)) : undefined;
    if (known) {
      if (known.agentId !== agent)
        return {
          ok: false,
          reason: 'other-agent',
          tokenAgent: known.agentId,
          message: `this token is not agent "${agent}"'s: each agent uploads with its own token`,
        };
      if (known.revoked)
        return {
          ok: false,
          reason: 'revoked',
          message: `the token of agent "${agent}" was revoked: enroll the agent again (fleetcap agents rotate ${agent})`,
        };
      if (known.notAfterMs !== null && known.notAfterMs <= now)
        return {
          ok: false,
          reason: 'expired',
          message: `the token of agent "${agent}" expired at ${new Date(known.notAfterMs).toISOString()} (rotated): give the agent its new secret`,
        };
      return { ok: true, source: 'sql' };
    }
    const expected = this.enrolled.has(agent) ? undefined : this.staticDigests.get(agent);
    // Compared in constant time, and compared even when there is none, so timing says nothing.
    if (matchesDigest(token, expected)) return { ok: true, source: 'static' };
    if (this.tableEnabled && !this.loaded && !this.staticDigests.has(agent))
      return {
        ok: false,
        reason: 'not-loaded',
        message: 'the agent credentials are not loaded from MariaDB yet; retry later',
      };
    return { ok: false, reason: 'unknown-token', message: `bad bearer token for agent "${agent}"` };
  }
}
