// The sniffer in a network namespace of its own, capturing on one end of a veth pair while traffic flows between
// the two ends; its uploads cross the same veth to a real HTTP receiver behind a relay in the other namespace.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DecodedPacket, decodePacket } from '@fleetcap/lib/packet/decode';
import { BatchReceiver } from '../helpers/batch-receiver.ts';
import {
  type AgentProcess,
  createVethPair,
  destroy,
  sendUdp,
  startAgentApp,
  tcpToUnixRelay,
  until,
  type VethPair,
} from '../helpers/netns.ts';
import { repoRoot, uniqueId } from '../helpers/stack.ts';

const RELAY_PORT = 18080;

export interface Tally {
  /** payload tag-index -> times seen */
  byContent: Map<string, number>;
  udp: number;
  /** TCP packets to or from the upload port (must stay 0). */
  uploads: number;
  other: number;
}

export function tally(receiver: BatchReceiver, tagPrefix: string): Tally {
  const out = new DecodedPacket();
  const t: Tally = { byContent: new Map(), udp: 0, uploads: 0, other: 0 };
  for (const p of receiver.packets()) {
    if (decodePacket(p.linktype, p.data, out) !== null) {
      t.other++;
      continue;
    }
    if (out.proto === 'tcp' && (out.sport === RELAY_PORT || out.dport === RELAY_PORT)) t.uploads++;
    else if (out.proto === 'udp') {
      t.udp++;
      const m = new RegExp(`${tagPrefix}-[a-z0-9]+-\\d+`).exec(p.data.toString('latin1'));
      if (m !== null) t.byContent.set(m[0], (t.byContent.get(m[0]) ?? 0) + 1);
    } else t.other++;
  }
  return t;
}

describe('sniffer in a network namespace', { timeout: 120_000 }, () => {
  let pair: VethPair;
  const receiver = new BatchReceiver();
  let sockPath: string;
  const running: AgentProcess[] = [];

  before(async () => {
    pair = createVethPair();
    sockPath = join(pair.dir, 'receiver.sock');
    await receiver.start({ path: sockPath });
    await tcpToUnixRelay(pair, pair.nsB, pair.addrB, RELAY_PORT, sockPath);
  });

  after(async () => {
    for (const p of running) await p.stop(5000).catch(() => null);
    await receiver.stop();
    destroy(pair);
  });

  function sniffer(bpfFilter: string, extraEnv: Record<string, string> = {}, revision = 1): AgentProcess {
    const config = {
      agentId: 'ns-agent',
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
      FLEETCAP_AGENT_TOKEN: receiver.token,
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
    const s = sniffer('(udp and dst port 5000) or tcp');
    const capturing = await s.waitFor('capturing', 20_000);
    assert.match(
      String(capturing.filter),
      /^\(\(udp and dst port 5000\) or tcp\) and not \(host 10\.250\.\d+\.\d+ and tcp port 18080\)$/,
    );
    await Promise.all([
      sendUdp(pair, pair.nsB, pair.addrA, 5000, `fcsa-${tag}`, 400, { batch: 4 }),
      sendUdp(pair, pair.nsB, pair.addrA, 5001, `fcsb-${tag}`, 150, { batch: 4 }),
    ]);
    await until(
      () => tally(receiver, 'fcsa').byContent.size >= 400,
      15_000,
      () => `received ${tally(receiver, 'fcsa').byContent.size}/400`,
    );
    assert.equal(await s.stop(), 0, 'SIGTERM ends the sniffer with 0');
    const t = tally(receiver, 'fcsa');
    assert.equal(t.byContent.size, 400, 'every datagram to port 5000 arrived');
    assert.ok(
      [...t.byContent.values()].every((n) => n === 1),
      'none twice',
    );
    assert.equal(tally(receiver, 'fcsb').byContent.size, 0, 'nothing to port 5001');
    assert.equal(t.uploads, 0, 'no upload packet in any batch');
    assert.equal(t.other, 0);
    assert.equal(t.udp, 400, 'exactly the expected packets');
    const stopped = s.messages.find((m) => m.type === 'stopped') as { counters: Record<string, number> } | undefined;
    assert.ok(stopped, 'the sniffer reported its final counters');
    assert.equal(stopped.counters.captured, 400);
    assert.equal(stopped.counters.kernelDrops, 0);
    assert.equal(stopped.counters.batchesUploaded, receiver.batches.size);
    assert.equal(stopped.counters.spoolDropped, 0);
  });

  test('SIGTERM with splitcap down leaves the batches in the spool; the next sniffer uploads them once', async () => {
    const tag = uniqueId('fcr').replace(/-/g, '').slice(0, 12);
    const before = receiver.batches.size;
    const s1 = sniffer('udp and dst port 5002');
    await s1.waitFor('capturing', 20_000);
    await receiver.stop();
    await sendUdp(pair, pair.nsB, pair.addrA, 5002, `fcr-${tag}`, 200, { batch: 4 });
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
    assert.equal(receiver.batches.size, before);

    await receiver.start();
    const s2 = sniffer('udp and dst port 5002', {}, 2);
    await s2.waitFor('capturing', 20_000);
    await until(
      () => tally(receiver, 'fcr').byContent.size >= 200,
      15_000,
      () => `received ${tally(receiver, 'fcr').byContent.size}/200`,
    );
    assert.equal(await s2.stop(), 0);
    const t = tally(receiver, 'fcr');
    assert.equal(t.byContent.size, 200);
    assert.ok(
      [...t.byContent.values()].every((n) => n === 1),
      'none twice',
    );
    assert.equal(readdirSync(join(pair.dir, 'spool')).filter((n) => n.endsWith('.pcap')).length, 0, 'spool empty');
  });

  test('a batch splitcap refuses with 400 goes to rejected/ and is counted, not retried', async () => {
    const tag = uniqueId('fcx').replace(/-/g, '').slice(0, 12);
    receiver.forceStatus = { status: 400 };
    try {
      const s = sniffer('udp and dst port 5003');
      await s.waitFor('capturing', 20_000);
      const requestsBefore = receiver.requests;
      await sendUdp(pair, pair.nsB, pair.addrA, 5003, `fcx-${tag}`, 10);
      await s.waitFor('counters', 10_000, (m) => (m.counters as { rejected: number }).rejected >= 1);
      await new Promise((r) => setTimeout(r, 600));
      const rejectedCount = (s.messages.filter((m) => m.type === 'counters').at(-1)!.counters as { rejected: number })
        .rejected;
      assert.equal(receiver.requests - requestsBefore, rejectedCount, 'one request per rejected batch: no retry');
      assert.equal(await s.stop(), 0);
      assert.ok(existsSync(join(pair.dir, 'spool', 'rejected')));
      assert.equal(readdirSync(join(pair.dir, 'spool', 'rejected')).length, rejectedCount);
    } finally {
      receiver.forceStatus = null;
    }
  });

  test('splitcap down and the spool full: the oldest batches are dropped and counted, the rest arrives once', async () => {
    const tag = uniqueId('fcd').replace(/-/g, '').slice(0, 12);
    await receiver.stop();
    try {
      // Batches of 20 datagrams of ~100 bytes are ~2.5 KB: a 12 KB spool holds about four of them.
      const s = sniffer('udp and dst port 5004', {
        FLEETCAP_SPOOL_MAX_BYTES: '12000',
        FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool-small'),
      });
      await s.waitFor('capturing', 20_000);
      await sendUdp(pair, pair.nsB, pair.addrA, 5004, `fcd-${tag}`, 400, { batch: 20, intervalMs: 50 });
      const full = await s.waitFor('counters', 10_000, (m) => (m.counters as { captured: number }).captured === 400);
      const c = full.counters as { spoolDropped: number; spoolDroppedPackets: number; spooled: number };
      await receiver.start();
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
      const t = tally(receiver, 'fcd');
      assert.ok(c.spoolDropped > 0, 'batches were dropped');
      assert.ok(
        [...t.byContent.values()].every((n) => n === 1),
        'none twice',
      );
      assert.equal(
        t.byContent.size + final.spoolDroppedPackets,
        400,
        'every packet either arrived or was counted as dropped',
      );
      // Oldest first: what arrived is the newest part of the stream.
      const arrivedIdx = [...t.byContent.keys()].map((k) => Number(k.split('-').at(-1))).sort((a, b) => a - b);
      assert.equal(arrivedIdx.at(-1), 399);
    } finally {
      await receiver.start();
    }
  });

  test('a filter tcpdump cannot compile is an error message and exit 1', async () => {
    const s = sniffer('udp and and');
    const err = await s.waitFor('error', 20_000);
    assert.match(String(err.message), /capture did not start: .*syntax error/);
    assert.equal(await s.stop(), 1);
  });
});
