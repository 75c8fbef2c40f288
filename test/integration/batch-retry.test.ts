// A batch retried after its session's occurrence was finished (issue 19: "after DONE_TTL a retried batch starts a
// second occurrence of the same session"; the fault run's duplicate verdicts): splitcap's first attempt stores the
// batch and then fails (RabbitMQ unreachable: 503), the session-worker classifies and finishes the occurrence from an
// earlier message, the done marker expires, and only then does the agent's retry come. The retry must resume after
// the append (the receipt key says what the append decided) instead of storing the packets in a new occurrence.
// Real Redis and RabbitMQ of the stack, splitcap's Ingest and the worker's SessionFinisher in this process.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { sessionKeyOf } from '@fleetcap/lib/session/key';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { META, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { SessionWriter } from '@fleetcap/lib/session-store/writer';
import { Ingest } from '@fleetcap/splitcap/ingest';
import { createMetrics } from '@fleetcap/splitcap/metrics';
import { Scheduler, SchedulerUnavailable } from '@fleetcap/splitcap/scheduler';
import { pino } from 'pino';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { assertStackUp, connections, uniqueId } from '../helpers/stack.ts';

const prefix = uniqueId('rty').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('retry-agent').slice(0, 60);
const DELAY_MS = 60_000;
const log = pino({ level: 'silent' });
const splitcapRedis = connectRedis(loadConnections(process.env, 'splitcap').redisUrl, undefined);
const workerRedis = connectRedis(loadConnections(process.env, 'session-worker').redisUrl, undefined);
const schedulers: Scheduler[] = [];

after(async () => {
  for (const s of schedulers) await s.close();
  splitcapRedis.disconnect();
  workerRedis.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS).catch(() => {});
});

/** One UDP packet of a new session, captured now. */
function oneSessionBatch(): { body: Buffer; key: string } {
  const frame = buildPacket({ proto: 'udp', src: '10.77.1.1', sport: 40123, dst: '10.77.1.2', dport: 53 });
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  const us = Date.now() * 1000;
  writer.write({ tsSec: Math.floor(us / 1e6), tsNsec: (us % 1e6) * 1000, data: frame, origLen: frame.length });
  return { body: writer.toBuffer(), key: sessionKeyOf('udp', '10.77.1.1', 40123, '10.77.1.2', 53) };
}

function scheduler(amqpUrl: string): Scheduler {
  const s = new Scheduler({ amqpUrl, queuePrefix: prefix, delayMs: DELAY_MS, maxReadyDepth: 10_000 }, log);
  schedulers.push(s);
  return s;
}

test('a batch retried after its occurrence was finished and its done marker expired stores nothing twice', async () => {
  assertStackUp();
  const store = new SessionWriter(splitcapRedis, {
    prefix,
    maxPacketsPerSession: 24,
    sessionTtlSeconds: 3600,
    receiptTtlSeconds: 3600,
  });
  const metrics = createMetrics();
  const { body, key } = oneSessionBatch();
  const keys = sessionKeys({ agent, key }, prefix);

  // The first attempt: the append runs, the publish fails (no RabbitMQ at this address): the agent gets a 503.
  const away = scheduler('amqp://127.0.0.1:1');
  await assert.rejects(new Ingest(store, away, metrics).ingest(agent, 'b-1', body), SchedulerUnavailable);
  const occurrence = Number(await workerRedis.hget(keys.meta, META.occurrence));
  assert.ok(occurrence > 0, 'the first attempt stored the session');

  // The worker classifies the occurrence (from another batch's message) and finishes it; the done marker expires.
  await new SessionFinisher(workerRedis, prefix, 1).finish([{ agent, key, occurrence }]);
  await sleep(1500);
  assert.equal(await workerRedis.exists(keys.done), 0, 'the done marker expired');

  // The retry, with RabbitMQ back: accepted, and the packet is not stored in a second occurrence.
  const up = scheduler(connections.amqpUrl);
  await up.start();
  const result = await new Ingest(store, up, metrics).ingest(agent, 'b-1', body);
  assert.equal(result.packetsStored, 1, 'the answer reports what the first attempt stored');
  assert.equal(await workerRedis.exists(keys.meta), 0, 'no second occurrence of the session was started');
  assert.equal(await workerRedis.zcard(keys.packets), 0, 'no packet stored again');
  const resumed = (await metrics.batches.get()).values.find((v) => v.labels.outcome === 'resumed');
  assert.equal(resumed?.value, 1, 'counted as a resumed batch');

  // A third attempt (the 202 was lost) is a duplicate.
  const again = await new Ingest(store, up, metrics).ingest(agent, 'b-1', body);
  assert.equal(again.duplicate, true);
});
