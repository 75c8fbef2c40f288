import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { createMetrics } from './metrics.ts';
import { OTHER_USERS, type Refusal, RefusalRecorder } from './refusal-recorder.ts';
import { lineHandler } from './refusal-sources.ts';

function setup(options: { maxUsers?: number; logPerMinute?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = createLogger('refusal-exporter', { destination, level: 'info' });
  const metrics = createMetrics();
  let now = 0;
  const recorder = new RefusalRecorder(metrics, log, {
    maxUsers: options.maxUsers ?? 100,
    logPerMinute: options.logPerMinute ?? 30,
    now: () => now,
  });
  return { lines, metrics, recorder, tick: (ms: number) => (now += ms) };
}

const refusal = (user: string, over: Partial<Refusal> = {}): Refusal => ({
  server: 'mariadb',
  user,
  kind: 'column',
  operation: 'SELECT',
  object: 'agent_credential.token_sha256',
  client: '127.0.0.1',
  detail: { error: 1143 },
  ...over,
});

async function value(metrics: ReturnType<typeof createMetrics>, labels: Record<string, string>): Promise<number> {
  const m = await metrics.refusals.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

test('each refusal is counted per server, user, kind and operation, and logged with who, what and where', async () => {
  const s = setup();
  s.recorder.record(refusal('fleetcap_report'));
  s.recorder.record(
    refusal('', { server: 'zookeeper', kind: 'anonymous', operation: 'read', object: '/fleetcap/agents/a/config' }),
  );
  assert.equal(
    await value(s.metrics, { server: 'mariadb', user: 'fleetcap_report', kind: 'column', operation: 'SELECT' }),
    1,
  );
  assert.equal(
    await value(s.metrics, { server: 'zookeeper', user: '(none)', kind: 'anonymous', operation: 'read' }),
    1,
  );
  assert.equal(s.lines[0]?.code, 'refusal-exporter.mariadb-refusal');
  assert.equal(s.lines[0]?.object, 'agent_credential.token_sha256');
  assert.equal(s.lines[1]?.code, 'refusal-exporter.zookeeper-refusal');
  assert.match(
    String(s.lines[1]?.msg),
    /zookeeper refused read of \/fleetcap\/agents\/a\/config to an anonymous client from 127\.0\.0\.1/,
  );
});

test('users past maxUsers share user="(other)"; the log line keeps the name', async () => {
  const s = setup({ maxUsers: 2 });
  for (const u of ['a', 'b', 'c', 'd', 'a']) s.recorder.record(refusal(u));
  assert.equal(await value(s.metrics, { user: 'a' }), 2);
  assert.equal(await value(s.metrics, { user: OTHER_USERS }), 2);
  assert.deepEqual(
    s.lines.map((l) => l.user),
    ['a', 'b', 'c', 'd', 'a'],
  );
});

test('log lines are limited per server, user and kind and minute; the next line says how many were not logged', async () => {
  const s = setup({ logPerMinute: 3 });
  for (let i = 0; i < 10; i++) s.recorder.record(refusal('x'));
  s.recorder.record(refusal('y'));
  assert.equal(await value(s.metrics, { user: 'x' }), 10, 'every refusal is counted');
  assert.equal(s.lines.filter((l) => l.user === 'x').length, 3);
  assert.equal(s.lines.filter((l) => l.user === 'y').length, 1, 'another user has its own limit');
  assert.equal((await s.metrics.suppressedLogLines.get()).values[0]?.value, 7);
  s.tick(60_000);
  s.recorder.record(refusal('x'));
  assert.equal(s.lines.at(-1)?.suppressedBefore, 7);
});

test('a line handler counts each outcome and logs a refusal line it cannot read (code refusal-exporter.unparsed-line)', async () => {
  const s = setup();
  const recorded: Refusal[] = [];
  const handle = lineHandler('zookeeper', s.metrics, createLogger('t', { level: 'silent' }), (r) => recorded.push(r));
  handle('123 [main] INFO org.apache.zookeeper.server.ZooKeeperServer - started');
  handle(
    'fleetcap-acl-refusal\tsession=0x1\tprincipal=agent.a\tip=127.0.0.1\tpermission=read\tznode=/r/agents/b/config\tkind=other-principal',
  );
  handle('fleetcap-acl-refusal\tsession=0x1');
  const lines = (await s.metrics.lines.get()).values.map((v) => [v.labels.outcome, v.value]);
  assert.deepEqual(lines.sort(), [
    ['other', 1],
    ['refusal', 1],
    ['unparsed', 1],
  ]);
  assert.deepEqual(
    [recorded[0]?.user, recorded[0]?.kind, recorded[0]?.object],
    ['agent.a', 'other-principal', '/r/agents/b/config'],
  );
});
