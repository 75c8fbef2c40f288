import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { packetLines, tcpFlags } from './packet-table.ts';

describe('packet table', () => {
  it('decodes each kept frame: time, offset, endpoints, flags, lengths, the payload as text', () => {
    const syn = buildPacket({
      proto: 'tcp',
      src: '10.0.0.1',
      sport: 40000,
      dst: '192.0.2.1',
      dport: 80,
      tcpFlags: TCP_SYN,
      payload: Buffer.alloc(0),
    });
    const get = buildPacket({
      proto: 'tcp',
      src: '10.0.0.1',
      sport: 40000,
      dst: '192.0.2.1',
      dport: 80,
      tcpFlags: TCP_ACK | TCP_PSH,
      payload: Buffer.from('GET / HTTP/1.1\r\n'),
    });
    const lines = packetLines([
      { packet_index: 0, ts_us: '1795500000000001', wire_length: syn.length, linktype: 1, frame: syn },
      { packet_index: 1, ts_us: '1795500000250001', wire_length: get.length + 100, linktype: 1, frame: get },
      { packet_index: 2, ts_us: '1795500000300000', wire_length: 4, linktype: 1, frame: Buffer.alloc(4) },
    ]);
    assert.equal(lines[0]!.time, '2026-11-24T06:00:00.000001Z');
    assert.deepEqual(
      lines.slice(0, 2).map((l) => [l.offset, l.src, l.dst, l.proto, l.flags, l.payload, l.preview]),
      [
        ['0.000000', '10.0.0.1:40000', '192.0.2.1:80', 'tcp', 'S', 0, ''],
        ['0.250000', '10.0.0.1:40000', '192.0.2.1:80', 'tcp', 'AP', 16, 'GET / HTTP/1.1..'],
      ],
    );
    assert.equal(lines[1]!.wireLength, get.length + 100, 'the wire length as captured, not the kept bytes');
    assert.equal(lines[2]!.problem, 'truncated', 'a frame that does not decode says why');
    assert.equal(tcpFlags(0xff), 'SAPFRUEC');
  });
});
