// One conversation seen by two agents (both of its ends run one), through the real splitcap, Redis, RabbitMQ,
// forecast, session-worker and MariaDB: two sessions, two verdict rows with the same Community ID, each agent's
// packets counted once in its own session; agent A's upload of a RST and of packets beyond the cap changes
// nothing of agent B's session; and report_conversations_multi_agent lists the conversation once, with both.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TCP_ACK, TCP_RST } from '@fleetcap/lib/packet/decode';
import { communityId } from '@fleetcap/lib/session-record/community-id';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture, syntheticPackets } from '../helpers/synthetic-sessions.ts';

const prefix = uniqueId('vp').replace(/[^A-Za-z0-9]/g, '');
// A sorts before B (the rows are read ordered by agent).
const agentA = uniqueId('vp-a').slice(0, 60);
const agentB = uniqueId('vp-b').slice(0, 60);
const token = 'vantage-token-0123';
/** Long enough that agent B's session is still in Redis, untouched, while agent A's is classified. */
const DELAY_MS = 3000;
const MAX = 24;

let redis: Redis;
let db: mysql.Connection;
let splitcap: RunningApp;
let forecast: RunningApp;
let worker: RunningApp;

async function upload(agent: string, pcap: Buffer): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${splitcap.port}/v1/batches`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'x-fleetcap-agent': agent,
      'content-type': 'application/vnd.tcpdump.pcap',
    },
    body: pcap,
  });
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text) as Record<string, unknown>;
}

async function stored(agent: string, key: string) {
  const k = sessionKeys({ agent, key }, prefix);
  const [meta, packets, done] = await Promise.all([
    redis.hgetall(k.meta),
    redis.zrange(k.packets, 0, -1, 'WITHSCORES'),
    redis.exists(k.done),
  ]);
  return { meta, packets, done };
}

interface Row {
  id: number;
  agent_id: string;
  community_id: string;
  packets: number;
  reason: string;
}

async function waitForRows(key: string, agents: string[], withinMs: number): Promise<Row[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const [rows] = await db.query(
      'SELECT id, agent_id, community_id, packets, reason FROM session_verdict WHERE session_key = ? AND agent_id IN (?) ORDER BY agent_id',
      [key, agents],
    );
    if ((rows as Row[]).length >= agents.length || Date.now() > deadline) return rows as Row[];
    await sleep(200);
  }
}

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  db = await mysqlAs('admin');
  [splitcap, forecast] = await Promise.all([
    startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_TOKENS: `${agentA}=${token},${agentB}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
      FLEETCAP_SESSION_MAX_PACKETS: String(MAX),
    }),
    startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 30000),
  ]);
  worker = await startApp('session-worker', {
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast.port}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_WORKER_PORT: '0',
    FLEETCAP_WORKER_BATCH_MS: '10',
  });
});

after(async () => {
  await worker?.stop();
  await splitcap?.stop();
  await forecast?.stop();
  await db?.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [[agentA, agentB]]);
  await db?.end();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS);
});

describe('one conversation, two vantage points', () => {
  test('two sessions and two rows with one Community ID; agent A’s RST and overflow leave agent B’s session alone; the multi-agent view lists it', async () => {
    const {
      pcap,
      sessions: [conversation, onlyA],
    } = syntheticCapture(
      [
        { proto: 'tcp', packets: 8 },
        { proto: 'udp', packets: 2 },
      ],
      9101,
    );
    const c = conversation!;
    const key = c.key;
    const expectedId = communityId({
      protocol: 6,
      src: c.client.address,
      sport: c.client.port,
      dst: c.server.address,
      dport: c.server.port,
    });

    // Both ends capture the first 8 packets (agent B sees the TCP conversation only).
    const tcpOnly = syntheticPackets(
      c,
      Array.from({ length: 8 }, (_, i) => ({
        fromClient: i % 2 === 0,
        tsUs: c.firstUs + i * 1000,
        tcpFlags: TCP_ACK,
        payloadBytes: 20 + i,
      })),
    );
    await upload(agentA, pcap);
    await upload(agentB, tcpOnly.pcap);
    const beforeB = await stored(agentB, key);
    assert.equal(beforeB.packets.length / 2, 8, "agent B's session holds its own 8 packets");
    assert.equal(beforeB.meta.community_id, expectedId);
    assert.equal((await stored(agentA, key)).meta.community_id, expectedId, 'the same Community ID for agent A');

    // Agent A then sees 16 more packets (its session reaches the cap) and the server's RST, and one packet over it.
    const late = syntheticPackets(c, [
      ...Array.from({ length: 16 }, (_, i) => ({ fromClient: i % 2 === 0, tsUs: c.lastUs + 1000 + i * 100 })),
      { fromClient: false, tsUs: c.lastUs + 5000, tcpFlags: TCP_RST | TCP_ACK },
    ]);
    const answer = await upload(agentA, late.pcap);
    assert.equal((answer.skipped as { overMax: number }).overMax, 1, "agent A's packet over the cap");
    assert.deepEqual(answer.scheduled, { full: 1 });

    // Agent A's session is classified at once; agent B's is exactly as it was, and still waits for its delay.
    const [rowA] = await waitForRows(key, [agentA], 10000);
    assert.equal(rowA?.reason, 'full');
    assert.equal(rowA?.packets, 8 + 16 + 1, "agent A's packets, counted once, not agent B's");
    const nowB = await stored(agentB, key);
    assert.deepEqual(nowB, beforeB, "agent B's session: same packets, counters and schedule flags, not done");
    assert.equal(nowB.meta.sched_now, undefined, 'neither closed nor full for agent B');
    assert.equal(nowB.done, 0);

    const rows = await waitForRows(key, [agentA, agentB], DELAY_MS + 15000);
    assert.deepEqual(
      rows.map((r) => [r.agent_id, r.community_id, r.packets, r.reason]),
      [
        [agentA, expectedId, 25, 'full'],
        [agentB, expectedId, 8, 'delay'],
      ],
      'a row per agent, with one Community ID',
    );

    const report = await mysqlAs('report', { dateStrings: true });
    try {
      const [listed] = await report.query(
        'SELECT * FROM report_conversations_multi_agent WHERE community_id IN (?, ?)',
        [
          expectedId,
          communityId({
            protocol: 17,
            src: onlyA!.client.address,
            sport: onlyA!.client.port,
            dst: onlyA!.server.address,
            dport: onlyA!.server.port,
          }),
        ],
      );
      const conversations = listed as Array<Record<string, unknown>>;
      assert.equal(conversations.length, 1, 'the conversation once; the one only agent A saw not at all');
      const v = conversations[0]!;
      assert.equal(v.community_id, expectedId);
      assert.equal(Number(v.agent_count), 2);
      assert.equal(v.agents, [agentA, agentB].sort().join(','));
      assert.equal(Number(v.sessions), 2);
      assert.equal(
        String(v.verdict_ids),
        rows
          .map((r) => r.id)
          .sort((x, y) => x - y)
          .join(','),
      );
      assert.equal(v.client_addr, c.client.address);
      assert.equal(v.server_port, c.server.port);
    } finally {
      await report.end();
    }
  });
});
