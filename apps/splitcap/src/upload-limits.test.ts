// The upload limits without servers: the decoder stops at the first session over the limit, the gate admits at
// most N uploads and frees a slot whether the answer is sent or the client leaves, and the Redis memory guard's
// arithmetic refuses from the high-water mark on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { createRegistry } from '@fleetcap/lib/telemetry/metrics';
import express from 'express';
import pino from 'pino';
import { decodeBatch } from './batch-decoder.ts';
import { fullest, memoryPressure, parseInfoMemory } from './redis-memory-guard.ts';
import { concurrentUploadsGate, createLimitMetrics, SessionLimitError, sessionLimitProblem } from './upload-limits.ts';

/** `flows` single-packet UDP flows, each from another source port, then `repeats` more packets of the first flow. */
function capture(flows: number, repeats = 0): Buffer {
  const writer = new PcapWriter({ linktype: 1 });
  const packet = (sport: number) => buildPacket({ proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport, dport: 53 });
  for (let i = 0; i < flows; i++) writer.write({ tsSec: 1_700_000_000, tsNsec: i * 1000, data: packet(1024 + i) });
  for (let i = 0; i < repeats; i++) writer.write({ tsSec: 1_700_000_001, tsNsec: i * 1000, data: packet(1024) });
  return writer.toBuffer();
}

const silent = pino({ level: 'silent' });

describe('sessions per batch', () => {
  test('a batch of exactly the limit decodes; one session more throws at the packet that starts it', () => {
    assert.equal(decodeBatch(capture(100, 50), 0, 2048, 100).sessions.size, 100);
    assert.throws(
      () => decodeBatch(capture(101), 0, 2048, 100),
      (err: unknown) =>
        err instanceof SessionLimitError &&
        err.limit === 100 &&
        err.packetsRead === 101 &&
        /more than 100 sessions/.test(err.message) &&
        /smaller batches/.test(err.message),
    );
  });

  test('packets of sessions already seen do not count: many packets in few sessions pass', () => {
    const batch = decodeBatch(capture(3, 5000), 0, 2048, 3);
    assert.equal(batch.packetsSessionized, 5003);
  });

  test('the answer names the reason a sender acts on', () => {
    const problem = sessionLimitProblem(new SessionLimitError(7, 8), 'b-1');
    assert.equal(problem.reason, 'too-many-sessions');
    assert.equal(problem.batchId, 'b-1');
  });
});

describe('concurrent uploads', () => {
  test('the gate admits max uploads, answers the next 503 busy with Retry-After, and frees slots on close', async () => {
    const metrics = createLimitMetrics(createRegistry('test', { defaultMetrics: false }));
    const release: Array<() => void> = [];
    const app = express();
    app.post('/', concurrentUploadsGate(2, metrics, silent), (_req, res) => {
      release.push(() => res.status(202).json({}));
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const post = () =>
      new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/' }, (res) => {
          let body = '';
          res
            .on('data', (c) => (body += c))
            .on('end', () =>
              resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string, body }),
            );
        });
        req.on('error', reject).end('x');
      });
    try {
      const first = [post(), post()];
      while (release.length < 2) await new Promise((r) => setTimeout(r, 5));
      const busy = await post();
      assert.equal(busy.status, 503);
      assert.equal(busy.retryAfter, '2');
      assert.equal(JSON.parse(busy.body).reason, 'busy');
      assert.equal(
        (await metrics.refusals.get()).values.find((v) => v.labels.limit === 'concurrent-uploads')?.value,
        1,
      );
      assert.equal((await metrics.uploadsInFlight.get()).values[0]?.value, 2);
      release.shift()!();
      assert.equal((await first[0]!).status, 202);
      const third = post();
      while (release.length < 2) await new Promise((r) => setTimeout(r, 5));
      for (const done of release.splice(0)) done();
      assert.deepEqual([(await first[1]!).status, (await third).status], [202, 202]);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal((await metrics.uploadsInFlight.get()).values[0]?.value, 0);
    } finally {
      server.close();
    }
  });
});

describe('Redis memory', () => {
  const info = (used: number, maxmemory: number, policy = 'noeviction') =>
    `# Memory\r\nused_memory:${used}\r\nused_memory_human:1M\r\nmaxmemory:${maxmemory}\r\nmaxmemory_policy:${policy}\r\n`;
  const settings = { highWater: 0.8, fallbackLimitBytes: 0, intervalMs: 1000 };

  test('INFO memory is read to the fields the guard needs', () => {
    assert.deepEqual(parseInfoMemory(info(123, 456, 'allkeys-lru')), {
      used: 123,
      maxmemory: 456,
      policy: 'allkeys-lru',
    });
    assert.equal(parseInfoMemory('# Memory\r\n'), undefined);
  });

  test('refuses from the high-water fraction of maxmemory on, and says what to do', () => {
    assert.equal(memoryPressure(parseInfoMemory(info(799, 1000))!, settings), undefined);
    assert.match(memoryPressure(parseInfoMemory(info(800, 1000))!, settings)!, /over 80% of its maxmemory of 1000/);
  });

  test('without maxmemory the fallback limit applies, and without either nothing is refused', () => {
    assert.equal(memoryPressure(parseInfoMemory(info(10 ** 12, 0))!, settings), undefined);
    assert.match(
      memoryPressure(parseInfoMemory(info(900, 0))!, { ...settings, fallbackLimitBytes: 1000 })!,
      /FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES of 1000/,
    );
  });
});

describe('Redis memory over a cluster', () => {
  test('the fullest master decides: sessions spread by slot, and the first full master refuses its slots', () => {
    const a = { used: 500, maxmemory: 1000, policy: 'noeviction' };
    const b = { used: 300, maxmemory: 400, policy: 'noeviction' };
    assert.equal(fullest([a, b], 0), b, '75% beats 50%, although it uses fewer bytes');
    const noLimit = { used: 15, maxmemory: 0, policy: 'noeviction' };
    assert.equal(fullest([a, noLimit], 20), noLimit, 'a node without maxmemory is measured against the fallback limit');
    assert.equal(fullest([], 0), undefined);
  });
});
