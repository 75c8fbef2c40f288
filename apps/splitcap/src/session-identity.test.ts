// The parts of splitcap that make a session an agent's, with its Community ID: the decoded batch, and the settings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { communityId } from '@fleetcap/lib/session-record/community-id';
import { decodeBatch } from './batch-decoder.ts';
import { loadSplitcapConfig } from './config.ts';

function capture(packets: Array<{ src: string; sport: number; dst: string; dport: number; proto: 'tcp' | 'udp' }>) {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  packets.forEach((p, i) => {
    const data = buildPacket({ ...p, tcpFlags: p.proto === 'tcp' ? (i === 0 ? TCP_SYN : TCP_ACK) : 0 });
    writer.write({ tsSec: 1_700_000_000, tsNsec: i * 1000, data, origLen: data.length });
  });
  return writer.toBuffer();
}

describe('sessions of a batch', () => {
  test('each session carries the Community ID of its 5-tuple, either direction, with the seed given', () => {
    const tcp = { proto: 'tcp' as const, src: '10.0.0.9', sport: 51000, dst: '10.0.0.2', dport: 443 };
    const udp = { proto: 'udp' as const, src: '2001:db8::1', sport: 5353, dst: '2001:db8::2', dport: 53 };
    const back = { ...tcp, src: tcp.dst, sport: tcp.dport, dst: tcp.src, dport: tcp.sport };
    const body = capture([tcp, back, udp]);
    for (const seed of [0, 1, 65535]) {
      const sessions = [...decodeBatch(body, seed).sessions.values()];
      assert.equal(sessions.length, 2);
      assert.deepEqual(
        sessions.map((s) => s.communityId),
        [communityId({ protocol: 6, ...tcp }, seed), communityId({ protocol: 17, ...udp }, seed)],
        `seed ${seed}`,
      );
    }
    // The Community ID spec's example flow, seed 0 (https://github.com/corelight/community-id-spec).
    const spec = { proto: 'tcp' as const, src: '128.232.110.120', sport: 34855, dst: '66.35.250.204', dport: 80 };
    assert.equal([...decodeBatch(capture([spec])).sessions.values()][0]!.communityId, '1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
  });
});

describe('settings', () => {
  const tokens = { FLEETCAP_SPLITCAP_TOKENS: 'host-1=12345678', FLEETCAP_SPLITCAP_PLAINTEXT: 'loopback' };

  test('FLEETCAP_COMMUNITY_ID_SEED is 0 unless set, and 0-65535', () => {
    assert.equal(loadSplitcapConfig(tokens).FLEETCAP_COMMUNITY_ID_SEED, 0);
    assert.equal(
      loadSplitcapConfig({ ...tokens, FLEETCAP_COMMUNITY_ID_SEED: '65535' }).FLEETCAP_COMMUNITY_ID_SEED,
      65535,
    );
    for (const bad of ['-1', '65536', '1.5', 'zero'])
      assert.throws(
        () => loadSplitcapConfig({ ...tokens, FLEETCAP_COMMUNITY_ID_SEED: bad }),
        new RegExp(`FLEETCAP_COMMUNITY_ID_SEED="${bad}": must be a whole number from 0 to 65535`),
      );
  });

  test('every agent of FLEETCAP_SPLITCAP_TOKENS is an agent id (it names the agent’s sessions in Redis)', () => {
    assert.deepEqual([...(loadSplitcapConfig(tokens).FLEETCAP_SPLITCAP_TOKENS?.keys() ?? [])], ['host-1']);
    for (const agent of ['a/b', 'a{b}', '.dot', 'x'.repeat(65)])
      assert.throws(
        () => loadSplitcapConfig({ ...tokens, FLEETCAP_SPLITCAP_TOKENS: `${agent}=12345678` }),
        /an agent id is 1-64 letters, digits, "\.", "_" or "-", starting with a letter or digit/,
        agent,
      );
  });
});
