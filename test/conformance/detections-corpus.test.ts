// The detectors offline (`fleetcap detections FILE...`) over the real captures of ../shared/pcaps: the attack
// captures give their detection, the benign ones (zeek/, tcpdump-tests/, each file a capture of its own) a rate of
// detections per 10,000 sessions that stays under 1. Needs no server; skips loudly when ../shared is absent.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectionLine, detectOffline } from '@fleetcap/cli/commands/detections';
import { benignSharedCaptures, FTP_BRUTEFORCE, NMAP_VSN, skipUnlessShared } from '../helpers/shared-captures.ts';

const WHAT = 'the detections corpus test';

describe('detections over the shared captures', () => {
  it('zeek/ftp/bruteforce.pcap is one brute force against FTP', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const { detections } = await detectOffline([FTP_BRUTEFORCE]);
    assert.deepEqual(
      detections.map((d) => [d.detector, d.source, d.target]),
      [['brute_force', '192.168.56.1', '192.168.56.101:21/tcp']],
    );
    assert.equal(detections[0]!.sessions, 30);
    assert.equal(detections[0]!.evidence.length, 30);
  });

  it('zeek/nmap-vsn.pcap is one horizontal scan of port 80', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const { detections } = await detectOffline([NMAP_VSN]);
    assert.deepEqual(
      detections.map((d) => [d.detector, d.source, d.target, d.distinctTargets]),
      [['horizontal_scan', '192.168.1.71', '*:80/tcp', 7]],
    );
  });

  it('the benign captures give under 1 detection per 10,000 sessions', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const files = benignSharedCaptures();
    let sessions = 0;
    const found: string[] = [];
    for (const file of files) {
      const r = await detectOffline([file]);
      sessions += r.sessions;
      for (const d of r.detections) found.push(`${file}: ${detectionLine(d)}`);
    }
    const rate = (found.length * 10_000) / sessions;
    console.log(
      `benign corpus: ${files.length} files, ${sessions} sessions, ${found.length} detections (${rate.toFixed(2)} per 10,000)`,
    );
    assert.ok(sessions > 2000, `only ${sessions} sessions read: is the corpus complete?`);
    assert.ok(rate < 1, `detections in benign captures:\n${found.join('\n')}`);
  });
});
