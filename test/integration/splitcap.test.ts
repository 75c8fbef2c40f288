// splitcap against the real Redis and RabbitMQ: tcpdump-written captures uploaded as raw bodies (the
// way `curl --data-binary @file.pcap` sends them) leave in Redis the sessions that the offline command
// prints, with its Community IDs, every session gets exactly one message per reason it deserves, a batch sent
// twice changes nothing, and two agents uploading one conversation hold two sessions that neither changes for
// the other.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TCP_ACK, TCP_FIN, TCP_RST } from '@fleetcap/lib/packet/decode';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { decodeSessionMessage, type SessionMessage, splitScheduleMessage } from '@fleetcap/lib/queue/session-message';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { communityId } from '@fleetcap/lib/session-record/community-id';
import { decodePacketRecord, sessionKeys, toClientDirection } from '@fleetcap/lib/session-store/layout';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, repoRoot, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture, syntheticPackets } from '../helpers/synthetic-sessions.ts';

const MAX = 24;
const DELAY_MS = 1000;
const prefix = uniqueId('it').replace(/[^A-Za-z0-9]/g, '');
const agent = 'itest-agent';
const token = 'itest-token-0123456789';
const otherAgent = 'other';
const otherToken = 'other-token-xyz';
const queues = sessionQueueNames(prefix, DELAY_MS);
const work = mkdtempSync(join(tmpdir(), 'splitcap-it-'));
const sharedPcaps = join(repoRoot, '..', 'shared', 'pcaps', 'tcpdump-tests');

let redis: Redis;
let amqpConn: amqp.ChannelModel;
let channel: amqp.Channel;
let replicaA: RunningApp;
let replicaB: RunningApp;

interface OfflineSession {
  key: string;
  proto: string;
  src: string;
  sport: number;
  packets: number;
  packetsFromSrc: number;
  bytes: number;
  communityId: string;
}

function offlineSessions(file: string): OfflineSession[] {
  const out = execFileSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'sessions', '--json', file], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((o) => o.type === 'session');
}

/** Keys of sessions that saw a FIN or RST (what the closed reason is owed to). */
function closingKeys(file: string): Set<string> {
  const s = new Sessionizer();
  for (const p of readCaptureBuffer(readFileSync(file))) s.add(p);
  return new Set([...s.sessions.values()].filter((x) => x.tcpFlagsSeen & (TCP_FIN | TCP_RST)).map((x) => x.key));
}

function curlUpload(
  port: number,
  file: string,
  extra: string[] = [],
): { status: number; body: Record<string, unknown> } {
  const out = execFileSync(
    'curl',
    [
      '-sS',
      '-w',
      '\n%{http_code}',
      '-H',
      `Authorization: Bearer ${token}`,
      '-H',
      `X-Fleetcap-Agent: ${agent}`,
      ...extra,
      '--data-binary',
      `@${file}`,
      `http://127.0.0.1:${port}/v1/batches`,
    ],
    { encoding: 'utf8' },
  );
  const lines = out.trim().split('\n');
  return { status: Number(lines.pop()), body: JSON.parse(lines.join('\n')) };
}

async function upload(port: number, body: Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/batches`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'x-fleetcap-agent': agent,
      'content-type': 'application/vnd.tcpdump.pcap',
      ...headers,
    },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** Every session scheduled in the ready queue now (a message of a batch holds several: splitScheduleMessage). */
async function readyMessages(): Promise<SessionMessage[]> {
  const messages: SessionMessage[] = [];
  for (;;) {
    const m = await channel.get(queues.ready, { noAck: true });
    if (!m) return messages;
    for (const part of splitScheduleMessage(m.content) ?? [m.content]) messages.push(decodeSessionMessage(part));
  }
}

/** Everything in the ready queue now, as key|reason -> count (agent/key|reason for agents but this one). */
async function drainReady(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const msg of await readyMessages()) {
    const k = `${msg.agent === agent ? '' : `${msg.agent}/`}${msg.key}|${msg.reason}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

async function storedSession(key: string, of = agent) {
  const k = sessionKeys({ agent: of, key }, prefix);
  const [meta, members] = await Promise.all([redis.hgetall(k.meta), redis.zrangeBuffer(k.packets, 0, -1)]);
  return { meta, records: members.map(decodePacketRecord) };
}

/** Records a capture of real traffic on loopback with tcpdump: UDP flows of 1..40 packets and TCP connections. */
async function recordLoopbackCapture(file: string): Promise<void> {
  const udpPort = 40000 + Math.floor(Math.random() * 10000);
  const tcpPort = udpPort + 1;
  const tcpdump = spawn('tcpdump', ['-i', 'lo', '-U', '-n', '-w', file, `udp port ${udpPort} or tcp port ${tcpPort}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  tcpdump.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 50 && !err.includes('listening on'); i++) await sleep(100);
  assert.match(err, /listening on lo/, `tcpdump started: ${err}`);

  const server = createSocket('udp4');
  await new Promise<void>((r) => server.bind(udpPort, '127.0.0.1', () => r()));
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  for (let flow = 0; flow < 12; flow++) {
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const n = [1, 3, 11, 12, 13, 20][flow % 6]!; // requests; each gets an echo, so 2n packets
    for (let i = 0; i < n; i++) {
      await new Promise<void>((r) => client.send(Buffer.alloc(20 + i, flow), udpPort, '127.0.0.1', () => r()));
      await sleep(2);
    }
    await sleep(20);
    client.close();
  }
  server.close();

  const tcpServer = createServer((s) => s.on('data', (d) => s.write(d)).on('end', () => s.end()));
  await new Promise<void>((r) => tcpServer.listen(tcpPort, '127.0.0.1', () => r()));
  for (const exchanges of [2, 30]) {
    await new Promise<void>((resolve) => {
      const c = connect(tcpPort, '127.0.0.1', async () => {
        for (let i = 0; i < exchanges; i++) {
          c.write(`hello ${i}\n`);
          await sleep(3);
        }
        c.end();
      });
      c.on('data', () => {});
      c.on('close', () => resolve());
    });
  }
  tcpServer.close();
  await sleep(300);
  tcpdump.kill('SIGINT');
  await new Promise((r) => tcpdump.once('exit', r));
}

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  amqpConn = await amqp.connect(connections.amqpUrl);
  channel = await amqpConn.createChannel();
  const env = {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token},${otherAgent}=${otherToken}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
    FLEETCAP_SESSION_MAX_PACKETS: String(MAX),
    FLEETCAP_SPLITCAP_MAX_BODY_BYTES: String(4 * 1024 * 1024),
  };
  [replicaA, replicaB] = await Promise.all([startApp('splitcap', env), startApp('splitcap', env)]);
});

after(async () => {
  await replicaA?.stop();
  await replicaB?.stop();
  await amqpConn?.close();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS);
});

describe('splitcap with real Redis and RabbitMQ', () => {
  const capture = join(work, 'loopback.pcap');

  test('a tcpdump capture sent with curl --data-binary lands in Redis as the offline command sessionizes it', async () => {
    await recordLoopbackCapture(capture);
    const expected = offlineSessions(capture);
    assert.ok(expected.length >= 14, `the capture holds the generated flows (${expected.length})`);

    const res = curlUpload(replicaA.port, capture);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.sessions, expected.length);

    for (const s of expected) {
      const { meta, records } = await storedSession(s.key);
      const stored = Math.min(s.packets, MAX);
      assert.equal(records.length, stored, `${s.key}: stored packets`);
      assert.equal(Number(meta.packets), stored, `${s.key}: packet count`);
      assert.equal(Number(meta.overflow ?? 0), s.packets - stored, `${s.key}: packets over the cap are counted`);
      assert.equal(Number(meta.bytes), s.bytes, `${s.key}: bytes of every packet seen`);
      assert.equal(meta.agent, agent);
      assert.equal(meta.community_id, s.communityId, `${s.key}: the Community ID the offline command prints`);
      // Every packet keeps its direction: the initiator is the offline command's src.
      const initiator = Number(meta.initiator) as 0 | 1;
      const fromClient = records.map((r) => toClientDirection(r, initiator)).filter((r) => r.direction === 0).length;
      if (s.packets <= MAX) assert.equal(fromClient, s.packetsFromSrc, `${s.key}: packets from the initiator`);
      assert.equal(
        records[0] && toClientDirection(records[0], initiator).direction,
        0,
        `${s.key}: the first packet is the client's`,
      );
      assert.deepEqual(
        records.map((r) => r.seq),
        records.map((_, i) => i + 1),
        `${s.key}: members stay distinct and ordered`,
      );
    }
  });

  test('every session gets exactly one message per reason it deserves', async () => {
    const expected = offlineSessions(capture);
    const closing = closingKeys(capture);
    await sleep(DELAY_MS + 1500); // the delay messages dead-letter into the ready queue
    const messages = await readyMessages();
    const communityIds = new Map(expected.map((s) => [s.key, s.communityId]));
    for (const m of messages) {
      assert.equal(m.agent, agent, `${m.key}: the message names the agent's session`);
      assert.equal(m.communityId, communityIds.get(m.key), `${m.key}: the message carries the Community ID`);
    }
    const got = new Map<string, number>();
    for (const m of messages) got.set(`${m.key}|${m.reason}`, (got.get(`${m.key}|${m.reason}`) ?? 0) + 1);
    const want = new Map<string, number>();
    for (const s of expected) {
      want.set(`${s.key}|delay`, 1);
      if (s.packets >= MAX) want.set(`${s.key}|full`, 1);
      else if (closing.has(s.key)) want.set(`${s.key}|closed`, 1);
    }
    assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()));
    assert.ok(
      [...want.keys()].some((k) => k.endsWith('|full')),
      'the capture exercises the full path',
    );
    assert.ok(
      [...want.keys()].some((k) => k.endsWith('|closed')),
      'the capture exercises the closed path',
    );
  });

  test('the same batch sent twice changes nothing, through either replica', async () => {
    const expected = offlineSessions(capture);
    const before = await Promise.all(expected.map((s) => storedSession(s.key)));
    const again = curlUpload(replicaA.port, capture);
    assert.equal(again.status, 202);
    assert.equal(again.body.duplicate, true);
    const viaOther = await upload(replicaB.port, readFileSync(capture), {
      'x-fleetcap-batch': String(again.body.batchId),
    });
    assert.equal(viaOther.status, 202);
    assert.equal(viaOther.body.duplicate, true);
    const afterwards = await Promise.all(expected.map((s) => storedSession(s.key)));
    assert.deepEqual(afterwards, before);
    await sleep(DELAY_MS + 1000);
    assert.deepEqual(await drainReady(), new Map(), 'no message for a duplicate batch');
  });

  test('two replicas fed interleaved halves of one capture store every packet once, and schedule once', async () => {
    const file = join(work, 'interleaved.pcap');
    // A second recording, so these sessions are new.
    await recordLoopbackCapture(file);
    const packets = [...readCaptureBuffer(readFileSync(file))];
    const halves = [
      new PcapWriter({ linktype: packets[0]!.linktype }),
      new PcapWriter({ linktype: packets[0]!.linktype }),
    ];
    for (const [i, p] of packets.entries()) {
      halves[i % 2]!.write({ tsSec: p.tsSec, tsNsec: p.tsNsec, origLen: p.origLen, data: p.data });
    }
    const [a, b] = await Promise.all([
      upload(replicaA.port, halves[0]!.toBuffer(), { 'x-fleetcap-batch': 'half-a' }),
      upload(replicaB.port, halves[1]!.toBuffer(), { 'x-fleetcap-batch': 'half-b' }),
    ]);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    for (const s of offlineSessions(file)) {
      const { meta, records } = await storedSession(s.key);
      assert.equal(records.length, Math.min(s.packets, MAX), `${s.key}: packets stored once`);
      assert.equal(Number(meta.packets) + Number(meta.overflow ?? 0), s.packets, `${s.key}: every packet counted once`);
    }
    await sleep(DELAY_MS + 1500);
    const got = await drainReady();
    for (const [k, n] of got) assert.equal(n, 1, `${k} scheduled once`);
    const delays = [...got.keys()].filter((k) => k.endsWith('|delay')).length;
    assert.equal(delays, offlineSessions(file).length);
  });

  test('real tcpdump-tests captures are stored as the offline command sessionizes them', async (t) => {
    if (!existsSync(sharedPcaps)) {
      console.warn(`SKIPPED: ${sharedPcaps} is absent; these checks need ../shared/pcaps beside the repo`);
      t.skip('../shared/pcaps absent');
      return;
    }
    for (const name of ['afs.pcap', 'dhcpv6-domain-list.pcap', 'tcp_header_heap-overflow.pcap', 'mptcp.pcap']) {
      const file = join(sharedPcaps, name);
      if (!existsSync(file)) continue;
      const res = await upload(replicaA.port, readFileSync(file), { 'x-fleetcap-batch': `shared-${name}` });
      assert.equal(res.status, 202, `${name}: ${JSON.stringify(res.body)}`);
      for (const s of offlineSessions(file)) {
        const { meta } = await storedSession(s.key);
        assert.equal(Number(meta.packets) + Number(meta.overflow ?? 0), s.packets, `${name} ${s.key}`);
      }
    }
    await sleep(DELAY_MS + 1000);
    await drainReady();
  });

  test('two agents uploading one conversation hold two sessions; one agent’s RST and packets over the cap leave the other’s as it was', async () => {
    const {
      pcap,
      sessions: [conversation],
    } = syntheticCapture([{ proto: 'tcp', packets: 6 }], 7001);
    const c = conversation!;
    const expectedId = communityId({
      protocol: 6,
      src: c.client.address,
      sport: c.client.port,
      dst: c.server.address,
      dport: c.server.port,
    });
    // The same file from both agents: the same default batch id, which each agent's session applies once.
    const [fromAgent, fromOther] = await Promise.all([
      upload(replicaA.port, pcap),
      upload(replicaB.port, pcap, { authorization: `Bearer ${otherToken}`, 'x-fleetcap-agent': otherAgent }),
    ]);
    assert.equal(fromAgent.status, 202);
    assert.equal(fromOther.status, 202);
    assert.equal(fromOther.body.duplicate, false, "another agent's identical batch is not a duplicate");
    const mine = await storedSession(c.key);
    const theirs = await storedSession(c.key, otherAgent);
    for (const [who, s] of [
      [agent, mine],
      [otherAgent, theirs],
    ] as const) {
      assert.equal(s.records.length, 6, `${who}: its own 6 packets, not both agents' 12`);
      assert.equal(s.meta.agent, who);
      assert.equal(s.meta.community_id, expectedId, `${who}: one Community ID for the conversation`);
      assert.equal(s.meta.sched_now, undefined, `${who}: not closed, not full`);
    }

    // The other agent sees the server's RST, then 30 more packets of the same 5-tuple (its session: 24 kept).
    const rst = syntheticPackets(c, [{ fromClient: false, tsUs: c.lastUs + 1000, tcpFlags: TCP_RST | TCP_ACK }]);
    const more = syntheticPackets(
      c,
      Array.from({ length: 30 }, (_, i) => ({
        fromClient: i % 2 === 0,
        tsUs: c.lastUs + 2000 + i * 100,
        payloadBytes: 40,
      })),
    );
    const otherHeaders = { authorization: `Bearer ${otherToken}`, 'x-fleetcap-agent': otherAgent };
    assert.equal((await upload(replicaA.port, rst.pcap, otherHeaders)).status, 202);
    assert.equal((await upload(replicaB.port, more.pcap, otherHeaders)).status, 202);
    const theirsAfter = await storedSession(c.key, otherAgent);
    assert.equal(theirsAfter.meta.sched_now, 'closed', "the RST closed the other agent's session");
    assert.equal(theirsAfter.records.length, MAX);
    assert.equal(Number(theirsAfter.meta.overflow), 6 + 1 + 30 - MAX, 'its packets over the cap are counted');
    assert.deepEqual(await storedSession(c.key), mine, "this agent's session is as it was");

    // (A delay message may already be in the ready queue on a slow machine: only the immediate ones count here.)
    const soon = await readyMessages();
    assert.deepEqual(
      soon.filter((m) => m.reason !== 'delay').map((m) => [m.agent, m.key, m.reason, m.communityId]),
      [[otherAgent, c.key, 'closed', expectedId]],
      "only the other agent's session is ready",
    );
    await sleep(DELAY_MS + 1500);
    const delayed = [...soon, ...(await readyMessages())].filter((m) => m.reason === 'delay');
    assert.deepEqual(
      delayed.map((m) => `${m.agent}|${m.key}|${m.communityId}`).sort(),
      [`${agent}|${c.key}|${expectedId}`, `${otherAgent}|${c.key}|${expectedId}`],
      'a delay message for each agent’s session',
    );
  });

  test('bad uploads get precise errors and store nothing', async () => {
    const pcapHeader = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
    const lyingRecord = Buffer.alloc(16);
    lyingRecord.writeUInt32LE(300000, 8); // caplen far over any snaplen
    lyingRecord.writeUInt32LE(300000, 12);
    const malformed = await upload(replicaA.port, Buffer.concat([pcapHeader, lyingRecord, Buffer.alloc(64)]));
    assert.equal(malformed.status, 400);
    assert.match(
      String(malformed.body.error),
      /capture is malformed after 0 packets: record captured length 300000 exceeds .*offset 32/,
    );

    const notPcap = await upload(replicaA.port, Buffer.from('GET / HTTP/1.1\r\n'));
    assert.equal(notPcap.status, 400);
    assert.match(String(notPcap.body.error), /not a pcap or pcapng file: it starts with 0x47455420/);

    const wrongToken = await upload(replicaA.port, pcapHeader, { authorization: 'Bearer nope-nope-nope' });
    assert.equal(wrongToken.status, 401);
    const otherAgentsToken = await upload(replicaA.port, pcapHeader, { 'x-fleetcap-agent': otherAgent });
    assert.equal(otherAgentsToken.status, 401, "one agent's token does not open another's");
    const noAgent = await fetch(`http://127.0.0.1:${replicaA.port}/v1/batches`, { method: 'POST', body: pcapHeader });
    assert.equal(noAgent.status, 401);

    const tooBig = await upload(replicaA.port, Buffer.concat([pcapHeader, Buffer.alloc(5 * 1024 * 1024)]));
    assert.equal(tooBig.status, 413);
    assert.match(String(tooBig.body.error), /over the limit of 4194304 bytes/);

    const wrongType = await upload(replicaA.port, pcapHeader, { 'content-type': 'text/plain' });
    assert.equal(wrongType.status, 415);

    const health = await fetch(`http://127.0.0.1:${replicaA.port}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, checks: { redis: 'ok', rabbitmq: 'ok', credentials: 'ok' } });
    const metrics = await (await fetch(`http://127.0.0.1:${replicaA.port}/metrics`)).text();
    assert.match(metrics, /fleetcap_splitcap_batches_total\{[^}]*outcome="rejected"[^}]*\} [1-9]/);
  });
});

writeFileSync(join(work, 'README'), 'scratch space of test/integration/splitcap.test.ts\n');
