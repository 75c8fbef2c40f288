// The listener in a network namespace, watching its config in the real ZooKeeper of the local stack (reached from
// inside the namespace through a unix-socket relay), running the sniffer on one end of a veth pair, whose uploads
// reach a real splitcap (on the stack's Redis and RabbitMQ) through a relay in the other namespace.
// Everything lives under a chroot of its own (/fca-test-<id>): config-sync's reconcile, which may run at the same
// time on the shared stack, deletes config nodes of agents that have no sniffer_config row.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LiveStatus, liveStatusSchema } from '@fleetcap/lib/agent/live-status';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import {
  type AgentProcess,
  destroy,
  killTree,
  relayZooKeeper,
  startAgentApp,
  tcpToUnixRelay,
  type UdpStream,
  udpStream,
  until,
  type VethPair,
} from '../helpers/netns.ts';
import { SplitcapPeer, vethPairUploadingTo } from '../helpers/splitcap-peer.ts';
import { assertStackUp, removeZkTree, repoRoot, uniqueId, zkConnect } from '../helpers/stack.ts';

const RELAY_PORT = 18080;

describe('listener: config from ZooKeeper, live status, changes in force within 1 s', { timeout: 180_000 }, () => {
  let pair: VethPair;
  let zk: ZkClient;
  let rootZk: ZkClient;
  let listener: AgentProcess;
  const agentId = uniqueId('fca-agent');
  const splitcap = new SplitcapPeer([agentId]);
  const chroot = `/fca-test-${agentId}`;
  const base = `/fleetcap/agents/${agentId}`;
  const configPath = `${base}/config`;
  const livePath = `${base}/live`;
  let zkRelayInNs: Awaited<ReturnType<typeof tcpToUnixRelay>>;
  let zkSock: string;

  const config = (revision: number, bpfFilter: string) =>
    Buffer.from(
      JSON.stringify({
        agentId,
        device: pair.devA,
        bpfFilter,
        splitcapUrl: `http://${pair.addrB}:${RELAY_PORT}`,
        snaplen: 65535,
        batchPackets: 100,
        batchMs: 100,
        uploadConcurrency: 2,
        enabled: true,
        revision,
      }),
    );

  /** The live node, checked against the live status schema that config-sync reads it with. */
  async function live(path = livePath): Promise<LiveStatus | null> {
    const node = await zk.getData(path);
    return node === null ? null : liveStatusSchema.parse(JSON.parse(String(node.data)));
  }

  async function waitLive(pred: (s: LiveStatus) => boolean, ms: number, what: string): Promise<LiveStatus> {
    const end = Date.now() + ms;
    let last: LiveStatus | null = null;
    while (Date.now() < end) {
      last = await live();
      if (last !== null && pred(last)) return last;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(
      `live node never showed ${what} in ${ms} ms; last: ${JSON.stringify(last)}\n${listener.output().slice(-3000)}`,
    );
  }

  /** port -> [index, capturedAt ms] of the stream's datagrams that splitcap stored, in capture order */
  async function arrived(
    stream: UdpStream,
    sent: Record<number, number>,
  ): Promise<Map<number, Array<[number, number]>>> {
    const out = new Map<number, Array<[number, number]>>();
    for (const [port, count] of Object.entries(sent)) {
      const got = await splitcap.datagrams(stream.numbering, pair.addrA, Number(port), count);
      if (got.length > 0)
        out.set(
          Number(port),
          got.map((d) => [d.index, d.capturedAtMs]),
        );
    }
    return out;
  }

  before(async () => {
    assertStackUp();
    rootZk = await zkConnect();
    await rootZk.mkdirp(chroot);
    zk = await zkConnect({ chroot });
    pair = await vethPairUploadingTo(splitcap, RELAY_PORT);
    ({ socketPath: zkSock, inNamespace: zkRelayInNs } = await relayZooKeeper(pair, pair.nsA));
    listener = startAgentApp(pair, pair.nsA, 'listener', repoRoot, {
      FLEETCAP_AGENT_ID: agentId,
      FLEETCAP_ZK_CONNECT: `127.0.0.1:2181${chroot}`,
      FLEETCAP_ZK_SESSION_TIMEOUT_MS: '4000',
      FLEETCAP_AGENT_TOKEN: splitcap.token,
      FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool'),
      FLEETCAP_LIVE_REFRESH_MS: '300',
      FLEETCAP_STATS_INTERVAL_MS: '200',
      FLEETCAP_UPLOAD_BACKOFF_BASE_MS: '100',
      FLEETCAP_UPLOAD_BACKOFF_MAX_MS: '500',
    });
  });

  after(async () => {
    if (listener !== undefined) await listener.stop(20_000).catch(() => null);
    await splitcap.close();
    await zk?.close();
    if (rootZk !== undefined) {
      await removeZkTree(rootZk, chroot);
      await rootZk.close();
    }
    if (pair !== undefined) destroy(pair);
  });

  test('no config node yet: the listener waits and says so in the live node', async () => {
    const s = await waitLive(
      (x) => x.state === 'waiting' && /no config at/.test(String(x.lastError)),
      30_000,
      'state waiting',
    );
    assert.match(String(s.lastError), /no config at \/fleetcap\/agents\/fca-agent-[^/]+\/config yet; waiting/);
    assert.equal(s.appliedRevision, null);
    assert.equal(s.snifferPid, null);
  });

  test('a config node appears: the sniffer captures with it', async () => {
    await zk.mkdirp(base);
    await zk.create(configPath, config(1, 'udp and (dst port 6000 or dst port 6003)'));
    const s = await waitLive((x) => x.state === 'capturing' && x.appliedRevision === 1, 20_000, 'revision 1 capturing');
    assert.equal(s.lastError, null);
    assert.ok(s.snifferPid !== null);
    const stream = udpStream(pair, pair.nsB, pair.addrA, [6000, 6001], 'fcl1', 10);
    await new Promise((r) => setTimeout(r, 1000));
    const sent = await stream.stop();
    await until(
      async () => ((await arrived(stream, sent)).get(6000)?.length ?? 0) >= sent[6000]!,
      10_000,
      async () => `arrived ${(await arrived(stream, sent)).get(6000)?.length}/${sent[6000]}`,
    );
    const got = await arrived(stream, sent);
    assert.equal(got.get(6000)!.length, sent[6000]);
    assert.equal(got.get(6001), undefined, 'port 6001 is not in the filter');
  });

  test('a config change is in force within 1 s; across it no packet is lost or captured twice', async () => {
    // 6003 is in both filters: across the hand-over it shows whether a packet was missed or captured twice.
    const stream = udpStream(pair, pair.nsB, pair.addrA, [6000, 6001, 6003], 'fcl2', 5);
    await new Promise((r) => setTimeout(r, 500));
    const before = (await live())!;
    const t0 = Date.now();
    await zk.setData(configPath, config(2, 'udp and (dst port 6001 or dst port 6003)'));
    const s = await waitLive((x) => x.appliedRevision === 2 && x.state === 'capturing', 5000, 'revision 2 capturing');
    const appliedMs = Date.now() - t0;
    assert.notEqual(s.snifferPid, before.snifferPid, 'a new sniffer runs revision 2');
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 2500 - Date.now())));
    const sent = await stream.stop();
    await until(
      async () => ((await arrived(stream, sent)).get(6003)?.length ?? 0) >= sent[6003]!,
      10_000,
      async () => `6003: ${(await arrived(stream, sent)).get(6003)?.length}/${sent[6003]}`,
    );
    await new Promise((r) => setTimeout(r, 500));
    const got = await arrived(stream, sent);
    const both = (got.get(6003) ?? []).map((x) => x[0]).sort((a, b) => a - b);
    assert.equal(new Set(both).size, both.length, 'no packet of both filters captured twice');
    assert.equal(both.length, sent[6003], 'every packet of both filters captured once');
    const newFilter = (got.get(6001) ?? []).sort((a, b) => a[0] - b[0]);
    const oldFilter = got.get(6000) ?? [];
    assert.ok(newFilter.length > 0, 'packets of the new filter arrive');
    // Capture times are the kernel's stamps, on the clock of Date.now(): a datagram is captured µs after it is sent.
    const firstNew = Math.round(newFilter[0]![1] - t0);
    const lastOld = Math.round(Math.max(...oldFilter.map((x) => x[1])) - t0);
    // Every datagram to 6001 from t0 + 1 s on was captured: no gap in the indices after that point.
    const after1s = newFilter.filter((x) => x[1] >= t0 + 1000);
    assert.ok(after1s.length > 50, `${after1s.length} datagrams to 6001 captured after t0 + 1 s arrived`);
    for (let i = 1; i < after1s.length; i++)
      assert.equal(after1s[i]![0], after1s[i - 1]![0] + 1, 'no datagram to 6001 missing after t0 + 1 s');
    assert.ok(firstNew < 1000, `first packet of the new filter was captured ${firstNew} ms after the change`);
    assert.ok(lastOld < 1000, `the old filter stopped ${lastOld} ms after the change`);
    const seen = new Set(newFilter.map((x) => x[0]));
    assert.equal(seen.size, newFilter.length, 'no packet twice');
    // What the old sniffer captured before it stopped all arrived: its indices have no hole.
    const oldIdx = oldFilter.map((x) => x[0]).sort((a, b) => a - b);
    assert.equal(new Set(oldIdx).size, oldIdx.length, 'no old-filter packet twice');
    assert.equal(oldIdx.at(-1)! - oldIdx[0]! + 1, oldIdx.length, 'no old-filter packet lost across the restart');
    const timeline = listener
      .output()
      .split('\n')
      .filter((l) => /config valid|stopped capturing|sniffer capturing|"msg":"capturing"|stopping/.test(l))
      .slice(-6)
      .map((l) => {
        try {
          const j = JSON.parse(l) as {
            time: string;
            app: string;
            msg: string;
            ms?: number;
            startMs?: number;
            validateMs?: number;
          };
          return `${j.time.slice(11)} ${j.app} ${j.msg} ${j.ms ?? j.startMs ?? j.validateMs ?? ''}`;
        } catch {
          return l;
        }
      });
    console.log(`# t0 ${new Date(t0).toISOString().slice(11)}\n# ${timeline.join('\n# ')}`);
    console.log(
      `# config change: live node shows revision 2 after ${appliedMs} ms; old filter's last packet captured at +${lastOld} ms, new filter's first at +${firstNew} ms`,
    );
  });

  test('an invalid filter leaves the old capture running and the error in the live node', async () => {
    const before = (await live())!;
    await zk.setData(configPath, config(3, 'udp and dst port and'));
    const s = await waitLive((x) => x.lastError !== null, 5000, 'an error');
    assert.match(
      String(s.lastError),
      /revision 3: BPF filter "udp and dst port and" does not compile on fca\w+: .*syntax error/,
    );
    assert.equal(s.state, 'capturing');
    assert.equal(s.appliedRevision, 2);
    assert.equal(s.snifferPid, before.snifferPid, 'the same sniffer goes on');
    const stream = udpStream(pair, pair.nsB, pair.addrA, [6001], 'fcl3', 10);
    await new Promise((r) => setTimeout(r, 500));
    const sent = await stream.stop();
    await until(
      async () => ((await arrived(stream, sent)).get(6001)?.length ?? 0) >= sent[6001]!,
      10_000,
      () => 'revision 2 capture goes on',
    );
  });

  test('a device that does not exist is refused the same way', async () => {
    const bad = JSON.parse(config(4, 'udp').toString());
    bad.device = 'nosuchdev0';
    await zk.setData(configPath, Buffer.from(JSON.stringify(bad)));
    const s = await waitLive((x) => /nosuchdev0/.test(String(x.lastError)), 5000, 'the device error');
    assert.match(String(s.lastError), /revision 4: device "nosuchdev0" does not exist/);
    assert.equal(s.appliedRevision, 2);
    assert.equal(s.state, 'capturing');
  });

  test('ZooKeeper unreachable past the session timeout: capture goes on; the listener re-registers and re-reads', async () => {
    const before = (await live())!;
    killTree(zkRelayInNs.pid!);
    // The session (4 s) expires on the server; the ephemeral live node goes with it.
    const end = Date.now() + 15_000;
    while ((await live()) !== null) {
      assert.ok(Date.now() < end, 'the live node should disappear when the session expires');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Capture goes on without ZooKeeper, with the last good config (revision 2: port 6001).
    const stream = udpStream(pair, pair.nsB, pair.addrA, [6001], 'fcl5', 10);
    await new Promise((r) => setTimeout(r, 500));
    const sent = await stream.stop();
    await until(
      async () => ((await arrived(stream, sent)).get(6001)?.length ?? 0) >= sent[6001]!,
      10_000,
      () => 'capture during the ZooKeeper outage',
    );
    // Changed while the agent could not see it.
    await zk.setData(configPath, config(5, 'udp and dst port 6002'));
    zkRelayInNs = await tcpToUnixRelay(pair, pair.nsA, '127.0.0.1', 2181, zkSock);
    const s = await waitLive(
      (x) => x.appliedRevision === 5 && x.state === 'capturing',
      20_000,
      'revision 5 after the new session',
    );
    assert.ok(s.counters.captured >= before.counters.captured, 'counters carry on');
    assert.match(listener.output(), /ZooKeeper session expired; opening a new one/);
  });

  test('a sniffer that dies is restarted with backoff, and the death is reported', async () => {
    const before = (await live())!;
    assert.ok(before.snifferPid !== null);
    process.kill(before.snifferPid, 'SIGKILL');
    const err = await waitLive((x) => x.state === 'error', 5000, 'state error');
    assert.match(String(err.lastError), /sniffer exited unexpectedly \(SIGKILL\); restarting in \d+ ms/);
    const back = await waitLive(
      (x) => x.state === 'capturing' && x.snifferPid !== before.snifferPid,
      15_000,
      'capturing again',
    );
    assert.equal(back.appliedRevision, before.appliedRevision);
    assert.equal(back.lastError, null);
  });

  test('enabled: false stops the capture and says so', async () => {
    const off = JSON.parse(config(6, 'udp and dst port 6002').toString());
    off.enabled = false;
    await zk.setData(configPath, Buffer.from(JSON.stringify(off)));
    const s = await waitLive((x) => x.state === 'stopped', 10_000, 'state stopped');
    assert.equal(s.lastError, 'capture disabled by config revision 6');
    assert.equal(s.appliedRevision, 6);
    assert.equal(s.snifferPid, null);
  });

  test('config node deleted: capture stops and the live node says why', async () => {
    await zk.remove(configPath);
    const s = await waitLive(
      (x) => x.state === 'stopped' && /deleted/.test(String(x.lastError)),
      5000,
      'state stopped, deleted',
    );
    assert.match(String(s.lastError), /config node .*\/config was deleted; capture stopped/);
    assert.equal(s.snifferPid, null);
  });

  test('SIGTERM: the listener exits 0 and its live node goes away', async () => {
    assert.equal(await listener.stop(20_000), 0);
    assert.equal(await live(), null);
  });

  test('a sniffer that cannot capture is restarted with backoff and reported as a crash loop', async () => {
    // A tcpdump that compiles filters (-d) but fails to capture: validation passes, every sniffer exits 1.
    const fake = join(pair.dir, 'tcpdump-fails');
    writeFileSync(
      fake,
      '#!/bin/sh\nfor a in "$@"; do [ "$a" = -d ] && exec tcpdump "$@"; done\necho "tcpdump: simulated capture failure" >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const id2 = `${agentId}-2`;
    await zk.mkdirp(`/fleetcap/agents/${id2}`);
    const cfg2 = JSON.parse(config(1, 'udp').toString());
    cfg2.agentId = id2;
    await zk.create(`/fleetcap/agents/${id2}/config`, Buffer.from(JSON.stringify(cfg2)));
    const l2 = startAgentApp(pair, pair.nsA, 'listener', repoRoot, {
      FLEETCAP_AGENT_ID: id2,
      FLEETCAP_ZK_CONNECT: `127.0.0.1:2181${chroot}`,
      FLEETCAP_TCPDUMP: fake,
      FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool-2'),
      FLEETCAP_LIVE_REFRESH_MS: '300',
      FLEETCAP_RESTART_BACKOFF_BASE_MS: '200',
      FLEETCAP_RESTART_BACKOFF_MAX_MS: '1000',
    });
    try {
      const end = Date.now() + 30_000;
      let last: LiveStatus | null = null;
      while (Date.now() < end) {
        last = (await live(`/fleetcap/agents/${id2}/live`)) ?? last;
        if (last !== null && /^crash loop/.test(String(last.lastError))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(last !== null);
      assert.equal(last.state, 'error');
      assert.match(
        String(last.lastError),
        /^crash loop: \d+ unexpected exits in 60 s; last: sniffer exited unexpectedly \(code 1\): capture did not start: simulated capture failure; next restart in \d+ ms$/,
      );
      assert.equal(await l2.stop(20_000), 0, 'the listener itself stays up and stops cleanly');
    } finally {
      await l2.stop(5000).catch(() => null);
    }
  });
});
