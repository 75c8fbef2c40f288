import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentialVerifiers, newAgentSecret, uploadToken } from '@fleetcap/lib/auth/agent-credential';
import { AgentAuth, type CredentialRow } from './agent-auth.ts';

const row = (agent: string, secret: string, over: Partial<CredentialRow> = {}): CredentialRow => ({
  agent_id: agent,
  token_sha256: credentialVerifiers(agent, secret).tokenSha256,
  not_after_ms: null,
  revoked_at: null,
  ...over,
});

test('a token from the table is its agent’s only: forged, revoked, expired and another agent’s are told apart', () => {
  const [a, b, old, gone] = [newAgentSecret(), newAgentSecret(), newAgentSecret(), newAgentSecret()];
  const auth = new AgentAuth();
  const now = Date.now();
  auth.setRows([
    row('host-a', a),
    row('host-b', b),
    row('host-a', old, { not_after_ms: now - 1 }),
    row('host-c', gone, { revoked_at: new Date() }),
  ]);
  assert.deepEqual(auth.check('host-a', uploadToken(a), now), { ok: true, source: 'sql' });
  const reason = (agent: string | undefined, token: string | undefined) => {
    const r = auth.check(agent, token, now);
    return r.ok ? 'ok' : r.reason;
  };
  assert.equal(reason('host-b', uploadToken(a)), 'other-agent');
  assert.equal(reason('host-a', uploadToken(newAgentSecret())), 'unknown-token');
  assert.equal(reason('host-a', uploadToken(old)), 'expired');
  assert.equal(reason('host-c', uploadToken(gone)), 'revoked');
  assert.equal(reason(undefined, uploadToken(a)), 'missing-agent');
  assert.equal(reason('host-a', undefined), 'missing-token');
  // The secret itself is not the upload token.
  assert.equal(reason('host-a', a), 'unknown-token');
  assert.equal(auth.validAgents(now), 2);
});

test('during a rotation both secrets work; the table wins over a static token of the same agent', () => {
  const [oldSecret, newSecret] = [newAgentSecret(), newAgentSecret()];
  const auth = new AgentAuth(
    new Map([
      ['host-a', 'static-token-1'],
      ['dev', 'static-token-2'],
    ]),
  );
  const now = Date.now();
  auth.setRows([row('host-a', oldSecret, { not_after_ms: now + 60_000 }), row('host-a', newSecret)]);
  assert.equal(auth.check('host-a', uploadToken(oldSecret), now).ok, true);
  assert.equal(auth.check('host-a', uploadToken(newSecret), now).ok, true);
  assert.equal(auth.check('host-a', uploadToken(oldSecret), now + 60_000).ok, false);
  assert.equal(
    auth.check('host-a', 'static-token-1', now).ok,
    false,
    'host-a is in the table: its static token is out',
  );
  assert.deepEqual(auth.check('dev', 'static-token-2', now), { ok: true, source: 'static' });
});

test('before the table is read, an enrolled agent is told to retry (503), not refused for good', () => {
  const auth = new AgentAuth(new Map([['dev', 'static-token-2']]));
  const r = auth.check('host-a', uploadToken(newAgentSecret()));
  assert.equal(r.ok ? 'ok' : r.reason, 'not-loaded');
  assert.equal(auth.check('dev', 'static-token-2').ok, true);
  const tokensOnly = new AgentAuth(new Map([['dev', 'static-token-2']]), false);
  const t = tokensOnly.check('host-a', 'whatever');
  assert.equal(t.ok ? 'ok' : t.reason, 'unknown-token');
});
