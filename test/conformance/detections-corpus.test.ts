// The detectors offline (`fleetcap detections FILE...`) over the real captures of ../shared/pcaps: the attack
// captures give their detection, the benign ones (zeek/, tcpdump-tests/, each file a capture of its own) a rate of
// detections per 10,000 sessions that stays under 1. Needs no server; skips loudly when ../shared is absent.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { detectionLine, detectOffline } from '@fleetcap/cli/commands/detections';

const repoRoot = new URL('../..', import.meta.url).pathname;
const pcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
const BRUTEFORCE = join(pcaps, 'zeek', 'ftp', 'bruteforce.pcap');
const NMAP = join(pcaps, 'zeek', 'nmap-vsn.pcap');

function captures(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) captures(path, out);
    else out.push(path);
  }
  return out;
}

function skipUnlessShared(t: { skip: (m: string) => void }): boolean {
  if (existsSync(join(pcaps, 'zeek')) && existsSync(join(pcaps, 'tcpdump-tests'))) return false;
  const message = `SKIPPED: ../shared/pcaps absent (looked for ${pcaps}); the detections corpus test did not run`;
  console.warn(message);
  t.skip(message);
  return true;
}

describe('detections over the shared captures', () => {
  it('zeek/ftp/bruteforce.pcap is one brute force against FTP', async (t) => {
    if (skipUnlessShared(t)) return;
    const { detections } = await detectOffline([BRUTEFORCE]);
    assert.deepEqual(
      detections.map((d) => [d.detector, d.source, d.target]),
      [['brute_force', '192.168.56.1', '192.168.56.101:21/tcp']],
    );
    assert.equal(detections[0]!.sessions, 30);
    assert.equal(detections[0]!.evidence.length, 30);
  });

  it('zeek/nmap-vsn.pcap is one horizontal scan of port 80', async (t) => {
    if (skipUnlessShared(t)) return;
    const { detections } = await detectOffline([NMAP]);
    assert.deepEqual(
      detections.map((d) => [d.detector, d.source, d.target, d.distinctTargets]),
      [['horizontal_scan', '192.168.1.71', '*:80/tcp', 7]],
    );
  });

  it('the benign captures give under 1 detection per 10,000 sessions', async (t) => {
    if (skipUnlessShared(t)) return;
    const files = [...captures(join(pcaps, 'zeek')), ...captures(join(pcaps, 'tcpdump-tests'))].filter(
      (f) => f !== BRUTEFORCE && f !== NMAP,
    );
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
