// splitcap unreachable for 30 s while traffic flows, then back: every captured packet arrives exactly once.
// The sniffer runs in a namespace of its own and uploads across the captured veth to a real HTTP receiver (behind a
// relay in the other namespace) that is stopped for the outage: connections are refused, the spool grows, uploads
// back off, and the backlog drains when the receiver is back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchReceiver } from '../helpers/batch-receiver.ts';
import {
  type AgentProcess,
  createVethPair,
  destroy,
  startAgentApp,
  tcpToUnixRelay,
  udpStream,
  until,
  type VethPair,
} from '../helpers/netns.ts';
import { repoRoot } from '../helpers/stack.ts';

const RELAY_PORT = 18080;
const OUTAGE_MS = Number(process.env.FLEETCAP_TEST_OUTAGE_MS ?? 30_000);

describe(`splitcap unreachable for ${OUTAGE_MS / 1000} s during traffic`, { timeout: OUTAGE_MS + 120_000 }, () => {
  let pair: VethPair;
  let sniffer: AgentProcess;
  const receiver = new BatchReceiver();

  before(async () => {
    pair = createVethPair();
    const sock = join(pair.dir, 'receiver.sock');
    await receiver.start({ path: sock });
    await tcpToUnixRelay(pair, pair.nsB, pair.addrB, RELAY_PORT, sock);
  });

  after(async () => {
    if (sniffer !== undefined) await sniffer.stop(10_000).catch(() => null);
    await receiver.stop();
    destroy(pair);
  });

  test('every captured packet arrives once, none twice', async () => {
    sniffer = startAgentApp(pair, pair.nsA, 'sniffer', repoRoot, {
      FLEETCAP_AGENT_CONFIG: JSON.stringify({
        agentId: 'outage-agent',
        device: pair.devA,
        bpfFilter: 'udp and dst port 7000',
        splitcapUrl: `http://${pair.addrB}:${RELAY_PORT}`,
        snaplen: 65535,
        batchPackets: 200,
        batchMs: 250,
        uploadConcurrency: 3,
        enabled: true,
        revision: 1,
      }),
      FLEETCAP_AGENT_TOKEN: receiver.token,
      FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool'),
      FLEETCAP_UPLOAD_BACKOFF_BASE_MS: '200',
      FLEETCAP_UPLOAD_BACKOFF_MAX_MS: '2000',
      FLEETCAP_STATS_INTERVAL_MS: '500',
    });
    await sniffer.waitFor('capturing', 20_000);
    const stream = udpStream(pair, pair.nsB, pair.addrA, [7000], 'fco', 5);
    await new Promise((r) => setTimeout(r, 5000));
    const down = Date.now();
    await receiver.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await receiver.start();
    const up = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const sent = (await stream.stop())[7000]!;

    const arrivedBy = () => {
      const seen = new Map<number, number>();
      for (const p of receiver.packets()) {
        const m = /fco-7000-(\d+)-/.exec(p.data.toString('latin1'));
        if (m !== null) seen.set(Number(m[1]), (seen.get(Number(m[1])) ?? 0) + 1);
      }
      return seen;
    };
    await until(
      () => arrivedBy().size >= sent,
      30_000,
      () => `arrived ${arrivedBy().size}/${sent}`,
    );
    const drainedAfterMs = Date.now() - up;
    assert.equal(await sniffer.stop(), 0);

    const seen = arrivedBy();
    assert.equal(seen.size, sent, 'every datagram arrived');
    for (let i = 0; i < sent; i++) assert.equal(seen.get(i), 1, `datagram ${i} arrived exactly once`);
    const counters = sniffer.messages
      .filter((m) => m.type === 'counters')
      .map((m) => m.counters as Record<string, number>);
    const maxSpooled = Math.max(...counters.map((c) => c.spooled!));
    const final = sniffer.messages.find((m) => m.type === 'stopped')!.counters as Record<string, number>;
    assert.ok(
      maxSpooled >= Math.floor(OUTAGE_MS / 2000),
      `batches piled up in the spool during the outage (max ${maxSpooled})`,
    );
    assert.equal(final.captured, sent);
    assert.equal(final.spoolDropped, 0);
    assert.equal(final.kernelDrops, 0);
    assert.equal(final.batchesUploaded, receiver.batches.size);
    console.log(
      `# outage ${Math.round((up - down) / 1000)} s: ${sent} datagrams, ${receiver.batches.size} batches, up to ${maxSpooled} spooled, ` +
        `${receiver.duplicates} duplicate POSTs deduplicated, everything delivered ${drainedAfterMs} ms after splitcap came back (traffic went on for 5 s of that)`,
    );
  });
});
