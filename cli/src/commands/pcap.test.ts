import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { type KeptPacket, PcapCommandError, parseSessionRef, pcapOf } from './pcap.ts';

describe('fleetcap pcap', () => {
  it('tells a verdict id, a Community ID and an agent session apart', () => {
    assert.deepEqual(parseSessionRef('42'), { kind: 'verdict', id: 42 });
    assert.deepEqual(parseSessionRef('1:LQU9qZlK+B5F3KDmev6m5PMibrg='), {
      kind: 'community',
      communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
    });
    assert.deepEqual(parseSessionRef('host-1/tcp/10.0.0.1/443/10.0.0.2/51000'), {
      kind: 'session',
      agent: 'host-1',
      key: 'tcp/10.0.0.1/443/10.0.0.2/51000',
    });
    assert.throws(() => parseSessionRef('tcp/10.0.0.1/443/10.0.0.2/51000'), PcapCommandError);
    assert.throws(() => parseSessionRef('yesterday'), /"yesterday" names no session: give a verdict id/);
  });

  it('writes the kept packets as a pcap whose timestamps, lengths and bytes are the stored ones', () => {
    const packets: KeptPacket[] = [
      { verdict_id: 1, ts_us: '1795500000123456', wire_length: 60, linktype: 1, frame: Buffer.alloc(60, 1) },
      // A frame cut by FLEETCAP_STORED_FRAME_BYTES keeps its wire length.
      { verdict_id: 1, ts_us: '1795500001000001', wire_length: 3000, linktype: 1, frame: Buffer.alloc(2048, 2) },
    ];
    const read = [...readCaptureBuffer(pcapOf(packets))];
    assert.deepEqual(
      read.map((p) => [p.linktype, p.tsSec, p.tsNsec, p.caplen, p.origLen, p.data.toString('hex')]),
      packets.map((p) => [
        1,
        Math.floor(Number(p.ts_us) / 1e6),
        (Number(p.ts_us) % 1e6) * 1000,
        p.frame.length,
        p.wire_length,
        p.frame.toString('hex'),
      ]),
    );
  });

  it('refuses to mix link types in one pcap, and an empty one', () => {
    const p = { verdict_id: 1, ts_us: 1, wire_length: 4, frame: Buffer.alloc(4) };
    assert.throws(
      () =>
        pcapOf([
          { ...p, linktype: 1 },
          { ...p, linktype: 113 },
        ]),
      /several link types \(1, 113\): a pcap file holds one/,
    );
    assert.throws(() => pcapOf([]), /no packets to write/);
  });
});
