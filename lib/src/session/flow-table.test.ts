import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '../packet/build.ts';
import { DecodedPacket, decodePacket } from '../packet/decode.ts';
import { FlowTable } from './flow-table.ts';

function decoded(spec: Parameters<typeof buildPacket>[0]): DecodedPacket {
  const out = new DecodedPacket();
  assert.equal(decodePacket(1, buildPacket(spec), out), null);
  return out;
}

describe('FlowTable', () => {
  it('gives both directions of a flow one index, and tells the sides apart', () => {
    const table = new FlowTable();
    const there = table.lookup(decoded({ proto: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 80 }));
    assert.deepEqual({ ...there }, { index: 0, created: true, sideA: false });
    const back = table.lookup(decoded({ proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 5000 }));
    assert.deepEqual({ ...back }, { index: 0, created: false, sideA: true });
    assert.equal(table.size, 1);
  });

  it('keeps apart what differs in protocol, port, address or IP version', () => {
    const table = new FlowTable();
    const specs = [
      { proto: 'tcp' as const, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 },
      { proto: 'udp' as const, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 },
      { proto: 'udp' as const, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 3 },
      { proto: 'udp' as const, src: '10.0.0.1', dst: '10.0.0.3', sport: 1, dport: 2 },
      { proto: 'udp' as const, src: '::a00:1', dst: '::a00:2', sport: 1, dport: 2 },
      { proto: 'udp' as const, src: '10.0.0.1', dst: '10.0.0.1', sport: 7, dport: 7 },
    ];
    assert.deepEqual(
      specs.map((spec) => table.lookup(decoded(spec)).index),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(table.lookup(decoded(specs[5]!)).sideA, true, 'a flow to itself is always side a');
  });

  it('grows past many thousands of flows and finds every one again', () => {
    const table = new FlowTable();
    const packets: DecodedPacket[] = [];
    for (let i = 0; i < 20_000; i++) {
      const v6 = i % 3 === 0;
      packets.push(
        decoded({
          proto: i % 2 ? 'tcp' : 'udp',
          src: v6 ? `2001:db8::${i.toString(16)}` : `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
          dst: v6 ? '2001:db8::ffff:1' : '192.168.0.1',
          sport: 1024 + (i % 1000),
          dport: 443,
        }),
      );
    }
    packets.forEach((p, i) => {
      assert.equal(table.lookup(p).index, i);
    });
    packets.forEach((p, i) => {
      const found = table.lookup(p);
      assert.equal(found.index, i);
      assert.equal(found.created, false);
    });
    assert.equal(table.size, 20_000);
  });
});
