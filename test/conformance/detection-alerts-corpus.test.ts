// Detection-backed alerts offline (`fleetcap classify`) over the real captures of ../shared/pcaps: Zeek's
// ftp/bruteforce.pcap, 30 sessions of one failed FTP login each, which no per-session model can tell from a user
// mistyping a password, is 30 alerts of class bruteforce backed by the one brute-force detection; the benign captures
// (zeek/, tcpdump-tests/, each file a capture of its own) gain no alert from a detection. Needs no server; skips
// loudly when ../shared is absent.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runClassify } from '@fleetcap/cli/commands/classify';
import { detectOffline } from '@fleetcap/cli/commands/detections';
import { benignSharedCaptures, FTP_BRUTEFORCE, NMAP_VSN, skipUnlessShared } from '../helpers/shared-captures.ts';

const WHAT = 'the detection-alerts corpus test';

type Line = Record<string, unknown> & { type: string };

async function classifyJson(files: string[]): Promise<Line[]> {
  let text = '';
  await runClassify(files, { json: true }, { write: (s: string) => (text += s) }, { write: () => true });
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

describe('detection-backed alerts over the shared captures', () => {
  it('zeek/ftp/bruteforce.pcap: all 30 sessions are alerts of class bruteforce, backed by its one detection', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const lines = await classifyJson([FTP_BRUTEFORCE]);
    const sessions = lines.filter((l) => l.type === 'session');
    const [detection] = (await detectOffline([FTP_BRUTEFORCE], { classify: true })).detections;
    assert.equal(sessions.length, 30);
    assert.equal(detection?.detector, 'brute_force');
    for (const s of sessions) {
      assert.equal(s.alert, true, `${s.key} is no alert`);
      assert.equal(s.alertLabel, 'bruteforce', `${s.key} is alerted as ${s.alertLabel}`);
      assert.equal(s.detectionId, detection!.id, 'the same incident as `fleetcap detections --classify` finds');
      assert.ok(['detection', 'model+detection'].includes(s.alertReason as string), `reason ${s.alertReason}`);
    }
    const labels = new Set(sessions.map((s) => s.label));
    console.log(`ftp/bruteforce.pcap: the model's labels ${[...labels].join(', ')}; alerted as bruteforce 30/30`);
    const summary = lines.find((l) => l.type === 'summary')!;
    assert.deepEqual(summary.alertsByLabel, { bruteforce: 30 });
    assert.equal(summary.detections, 1);
  });

  it('zeek/nmap-vsn.pcap: the probes of its horizontal scan are alerts of class portscan', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const sessions = (await classifyJson([NMAP_VSN])).filter((l) => l.type === 'session');
    const backed = sessions.filter((s) => s.detectionId !== null);
    assert.ok(backed.length >= 7, `${backed.length} sessions backed by the scan (it probes 7 hosts)`);
    for (const s of backed) {
      assert.equal(s.alertLabel, 'portscan');
      assert.equal(s.dport, 80);
      assert.equal(s.src, '192.168.1.71');
    }
  });

  it('the benign captures gain no alert from a detection', async (t) => {
    if (skipUnlessShared(t, WHAT)) return;
    const files = benignSharedCaptures();
    const lines = await classifyJson(files);
    const sessions = lines.filter((l) => l.type === 'session');
    const backed = sessions.filter((s) => s.detectionId !== null);
    const detections = lines.filter((l) => l.type === 'detection');
    console.log(
      `benign corpus: ${files.length} files, ${sessions.length} sessions classified, ${detections.length} detections, ` +
        `${backed.length} alerts from detections`,
    );
    assert.equal(lines.filter((l) => l.type === 'summary').length, files.length, 'a summary per file');
    assert.ok(sessions.length > 2000, `only ${sessions.length} sessions classified: is the corpus complete?`);
    assert.deepEqual(
      backed.map((s) => `${s.file}: ${s.key} ${s.alertLabel} (${s.detectionId})`),
      [],
      'benign sessions alerted by a detection',
    );
    assert.deepEqual(detections, []);
  });
});
