import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { detectOffline, runDetections } from './detections.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-detections-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One agent's capture: SYNs from the scanner to `hosts`, each refused with a RST. */
function probes(file: string, hosts: string[], startSec: number): string {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  hosts.forEach((dst, i) => {
    const sport = 50000 + i;
    const syn = buildPacket({ proto: 'tcp', src: '192.0.2.66', sport, dst, dport: 445, tcpFlags: TCP_SYN });
    const rst = buildPacket({
      proto: 'tcp',
      src: dst,
      sport: 445,
      dst: '192.0.2.66',
      dport: sport,
      tcpFlags: TCP_RST | TCP_ACK,
    });
    writer.write({ tsSec: startSec + i, tsNsec: 0, data: syn, origLen: syn.length });
    writer.write({ tsSec: startSec + i, tsNsec: 1000, data: rst, origLen: rst.length });
  });
  const path = join(dir, file);
  writeFileSync(path, writer.toBuffer());
  return path;
}

describe('fleetcap detections FILE...', () => {
  const a = probes('host-a.pcap', ['10.1.0.1', '10.1.0.2', '10.1.0.3'], 1_700_000_000);
  const b = probes('host-b.pcap', ['10.2.0.1', '10.2.0.2', '10.2.0.3'], 1_700_000_001);

  it('a scan no single capture shows is one detection across files, listing each file as an agent', async () => {
    assert.equal((await detectOffline([a])).detections.length, 0, 'three hosts are under the threshold');
    const { detections } = await detectOffline([a, b], { agentPerFile: true });
    assert.equal(detections.length, 1);
    assert.equal(detections[0]!.detector, 'horizontal_scan');
    assert.equal(detections[0]!.target, '*:445/tcp');
    assert.deepEqual([...detections[0]!.agents].sort(), ['host-a.pcap', 'host-b.pcap']);
  });

  it('prints one line per detection and the rate; --json one object each and a summary', async () => {
    let text = '';
    const out = { write: (t: string) => (text += t) };
    assert.equal(await runDetections([a, b], {}, out, out), 0);
    assert.match(text, /^horizontal_scan source 192\.0\.2\.66 target \*:445\/tcp: 6 in 300 s \(threshold 5\)/m);
    assert.match(text, /1 detections in 6 sessions of 2 files/);
    text = '';
    await runDetections([a, b], { json: true }, out, out);
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].type, 'detection');
    assert.equal(lines.at(-1).type, 'summary');
    assert.equal(lines.at(-1).sessions, 6);
  });

  it('a file that cannot be read is reported and gives exit code 2; the others are still detected', async () => {
    const broken = join(dir, 'broken.pcap');
    writeFileSync(broken, 'not a capture at all');
    let err = '';
    const code = await runDetections([a, b, broken], {}, { write: () => 0 }, { write: (t: string) => (err += t) });
    assert.equal(code, 2);
    assert.match(err, /fleetcap detections: .*broken\.pcap: /);
  });
});
