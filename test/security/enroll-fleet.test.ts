// A fleet of 1,000 agents enrolled the way docs/OPERATIONS.md says (`fleetcap agents add-many`, one transaction,
// each secret in its own 0600 file), against the real MariaDB and a real splitcap that runs meanwhile: the first and
// the last agent of the batch are accepted within 5 s with no restart, one revoked by SQL is refused within 5 s, and a
// batch with a bad id enrolls nothing.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { uploadToken } from '@fleetcap/lib/auth/agent-credential';
import { BATCHES_PATH, uploadHeaders } from '@fleetcap/lib/upload/batch-upload';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import type { RunningApp } from '../helpers/processes.ts';
import { fleetcap, httpsPost, removeCredentials, stackTls, startHttpsSplitcap } from '../helpers/security.ts';
import { assertStackUp, mariadbCli, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';

const FLEET = 1000;
const prefix = uniqueId('secfleet').replace(/[^A-Za-z0-9]/g, '');
const ids = Array.from({ length: FLEET }, (_, i) => `${prefix}-host-${String(i + 1).padStart(4, '0')}`);
const work = mkdtempSync(join(tmpdir(), 'fleetcap-sec-fleet-'));
const secretsDir = join(work, 'secrets');
const ca = readFileSync(stackTls.ca);
let splitcap: RunningApp;

async function statusOf(agent: string, seed: number): Promise<number> {
  const secret = readFileSync(join(secretsDir, `${agent}.secret`), 'utf8').trim();
  const r = await httpsPost(
    `https://127.0.0.1:${splitcap.port}${BATCHES_PATH}`,
    ca,
    uploadHeaders(agent, uploadToken(secret), `b-${seed}`),
    syntheticCapture([{ proto: 'udp', packets: 2 }], seed).pcap,
  );
  return r.status;
}

async function untilStatus(agent: string, status: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (let seed = 1; ; seed++) {
    const got = await statusOf(agent, seed);
    if (got === status) return Date.now() - t0;
    assert.ok(Date.now() - t0 < timeoutMs, `${agent}: still ${got} after ${timeoutMs} ms, wanted ${status}`);
    await sleep(100);
  }
}

before(async () => {
  assertStackUp();
  mkdirSync(secretsDir, { mode: 0o700 });
  splitcap = await startHttpsSplitcap(prefix);
});

after(async () => {
  await splitcap?.stop();
  removeCredentials(`${prefix}-`);
  await removePipelineNamespace(prefix, 1000);
  rmSync(work, { recursive: true, force: true });
});

test('a batch with a bad id, a duplicate or an existing secret file enrolls nothing', () => {
  const refused = (lines: string[]) => {
    const file = join(work, `bad-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    try {
      fleetcap(['agents', 'add-many', file, '--secrets-dir', secretsDir]);
    } catch (err) {
      return String((err as { stderr?: string }).stderr);
    }
    assert.fail(`accepted: ${lines.join(', ')}`);
  };
  assert.match(refused([ids[0]!, 'bad id!']), /agent 2: "bad id!" is no agent id/);
  assert.match(refused([ids[0]!, ids[0]!]), /is listed twice/);
  writeFileSync(join(secretsDir, `${ids[1]}.secret`), 'x\n', { mode: 0o600 });
  assert.match(refused([ids[0]!, ids[1]!]), /exists \(1 such file\(s\)\): a secret is never overwritten/);
  rmSync(join(secretsDir, `${ids[1]}.secret`));
  assert.equal(mariadbCli(`SELECT COUNT(*) FROM agent_credential WHERE agent_id LIKE '${prefix}-%'`).trim(), '0');
});

test(`${FLEET} agents enrolled in one command; splitcap, running all along, accepts the first and the last within 5 s`, {
  timeout: 300_000,
}, async () => {
  const list = join(work, 'hosts.txt');
  writeFileSync(list, `# the fleet\n${ids.join('\n')}\n`);
  const t0 = Date.now();
  const out = fleetcap(['agents', 'add-many', list, '--secrets-dir', secretsDir, '--note', 'fleet test']);
  const commandMs = Date.now() - t0;
  assert.match(out, new RegExp(`enrolled ${FLEET} agents in`));
  assert.ok(!out.includes('fca1_'), 'no secret printed');
  const files = readdirSync(secretsDir);
  assert.equal(files.length, FLEET);
  for (const f of files.slice(0, 20)) assert.equal(statSync(join(secretsDir, f)).mode & 0o777, 0o600);
  assert.equal(
    mariadbCli(`SELECT COUNT(*) FROM agent_credential WHERE agent_id LIKE '${prefix}-%' AND revoked_at IS NULL`).trim(),
    String(FLEET),
  );
  const firstMs = await untilStatus(ids[0]!, 202, 5000);
  const lastMs = await untilStatus(ids[FLEET - 1]!, 202, 5000);
  mariadbCli(`UPDATE agent_credential SET revoked_at = NOW(3) WHERE agent_id = '${ids[500]}'`);
  const revokedMs = await untilStatus(ids[500]!, 401, 5000);
  assert.equal(await statusOf(ids[501]!, 9), 202, 'its neighbour is untouched');
  console.log(
    `# ${FLEET} agents enrolled by one command in ${commandMs} ms (process start included); accepted by splitcap ${firstMs} ms (first) and ${lastMs} ms (last) after it returned; one revoked by SQL refused after ${revokedMs} ms`,
  );
});
