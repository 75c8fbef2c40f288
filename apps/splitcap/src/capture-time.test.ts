// Capture times outside the window (lib/src/pcap/capture-time.ts) are skipped and counted the same way by
// splitcap's decoder and by the offline Sessionizer (`fleetcap sessions`): the issue-19 cases (a pcapng whose 25th
// packet carries 0xffffffff00000000 µs, one of 0x7fffffffffffffff µs, an interface with if_tsoffset 2^62) no longer
// move a session's first or last time, and both paths report the same counts and the same times.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import {
  ANY_CAPTURE_TIME,
  CAPTURE_TIME_AHEAD_SEC,
  captureTimeWindow,
  EARLIEST_CAPTURE_SEC,
  inCaptureTimeWindow,
} from '@fleetcap/lib/pcap/capture-time';
import { Pcapng } from '@fleetcap/lib/pcap/hand-built-captures';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { decodeBatch } from './batch-decoder.ts';

const nowMs = Date.UTC(2026, 0, 15);
const window = captureTimeWindow(nowMs);
const baseUs = BigInt(nowMs - 60_000) * 1000n;
const udp = (sport: number) => buildPacket({ proto: 'udp', src: '10.1.0.1', dst: '10.1.0.2', sport, dport: 53 });

/** 30 packets of one flow, the 25th and 26th with impossible times; one packet on an interface offset by 2^62 s. */
function badTimes(): Buffer {
  const file = new Pcapng()
    .shb()
    .idb(1)
    .idb(1, { tsoffset: 1n << 62n });
  for (let i = 0; i < 30; i++) {
    const units = i === 24 ? 0xffffffff00000000n : i === 25 ? 0x7fffffffffffffffn : baseUs + BigInt(i) * 1000n;
    file.epb(0, units, udp(5000));
  }
  file.epb(1, baseUs, udp(6000));
  return file.build();
}

describe('capture time window', () => {
  test('from 1990-01-01 to one day past the clock, both ends included', () => {
    assert.equal(new Date(EARLIEST_CAPTURE_SEC * 1000).toISOString(), '1990-01-01T00:00:00.000Z');
    const max = nowMs / 1000 + CAPTURE_TIME_AHEAD_SEC;
    assert.equal(window.maxSec, max);
    for (const [sec, inside] of [
      [EARLIEST_CAPTURE_SEC - 1, false],
      [EARLIEST_CAPTURE_SEC, true],
      [max, true],
      [max + 1, false],
      [0, false],
      [-1, false],
      [4.6e18, false],
    ] as const)
      assert.equal(inCaptureTimeWindow(window, sec), inside, String(sec));
    assert.ok(inCaptureTimeWindow(ANY_CAPTURE_TIME, 4.6e18));
    // Every accepted time is exact in µs as a double.
    assert.ok(Number.isSafeInteger(window.maxSec * 1_000_000 + 999_999));
  });

  test('splitcap and the offline Sessionizer skip and count the same packets, and agree on first and last', () => {
    const pcap = badTimes();
    const batch = decodeBatch(pcap, 0, 2048, Number.POSITIVE_INFINITY, window);
    const offline = new Sessionizer({ captureTimes: window });
    for (const p of readCaptureBuffer(pcap)) offline.add(p);

    assert.equal(batch.skipped['time-out-of-range'], 3);
    assert.equal(offline.counters.skipped['time-out-of-range'], 3);
    assert.deepEqual(batch.skipped, offline.counters.skipped);
    assert.equal(batch.packetsSessionized, 28);
    assert.equal(offline.counters.decoded, 28);

    const [session] = [...batch.sessions.values()];
    const offlineSession = offline.sessions.get(session!.key)!;
    assert.equal(batch.sessions.size, 1, 'the offset interface starts no session');
    assert.equal(offline.sessions.size, 1);
    assert.equal(session!.packets, 28);
    assert.equal(session!.firstUs, Number(baseUs));
    assert.equal(session!.lastUs, Number(baseUs) + 29_000);
    assert.equal(Math.round(offlineSession.first * 1e6), session!.firstUs);
    assert.equal(Math.round(offlineSession.last * 1e6), session!.lastUs);
    assert.ok(batch.timeOutOfRange);
    assert.ok(batch.timeOutOfRange.minSec > window.maxSec, 'all three are in the future');
  });

  test('without a window the impossible times go through (what the conformance runs compare with tshark)', () => {
    const offline = new Sessionizer();
    for (const p of readCaptureBuffer(badTimes())) offline.add(p);
    assert.equal(offline.counters.skipped['time-out-of-range'], 0);
    assert.equal(offline.sessions.size, 2);
  });
});
