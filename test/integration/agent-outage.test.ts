// splitcap unreachable for 30 s while traffic flows, then back: every captured packet arrives exactly once.
// The sniffer runs in a namespace of its own and uploads across the captured veth, through a relay in the other
// namespace, to a real splitcap (on the stack's Redis and RabbitMQ) that is stopped for the outage: connections
// are refused, the spool grows, uploads back off, and the backlog drains when splitcap is back. What arrived is
// what splitcap stored, datagram by datagram (their index is in their source port and payload length).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AgentProcess, destroy, startAgentApp, udpStream, until, type VethPair } from '../helpers/netns.ts';
import { SplitcapPeer, vethPairUploadingTo } from '../helpers/splitcap-peer.ts';
import { assertStackUp, repoRoot } from '../helpers/stack.ts';

const RELAY_PORT = 18080;
const OUTAGE_MS = Number(process.env.FLEETCAP_TEST_OUTAGE_MS ?? 30_000);
const AGENT = 'outage-agent';

describe(`splitcap unreachable for ${OUTAGE_MS / 1000} s during traffic`, { timeout: OUTAGE_MS + 120_000 }, () => {
  let pair: VethPair;
  let sniffer: AgentProcess;
  const splitcap = new SplitcapPeer([AGENT]);

  before(async () => {
    assertStackUp();
    pair = await vethPairUploadingTo(splitcap, RELAY_PORT);
  });

  after(async () => {
    if (sniffer !== undefined) await sniffer.stop(10_000).catch(() => null);
    await splitcap.close();
    if (pair !== undefined) destroy(pair);
  });

  test('every captured packet arrives once, none twice', async () => {
    sniffer = startAgentApp(pair, pair.nsA, 'sniffer', repoRoot, {
      FLEETCAP_AGENT_CONFIG: JSON.stringify({
        agentId: AGENT,
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
      FLEETCAP_AGENT_TOKEN: splitcap.token,
      FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool'),
      FLEETCAP_UPLOAD_BACKOFF_BASE_MS: '200',
      FLEETCAP_UPLOAD_BACKOFF_MAX_MS: '2000',
      FLEETCAP_STATS_INTERVAL_MS: '500',
    });
    await sniffer.waitFor('capturing', 20_000);
    const stream = udpStream(pair, pair.nsB, pair.addrA, [7000], 'fco', 5);
    await new Promise((r) => setTimeout(r, 5000));
    const down = Date.now();
    await splitcap.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await splitcap.start();
    const up = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const sent = (await stream.stop())[7000]!;

    /** datagram index -> times splitcap stored it */
    const arrivedBy = async () => {
      const seen = new Map<number, number>();
      for (const d of await splitcap.datagrams(stream.numbering, pair.addrA, 7000, sent))
        seen.set(d.index, (seen.get(d.index) ?? 0) + 1);
      return seen;
    };
    await until(
      async () => (await arrivedBy()).size >= sent,
      30_000,
      async () => `arrived ${(await arrivedBy()).size}/${sent}`,
    );
    const drainedAfterMs = Date.now() - up;
    assert.equal(await sniffer.stop(), 0);

    const seen = await arrivedBy();
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
    const batches = await splitcap.receipts(AGENT);
    assert.equal(final.batchesUploaded, batches);
    const duplicates = await splitcap.metric('fleetcap_splitcap_batches_total', { outcome: 'duplicate' });
    console.log(
      `# outage ${Math.round((up - down) / 1000)} s: ${sent} datagrams, ${batches} batches, up to ${maxSpooled} spooled, ` +
        `${duplicates} duplicate POSTs deduplicated since splitcap came back, everything delivered ${drainedAfterMs} ms after that (traffic went on for 5 s of it)`,
    );
  });
});
