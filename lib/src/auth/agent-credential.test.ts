import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uploadTransportProblem } from '../upload/transport.ts';
import { digestId } from '../zookeeper/acl.ts';
import {
  credentialVerifiers,
  isAgentSecret,
  newAgentSecret,
  tokenHash,
  uploadToken,
  zkAuthCredentials,
} from './agent-credential.ts';
import { CredentialTable } from './credential-table.ts';

test('one secret gives an upload token and a ZooKeeper credential; the table keeps only their verifiers', () => {
  const secret = newAgentSecret();
  assert.ok(isAgentSecret(secret));
  assert.notEqual(newAgentSecret(), secret);
  const token = uploadToken(secret);
  assert.match(token, /^fcu1_[A-Za-z0-9_-]{43}$/);
  assert.equal(uploadToken(secret), token, 'derived, not random');
  const v = credentialVerifiers('host-1', secret);
  assert.equal(v.tokenSha256, tokenHash(token));
  const [user, password] = zkAuthCredentials('host-1', secret).split(/:(.*)/s) as [string, string];
  assert.equal(user, 'agent.host-1');
  assert.equal(v.zkDigest, digestId(user, password));
  for (const s of [token, password]) assert.ok(!v.tokenSha256.includes(s) && !v.zkDigest.includes(s));
  assert.notEqual(password, token.slice(5), 'the sniffer’s token is not the ZooKeeper password');
});

test('uploads: https always; http:// only when FLEETCAP_UPLOAD_PLAINTEXT allows it', () => {
  assert.equal(uploadTransportProblem('https://splitcap.example:8443', 'refuse'), undefined);
  assert.match(uploadTransportProblem('http://127.0.0.1:8080', 'refuse') ?? '', /is plain HTTP/);
  assert.equal(uploadTransportProblem('http://127.0.0.1:8080', 'loopback'), undefined);
  assert.equal(uploadTransportProblem('http://[::1]:8080', 'loopback'), undefined);
  assert.match(uploadTransportProblem('http://10.1.2.3:8080', 'loopback') ?? '', /10\.1\.2\.3 is no loopback address/);
  assert.equal(uploadTransportProblem('http://10.1.2.3:8080', 'any'), undefined);
  assert.match(uploadTransportProblem('ftp://x', 'any') ?? '', /only https:\/\//);
});

test('the credential table is read again only when its count or last change moves', async () => {
  let marks = { n: 1, m: '1' };
  let reads = 0;
  const pool = {
    query: async (sql: string) => {
      if (sql.includes('COUNT')) return [[marks]];
      reads++;
      return [[{ agent_id: 'a' }]];
    },
  };
  const seen: unknown[] = [];
  const table = new CredentialTable({
    pool: pool as never,
    columns: ['agent_id'],
    pollMs: 60_000,
    onRows: (r) => seen.push(r),
  });
  await table.poll();
  await table.poll();
  assert.equal(reads, 1);
  marks = { n: 1, m: '2' };
  await table.poll();
  assert.equal(reads, 2);
  assert.ok(table.loaded);
  assert.equal(table.error, null);
  await table.stop();
});
