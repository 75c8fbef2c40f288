import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PacketRecord } from '@fleetcap/lib/session-store/layout';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { type AlertPacketRow, alertPacketRows, chunkByFrameBytes } from './alert-packets.ts';

const packet = (seq: number, tsUs: number, linktype = 1): PacketRecord => ({
  seq,
  direction: 0,
  tsUs,
  wireLength: 100 + seq,
  payloadLength: 0,
  tcpFlags: 2,
  linktype,
  frame: Buffer.from([seq]),
});
const session = (packets: PacketRecord[]) => ({ packets }) as unknown as LoadedSession;

describe('alert packets', () => {
  test('rows in capture order, packets of one time in the order they were stored', () => {
    // As the sorted set returns them: equal scores ordered by member text ("10:" before "9:").
    const rows = alertPacketRows(7, session([packet(1, 5), packet(10, 9), packet(9, 9), packet(2, 6)]));
    assert.deepEqual(
      rows?.map((r) => [r.verdictId, r.index, r.tsUs, r.wireLength, r.frame[0]]),
      [
        [7, 0, 5, 101, 1],
        [7, 1, 6, 102, 2],
        [7, 2, 9, 109, 9],
        [7, 3, 9, 110, 10],
      ],
    );
  });

  test("every row carries its verdict's day (sql/016 partitions the packets with their verdict)", () => {
    // 2026-12-02T10:00:00Z: TO_DAYS('2026-12-02') is 740317.
    const at = Date.UTC(2026, 11, 2, 10) * 1000;
    const rows = alertPacketRows(3, {
      ...session([packet(1, at), packet(2, at + 5)]),
      occurrence: at,
    } as LoadedSession);
    assert.deepEqual(
      rows?.map((r) => r.occurrenceDay),
      [740_317, 740_317],
    );
  });

  test('a session stored without frames (linktype -1) has no rows to keep', () => {
    assert.equal(alertPacketRows(1, session([packet(1, 5), packet(2, 6, -1)])), null);
  });

  test('inserts are cut by frame bytes, each holding at least one row', () => {
    const row = (n: number): AlertPacketRow => ({
      verdictId: 1,
      index: n,
      occurrenceDay: 740_317,
      tsUs: n,
      wireLength: 10,
      linktype: 1,
      frame: Buffer.alloc(n),
    });
    const chunks = chunkByFrameBytes([row(4), row(4), row(4), row(10), row(1)], 8);
    assert.deepEqual(
      chunks.map((c) => c.map((r) => r.frame.length)),
      [[4, 4], [4], [10], [1]],
    );
    assert.deepEqual(chunkByFrameBytes([], 8), []);
  });
});
