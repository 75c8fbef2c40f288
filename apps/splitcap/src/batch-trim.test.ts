// splitcap sends the append script only what it can keep: per session of a batch, the records of its first
// FLEETCAP_SESSION_MAX_PACKETS packets; the others only count (packets) and reach the connection record.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { CONN_FIELDS, decodeBatch } from './batch-decoder.ts';

function capture(packets: number): Buffer {
  const w = new PcapWriter({ linktype: 1, nanosecond: false });
  const frame = buildPacket({ proto: 'udp', src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 53 });
  for (let i = 0; i < packets; i++)
    w.write({ tsSec: 1_700_000_000, tsNsec: i * 1000, data: frame, origLen: frame.length });
  return w.toBuffer();
}

test('a session of 1,000 packets in a batch passes 24 packet records and counts all 1,000', () => {
  const [s] = [...decodeBatch(capture(1000), 0, 2048, Number.POSITIVE_INFINITY, undefined, 24).sessions.values()];
  assert.equal(s!.packets, 1000);
  assert.equal(s!.args.length, 2 * 24, 'two values per kept packet');
  assert.equal(s!.connection.length, 1000 * CONN_FIELDS, 'every packet still reaches the connection record');
  assert.equal(s!.lastUs - s!.firstUs, 999, 'times cover every packet');
});

test('without the cap every packet gets its record (the offline tools)', () => {
  const [s] = [...decodeBatch(capture(30)).sessions.values()];
  assert.equal(s!.args.length, 60);
});
