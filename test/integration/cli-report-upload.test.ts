// `fleetcap upload`, `fleetcap report` and `fleetcap agents` against the real stack and splitcap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { communityId } from '@fleetcap/lib/session-record/community-id';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import { Redis } from 'ioredis';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';

const prefix = uniqueId('cli').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('cli-agent');
/** The agent at the other end of the conversation the report test stores. */
const otherEnd = `${agent}-b`;
const token = 'cli-upload-token-1';
let splitcap: RunningApp;
const fleetcap = (...args: string[]) =>
  execFileSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, ...args], { cwd: repoRoot, encoding: 'utf8' });

before(async () => {
  assertStackUp();
  splitcap = await startApp('splitcap', {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
  });
});

after(async () => {
  await splitcap?.stop();
  await removePipelineNamespace(prefix);
  const db = await mysqlAs('admin');
  await db.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [[agent, otherEnd]]);
  await db.query('DELETE FROM sniffer_config WHERE agent_id = ?', [agent]);
  await db.end();
});

test('fleetcap upload sends a capture in batches, and a rerun adds nothing', async () => {
  const { pcap, sessions } = syntheticCapture(
    Array.from({ length: 30 }, (_, i) => ({ proto: i % 2 ? ('udp' as const) : ('tcp' as const), packets: 5 })),
    4242,
  );
  const file = join(mkdtempSync(join(tmpdir(), 'upload-')), 'capture.pcap');
  writeFileSync(file, pcap);
  const args = [
    'upload',
    '--url',
    `http://127.0.0.1:${splitcap.port}`,
    '--agent',
    agent,
    '--token',
    token,
    '--batch-packets',
    '60',
    file,
  ];
  assert.match(fleetcap(...args), /150 packets in 3 batches\n/);
  assert.match(fleetcap(...args), /150 packets in 3 batches \(3 already uploaded\)/);
  const redis = new Redis(connections.redisUrl);
  try {
    for (const s of sessions)
      assert.equal(await redis.zcard(sessionKeys({ agent, key: s.key }, prefix).packets), 5, s.key);
  } finally {
    redis.disconnect();
  }
});

test('fleetcap upload refuses without a token, naming what to pass', () => {
  assert.throws(
    () =>
      execFileSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'upload', 'x.pcap'], {
        encoding: 'utf8',
        env: { ...process.env, FLEETCAP_AGENT_TOKEN: '' },
        stdio: 'pipe',
      }),
    (err: { status: number; stderr: string }) =>
      err.status === 2 && /no token: pass --token or set FLEETCAP_AGENT_TOKEN/.test(err.stderr),
  );
});

test('fleetcap report and agents show the reporting views through the reporting account', async () => {
  const conversationId = communityId({ protocol: 6, src: '198.51.100.7', sport: 40001, dst: '192.0.2.10', dport: 22 });
  const db = await mysqlAs('admin');
  try {
    await db.query(
      "INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url) VALUES (?, 'eth9', 'tcp port 22', 'http://127.0.0.1:8080')",
      [agent],
    );
    // One conversation seen by both its ends: a session, and a row, per agent.
    for (const [who, label] of [
      [agent, 'bruteforce'],
      [otherEnd, 'benign'],
    ]) {
      await db.query(
        `INSERT INTO session_verdict (session_key, occurrence, agent_id, community_id, protocol, client_addr, client_port,
          server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, model_version, reason)
         VALUES (?, 1, ?, ?, 'tcp', '198.51.100.7', 40001, '192.0.2.10', 22, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), 3, 180, ?, 0.99, 'test', 'closed')`,
        ['tcp/192.0.2.10/22/198.51.100.7/40001', who, conversationId, label],
      );
    }
  } finally {
    await db.end();
  }
  const report = fleetcap('report');
  for (const title of [
    'Sessions and alerts per label',
    'Alerts per hour',
    'Verdicts per label per hour',
    'Alerts (most recent 10',
    'Conversations seen by several agents',
    'Sessions with their connection record and application metadata',
    'Top talkers',
  ]) {
    assert.ok(report.includes(title), `report has "${title}"`);
  }
  const escaped = conversationId.replace(/[+/=]/g, '\\$&');
  assert.match(report, new RegExp(`bruteforce.*198\\.51\\.100\\.7:40001.*192\\.0\\.2\\.10:22.*${escaped}`));
  const conversations = report.slice(report.indexOf('Conversations seen by several agents'));
  assert.match(
    conversations,
    new RegExp(`${escaped}.*198\\.51\\.100\\.7:40001.*192\\.0\\.2\\.10:22.*${agent},${otherEnd}.*benign,bruteforce`),
    'the conversation is listed once with both agents and what each concluded',
  );
  const agents = fleetcap('agents');
  assert.match(agents, new RegExp(`${agent}.*eth9.*tcp port 22`));
});
