// The sniffer in a network namespace of its own, capturing on one end of a veth pair while traffic flows between
// the two ends; its uploads cross the same veth, through a relay in the other namespace, to a real splitcap (on
// the stack's Redis and RabbitMQ). What arrived is what splitcap stored: the test datagrams carry their index in
// their source port and payload length (netns.ts), which splitcap keeps.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type AgentProcess,
  type DatagramNumbering,
  destroy,
  sendUdp,
  startAgentApp,
  until,
  type VethPair,
} from '../helpers/netns.ts';
import { SplitcapPeer, type StoredDatagram, vethPairUploadingTo } from '../helpers/splitcap-peer.ts';
import { assertStackUp, repoRoot, uniqueId } from '../helpers/stack.ts';

const RELAY_PORT = 18080;

/** datagram index -> times splitcap stored it */
function timesStored(datagrams: StoredDatagram[]): Map<number, number> {
  const seen = new Map<number, number>();
  for (const d of datagrams) seen.set(d.index, (seen.get(d.index) ?? 0) + 1);
  return seen;
}

const agents = {
  filter: 'ns-agent-filter',
  spool: 'ns-agent-spool',
  rejects: 'ns-agent-rejects',
  full: 'ns-agent-full',
  badFilter: 'ns-agent-bad-filter',
};

describe('sniffer in a network namespace', { timeout: 120_000 }, () => {
  let pair: VethPair;
  const splitcap = new SplitcapPeer(Object.values(agents));
  const running: AgentProcess[] = [];

  before(async () => {
    assertStackUp();
    pair = await vethPairUploadingTo(splitcap, RELAY_PORT);
  });

  after(async () => {
    for (const p of running) await p.stop(5000).catch(() => null);
    await splitcap.close();
    if (pair !== undefined) destroy(pair);
  });

  /** What splitcap stored of a numbered stream to this port of the sniffer's end. */
  const stored = (numbering: DatagramNumbering, port: number, sent: number) =>
    splitcap.datagrams(numbering, pair.addrA, port, sent);

  function sniffer(
    agentId: string,
    bpfFilter: string,
    extraEnv: Record<string, string> = {},
    revision = 1,
  ): AgentProcess {
    const config = {
      agentId,
      device: pair.devA,
      bpfFilter,
      splitcapUrl: `http://${pair.addrB}:${RELAY_PORT}`,
      snaplen: 65535,
      batchPackets: 50,
      batchMs: 200,
      uploadConcurrency: 2,
      enabled: true,
      revision,
    };
    const p = startAgentApp(pair, pair.nsA, 'sniffer', repoRoot, {
      FLEETCAP_AGENT_CONFIG: JSON.stringify(config),
      FLEETCAP_AGENT_TOKEN: splitcap.token,
      FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool'),
      FLEETCAP_UPLOAD_BACKOFF_BASE_MS: '100',
      FLEETCAP_UPLOAD_BACKOFF_MAX_MS: '500',
      FLEETCAP_STATS_INTERVAL_MS: '200',
      ...extraEnv,
    });
    running.push(p);
    return p;
  }

  test('captures exactly the packets the filter selects, and never its own uploads', async () => {
    const tag = uniqueId('fcs').replace(/-/g, '').slice(0, 12);
    // "or tcp" would match the uploads, which cross this very veth: the exclusion must keep them out.
    const s = sniffer(agents.filter, '(udp and dst port 5000) or tcp');
    const capturing = await s.waitFor('capturing', 20_000);
    assert.match(
      String(capturing.filter),
      /^\(\(udp and dst port 5000\) or tcp\) and not \(host 10\.250\.\d+\.\d+ and tcp port 18080\)$/,
    );
    const skippedBefore = await splitcap.metric('fleetcap_splitcap_packets_total', { fate: /^skipped-/ });
    const [to5000, to5001] = await Promise.all([
      sendUdp(pair, pair.nsB, pair.addrA, 5000, `fcsa-${tag}`, 400, { batch: 4 }),
      sendUdp(pair, pair.nsB, pair.addrA, 5001, `fcsb-${tag}`, 150, { batch: 4 }),
    ]);
    await until(
      async () => (await stored(to5000, 5000, 400)).length >= 400,
      15_000,
      async () => `stored ${(await stored(to5000, 5000, 400)).length}/400`,
    );
    assert.equal(await s.stop(), 0, 'SIGTERM ends the sniffer with 0');
    const seen = timesStored(await stored(to5000, 5000, 400));
    assert.equal(seen.size, 400, 'every datagram to port 5000 arrived');
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'none twice',
    );
    assert.equal((await stored(to5001, 5001, 150)).length, 0, 'nothing to port 5001');
    const sessions = (await splitcap.sessions()).filter((x) => x.agent === agents.filter);
    const packets = (list: typeof sessions) => list.reduce((n, x) => n + x.packets.length, 0);
    const uploads = sessions.filter((x) => x.proto === 'tcp' && [x.client.port, x.server.port].includes(RELAY_PORT));
    assert.equal(packets(uploads), 0, 'no upload packet in any batch');
    const other = sessions.filter((x) => x.proto !== 'udp' || x.server.port !== 5000);
    assert.equal(packets(other), 0);
    assert.equal(
      await splitcap.metric('fleetcap_splitcap_packets_total', { fate: /^skipped-/ }),
      skippedBefore,
      'no packet splitcap could not sessionize',
    );
    assert.equal(packets(sessions), 400, 'exactly the expected packets');
    const stopped = s.messages.find((m) => m.type === 'stopped') as { counters: Record<string, number> } | undefined;
    assert.ok(stopped, 'the sniffer reported its final counters');
    assert.equal(stopped.counters.captured, 400);
    assert.equal(stopped.counters.kernelDrops, 0);
    assert.equal(stopped.counters.batchesUploaded, await splitcap.receipts(agents.filter));
    assert.equal(stopped.counters.spoolDropped, 0);
  });

  test('SIGTERM with splitcap down leaves the batches in the spool; the next sniffer uploads them once', async () => {
    const tag = uniqueId('fcr').replace(/-/g, '').slice(0, 12);
    const before = await splitcap.receipts(agents.spool);
    const s1 = sniffer(agents.spool, 'udp and dst port 5002');
    await s1.waitFor('capturing', 20_000);
    await splitcap.stop();
    const sent = await sendUdp(pair, pair.nsB, pair.addrA, 5002, `fcr-${tag}`, 200, { batch: 4 });
    await until(
      () =>
        (s1.messages.filter((m) => m.type === 'counters').at(-1) as { counters?: { captured: number } } | undefined)
          ?.counters?.captured === 200,
      10_000,
      () => 'sniffer did not count 200 packets',
    );
    const t0 = Date.now();
    assert.equal(await s1.stop(), 0);
    assert.ok(Date.now() - t0 < 8000, 'the drain is bounded');
    const spooled = readdirSync(join(pair.dir, 'spool')).filter((n) => n.endsWith('.pcap'));
    assert.ok(spooled.length > 0, 'unsent batches stay in the spool');
    assert.equal(await splitcap.receipts(agents.spool), before);

    await splitcap.start();
    const s2 = sniffer(agents.spool, 'udp and dst port 5002', {}, 2);
    await s2.waitFor('capturing', 20_000);
    await until(
      async () => (await stored(sent, 5002, 200)).length >= 200,
      15_000,
      async () => `stored ${(await stored(sent, 5002, 200)).length}/200`,
    );
    assert.equal(await s2.stop(), 0);
    const seen = timesStored(await stored(sent, 5002, 200));
    assert.equal(seen.size, 200);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'none twice',
    );
    assert.equal(readdirSync(join(pair.dir, 'spool')).filter((n) => n.endsWith('.pcap')).length, 0, 'spool empty');
  });

  test('batches splitcap refuses with 400 go to rejected/ and are counted, sent once, never retried', async () => {
    // splitcap refuses what it cannot read: two files in the spool that are not captures, as a damaged disk or a
    // file copied in by hand leaves them. The sniffer uploads whatever its spool holds, oldest first.
    const spool = join(pair.dir, 'spool-rejects');
    mkdirSync(spool, { recursive: true });
    const pcapHeader = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
    const lyingRecord = Buffer.alloc(16);
    lyingRecord.writeUInt32LE(300_000, 8); // a captured length far over any snaplen
    lyingRecord.writeUInt32LE(300_000, 12);
    const unreadable = {
      '0000000000001-1-000000001-aaaaaa.n3.pcap': Buffer.from('not a capture at all\n'),
      '0000000000002-1-000000002-bbbbbb.n1.pcap': Buffer.concat([pcapHeader, lyingRecord, Buffer.alloc(64)]),
    };
    for (const [name, bytes] of Object.entries(unreadable)) writeFileSync(join(spool, name), bytes);
    const tag = uniqueId('fcx').replace(/-/g, '').slice(0, 12);
    const refusedBefore = await splitcap.metric('fleetcap_splitcap_batches_total', { outcome: 'rejected' });

    const s = sniffer(agents.rejects, 'udp and dst port 5003', { FLEETCAP_SPOOL_DIR: spool });
    await s.waitFor('capturing', 20_000);
    const sent = await sendUdp(pair, pair.nsB, pair.addrA, 5003, `fcx-${tag}`, 10);
    await s.waitFor('counters', 10_000, (m) => (m.counters as { rejected: number }).rejected >= 2);
    await until(
      async () => (await stored(sent, 5003, 10)).length >= 10,
      10_000,
      async () => `stored ${(await stored(sent, 5003, 10)).length}/10`,
    );
    // A retry would be another refusal within the backoff (100-500 ms): give it the time.
    await new Promise((r) => setTimeout(r, 1000));
    const rejectedCount = (s.messages.filter((m) => m.type === 'counters').at(-1)!.counters as { rejected: number })
      .rejected;
    assert.equal(rejectedCount, 2);
    assert.equal(
      (await splitcap.metric('fleetcap_splitcap_batches_total', { outcome: 'rejected' })) - refusedBefore,
      rejectedCount,
      'one request per rejected batch: no retry',
    );
    assert.equal(await s.stop(), 0);
    assert.ok(existsSync(join(spool, 'rejected')));
    assert.deepEqual(readdirSync(join(spool, 'rejected')).sort(), Object.keys(unreadable).sort());
    assert.match(s.output(), /"status":400.*splitcap refused the batch; moved to rejected\//);
    assert.match(s.output(), /body is not a pcap or pcapng file/);
    assert.match(s.output(), /capture is malformed after 0 packets/);
    const seen = timesStored(await stored(sent, 5003, 10));
    assert.equal(seen.size, 10, 'the readable batches still arrive');
    assert.ok([...seen.values()].every((n) => n === 1));
  });

  test('splitcap down and the spool full: the oldest batches are dropped and counted, the rest arrives once', async () => {
    const tag = uniqueId('fcd').replace(/-/g, '').slice(0, 12);
    await splitcap.stop();
    try {
      // Batches of 20 datagrams of 106-205 bytes on the wire are 2.6-4.6 KB: a 12 KB spool holds two to four.
      const s = sniffer(agents.full, 'udp and dst port 5004', {
        FLEETCAP_SPOOL_MAX_BYTES: '12000',
        FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool-small'),
      });
      await s.waitFor('capturing', 20_000);
      const sent = await sendUdp(pair, pair.nsB, pair.addrA, 5004, `fcd-${tag}`, 400, { batch: 20, intervalMs: 50 });
      const full = await s.waitFor('counters', 10_000, (m) => (m.counters as { captured: number }).captured === 400);
      const c = full.counters as { spoolDropped: number; spoolDroppedPackets: number; spooled: number };
      await splitcap.start();
      await until(
        () =>
          (s.messages.filter((m) => m.type === 'counters').at(-1)?.counters as { spooled: number } | undefined)
            ?.spooled === 0,
        15_000,
        () =>
          `spool did not drain: ${JSON.stringify(s.messages.filter((m) => m.type === 'counters').at(-1))}\n${s
            .output()
            .split('\n')
            .filter((l) => !/batch (uploaded|closed)/.test(l))
            .slice(-15)
            .join('\n')}`,
      );
      const final = s.messages.filter((m) => m.type === 'counters').at(-1)!.counters as {
        spoolDroppedPackets: number;
        spoolDropped: number;
      };
      assert.equal(await s.stop(), 0);
      const seen = timesStored(await stored(sent, 5004, 400));
      assert.ok(c.spoolDropped > 0, 'batches were dropped');
      assert.ok(
        [...seen.values()].every((n) => n === 1),
        'none twice',
      );
      assert.equal(seen.size + final.spoolDroppedPackets, 400, 'every packet either arrived or was counted as dropped');
      // Oldest first: what arrived is the newest part of the stream.
      const arrivedIdx = [...seen.keys()].sort((a, b) => a - b);
      assert.equal(arrivedIdx.at(-1), 399);
    } finally {
      await splitcap.start();
    }
  });

  test('a filter tcpdump cannot compile is an error message and exit 1', async () => {
    const s = sniffer(agents.badFilter, 'udp and and');
    const err = await s.waitFor('error', 20_000);
    assert.match(String(err.message), /capture did not start: .*syntax error/);
    assert.equal(await s.stop(), 1);
  });
});
