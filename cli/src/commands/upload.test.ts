import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '@fleetcap/lib/packet/decode';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { captureBatches } from './upload.ts';

test('a capture is cut into batches at packet boundaries, keeping times and wire lengths', () => {
  const w = new PcapWriter({ linktype: LINKTYPE_ETHERNET });
  for (let i = 0; i < 25; i++) {
    const data = buildPacket({ proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + i, dport: 53 });
    w.write({ tsSec: 1700000000 + i, tsNsec: 123000, data, origLen: data.length + 10 });
  }
  const batches = [...captureBatches(w.toBuffer(), 10)];
  assert.deepEqual(
    batches.map((b) => b.packets),
    [10, 10, 5],
  );
  const packets = batches.flatMap((b) => [...readCaptureBuffer(b.body)]);
  assert.equal(packets.length, 25);
  assert.equal(packets[24]!.tsSec, 1700000024);
  assert.equal(packets[24]!.tsNsec, 123000);
  assert.equal(packets[24]!.origLen, packets[24]!.caplen + 10);
});

test("batches keep the capture's link type", () => {
  const raw = new PcapWriter({ linktype: LINKTYPE_RAW });
  raw.write({
    tsSec: 1,
    tsNsec: 0,
    data: buildPacket({ proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, linktype: LINKTYPE_RAW }),
  });
  const [only] = [...captureBatches(raw.toBuffer(), 100)];
  assert.equal(only!.packets, 1);
  assert.equal([...readCaptureBuffer(only!.body)][0]!.linktype, LINKTYPE_RAW);
});
