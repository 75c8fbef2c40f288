// Attacks on the upload path, against a real splitcap (HTTPS with the certificate `stack up` made, credentials from
// the real agent_credential table, enrolled with the real `fleetcap agents` command): a forged token, a revoked one,
// another agent's, agent A's token claiming to be agent B, a rotated-out one, a plaintext request to the HTTPS port.
// Each is refused with a clear error, logged with a code, and counted in fleetcap_splitcap_auth_refusals_total /
// fleetcap_splitcap_tls_refusals_total. Enrollment and revocation take effect within 5 s with no restart.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newAgentSecret, uploadToken } from '@fleetcap/lib/auth/agent-credential';
import { BATCHES_PATH, uploadHeaders } from '@fleetcap/lib/upload/batch-upload';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import {
  enroll,
  fleetcap,
  httpsGet,
  httpsPost,
  metricValue,
  removeCredentials,
  stackTls,
} from '../helpers/security.ts';
import { assertStackUp, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';

const prefix = uniqueId('sec').replace(/[^A-Za-z0-9]/g, '');
const agentPrefix = `${prefix}-`;
const [agentA, agentB, agentC] = ['a', 'b', 'c'].map((x) => `${agentPrefix}${x}`) as [string, string, string];
const work = mkdtempSync(join(tmpdir(), 'fleetcap-sec-upload-'));
const ca = readFileSync(stackTls.ca);
let splitcap: RunningApp;
let base: string;
const secrets: Record<string, string> = {};

function upload(agent: string, token: string, seed: number) {
  return httpsPost(
    `${base}${BATCHES_PATH}`,
    ca,
    uploadHeaders(agent, token, `b-${seed}`),
    syntheticCapture([{ proto: 'udp', packets: 2 }], seed).pcap,
  );
}

async function metrics(): Promise<string> {
  return (await httpsGet(`${base}/metrics`, ca)).body;
}

/** Polls until the upload gets `status`; resolves with the ms it took. */
async function untilStatus(agent: string, token: string, status: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (let seed = 1000; ; seed++) {
    const r = await upload(agent, token, seed);
    if (r.status === status) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(
        `still ${r.status} (${r.body}) after ${timeoutMs} ms, wanted ${status}\n${splitcap.output().slice(-3000)}`,
      );
    await sleep(100);
  }
}

before(async () => {
  assertStackUp();
  secrets[agentA] = enroll('add', agentA, work);
  secrets[agentB] = enroll('add', agentB, work);
  splitcap = await startApp('splitcap', {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TLS_CERT: stackTls.cert,
    FLEETCAP_SPLITCAP_TLS_KEY: stackTls.key,
    FLEETCAP_SPLITCAP_PLAINTEXT: 'refuse',
    FLEETCAP_SPLITCAP_CREDENTIAL_POLL_MS: '1000',
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SESSION_DELAY_MS: '1000',
  });
  base = `https://127.0.0.1:${splitcap.port}`;
});

after(async () => {
  await splitcap?.stop();
  removeCredentials(agentPrefix);
  await removePipelineNamespace(prefix, 1000);
  rmSync(work, { recursive: true, force: true });
});

describe('agent tokens', () => {
  test('an enrolled agent uploads with the token derived from its secret (the control case)', async () => {
    const r = await upload(agentA, uploadToken(secrets[agentA]!), 1);
    assert.equal(r.status, 202, r.body);
  });

  test('a forged token is refused (401), logged as splitcap.auth.unknown-token, counted', async () => {
    const before = metricValue(await metrics(), 'fleetcap_splitcap_auth_refusals_total', { reason: 'unknown-token' });
    const r = await upload(agentA, 'fcu1_forgedforgedforgedforgedforgedforgedforg', 2);
    assert.equal(r.status, 401);
    assert.match(JSON.parse(r.body).error, new RegExp(`bad bearer token for agent "${agentA}"`));
    assert.equal(
      metricValue(await metrics(), 'fleetcap_splitcap_auth_refusals_total', { reason: 'unknown-token' }),
      before + 1,
    );
    assert.match(splitcap.output(), /"code":"splitcap\.auth\.unknown-token"/);
  });

  test('the secret itself is no upload token (a leaked secret file is what rotate is for, but the token is derived)', async () => {
    const r = await upload(agentA, secrets[agentA]!, 3);
    assert.equal(r.status, 401);
  });

  test("agent A's token claiming to be agent B is refused as another agent's token", async () => {
    const r = await upload(agentB, uploadToken(secrets[agentA]!), 4);
    assert.equal(r.status, 401);
    assert.match(JSON.parse(r.body).error, new RegExp(`this token is not agent "${agentB}"'s`));
    const m = await metrics();
    assert.equal(metricValue(m, 'fleetcap_splitcap_auth_refusals_total', { reason: 'other-agent' }), 1);
    assert.match(
      splitcap.output(),
      new RegExp(`"code":"splitcap\\.auth\\.other-agent".*"agent":"${agentB}".*"tokenAgent":"${agentA}"`),
    );
    // B's own token still works: the refusal was about A's token.
    assert.equal((await upload(agentB, uploadToken(secrets[agentB]!), 5)).status, 202);
  });

  test('a revoked agent is refused within 5 s, with no restart; an agent enrolled meanwhile is accepted within 5 s', async () => {
    fleetcap(['agents', 'revoke', agentB]);
    const revokedMs = await untilStatus(agentB, uploadToken(secrets[agentB]!), 401, 5000);
    const r = await upload(agentB, uploadToken(secrets[agentB]!), 6);
    assert.match(JSON.parse(r.body).error, /was revoked/);
    assert.match(splitcap.output(), /"code":"splitcap\.auth\.revoked"/);
    assert.ok(metricValue(await metrics(), 'fleetcap_splitcap_auth_refusals_total', { reason: 'revoked' }) >= 1);

    secrets[agentC] = enroll('add', agentC, work);
    const enrolledMs = await untilStatus(agentC, uploadToken(secrets[agentC]!), 202, 5000);
    console.log(`# revocation in force after ${revokedMs} ms, enrollment after ${enrolledMs} ms (poll 1000 ms)`);
  });

  test('rotation: both secrets work during the overlap, then only the new one', async () => {
    const fresh = enroll('rotate', agentA, work, ['--overlap', '3']);
    await untilStatus(agentA, uploadToken(fresh), 202, 5000);
    assert.equal(
      (await upload(agentA, uploadToken(secrets[agentA]!), 7)).status,
      202,
      'the old secret during the overlap',
    );
    const expiredMs = await untilStatus(agentA, uploadToken(secrets[agentA]!), 401, 6000);
    assert.match(JSON.parse((await upload(agentA, uploadToken(secrets[agentA]!), 8)).body).error, /expired at/);
    assert.equal((await upload(agentA, uploadToken(fresh), 9)).status, 202);
    console.log(`# old secret refused ${expiredMs} ms after the new one worked (overlap 3 s)`);
  });
});

describe('a secret made elsewhere (docker-compose: stack.sh secrets makes it, stack-init enrolls it at every start)', () => {
  const agentD = `${agentPrefix}d`;
  const write = (name: string, text: string) => {
    const file = join(work, name);
    writeFileSync(file, `${text}\n`, { mode: 0o600 });
    return file;
  };
  test('is enrolled once; enrolling it again is nothing to do; splitcap accepts it within 5 s', async () => {
    const secret = newAgentSecret();
    const file = write('compose-agent.secret', secret);
    assert.match(
      fleetcap(['agents', 'add', agentD, '--existing-secret-file', file]),
      /enrolled agent ".*d" \(credential \d+\)/,
    );
    assert.match(
      fleetcap(['agents', 'add', agentD, '--existing-secret-file', file]),
      /is enrolled with the secret in .* already/,
    );
    await untilStatus(agentD, uploadToken(secret), 202, 5000);
  });
  test('another secret for an enrolled agent, a weak one, or a file others may read is refused with what to do', () => {
    const refused = (args: string[]) => {
      try {
        fleetcap(args);
      } catch (err) {
        return String((err as { stderr?: string }).stderr);
      }
      assert.fail(`accepted: ${args.join(' ')}`);
    };
    const other = write('other.secret', newAgentSecret());
    assert.match(
      refused(['agents', 'add', agentD, '--existing-secret-file', other]),
      /already has a valid credential of another secret: fleetcap agents rotate/,
    );
    const weak = write('weak.secret', 'password123');
    assert.match(
      refused(['agents', 'add', `${agentPrefix}e`, '--existing-secret-file', weak]),
      /that is no agent secret/,
    );
    const open = write('open.secret', newAgentSecret());
    chmodSync(open, 0o644);
    assert.match(
      refused(['agents', 'add', `${agentPrefix}e`, '--existing-secret-file', open]),
      /is readable by others \(mode 644\): chmod 600/,
    );
  });
});

describe('transport', () => {
  test('a plaintext request to the HTTPS port gets no answer; splitcap logs splitcap.tls.plaintext and counts it', async () => {
    const err = await new Promise<Error>((resolve) => {
      const req = httpRequest(
        `http://127.0.0.1:${splitcap.port}${BATCHES_PATH}`,
        { method: 'POST', headers: uploadHeaders(agentA, 'x', 'plain') },
        () => resolve(new Error('answered')),
      );
      req.on('error', resolve);
      req.end(Buffer.alloc(10));
    });
    assert.notEqual(err.message, 'answered');
    await sleep(200);
    assert.equal(metricValue(await metrics(), 'fleetcap_splitcap_tls_refusals_total', { reason: 'plaintext' }), 1);
    assert.match(splitcap.output(), /"code":"splitcap\.tls\.plaintext"/);
  });

  test('splitcap refuses to start without TLS unless FLEETCAP_SPLITCAP_PLAINTEXT allows it (and then on loopback only)', async () => {
    await assert.rejects(
      startApp('splitcap', { FLEETCAP_SPLITCAP_PORT: '0', FLEETCAP_SPLITCAP_PLAINTEXT: 'refuse' }),
      /FLEETCAP_SPLITCAP_PLAINTEXT.*no TLS certificate: set FLEETCAP_SPLITCAP_TLS_CERT and FLEETCAP_SPLITCAP_TLS_KEY/s,
    );
    await assert.rejects(
      startApp('splitcap', {
        FLEETCAP_SPLITCAP_PORT: '0',
        FLEETCAP_SPLITCAP_HOST: '0.0.0.0',
        FLEETCAP_SPLITCAP_PLAINTEXT: 'loopback',
      }),
      /allows plain HTTP on a loopback address only, not on 0\.0\.0\.0/,
    );
  });
});
