// The evaluation over public captures outside ../shared (bench/public-captures) on a small subset: the first 8
// benign captures of nDPI's test suite and every attack capture of it. Needs no server; needs the cache that
// `bash bench/public-captures/fetch.sh` fills (.ci/run fetches nDPI's) and skips loudly when it is absent.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultCache, evaluate, readManifest, sourceInCache } from '../../bench/public-captures/evaluate.ts';
import { clopperPearsonUpper } from '../../bench/public-captures/rates.ts';

const SOURCE = 'ndpi-4.2';

describe('public captures outside ../shared', () => {
  it('the 95% upper bound is the exact binomial one', () => {
    // The model card's 0 of 704 real benign sessions: 0.52%; 5 of 1,000: 1.16% (both exact Clopper-Pearson).
    assert.equal(clopperPearsonUpper(0, 704).toFixed(4), '0.0052');
    assert.equal(clopperPearsonUpper(5, 1000).toFixed(4), '0.0116');
    assert.equal(clopperPearsonUpper(3, 3), 1);
    assert.throws(() => clopperPearsonUpper(4, 3), /4 events in 3 trials is not a count/);
  });

  it('the manifest pins every source and says why each attack is one', () => {
    const manifest = readManifest();
    for (const [name, s] of Object.entries(manifest.sources)) {
      assert.match(s.sha256, /^[0-9a-f]{64}$/, `${name}: its archive's SHA-256`);
      assert.ok(s.version && s.licence, `${name}: version and licence`);
    }
    for (const [key, c] of Object.entries(manifest.captures)) {
      assert.ok(manifest.sources[key.split('/')[0]!], `${key}: a capture of a source the manifest has`);
      assert.ok(c.kind && c.why.length > 20, `${key}: its kind and why`);
    }
  });

  it('on a subset of nDPI: its SYN scan is one vertical scan and alerted, every attack file is read', async (t) => {
    if (!sourceInCache(defaultCache, SOURCE, readManifest())) {
      const message = `SKIPPED: ${SOURCE} is not in ${defaultCache} (run bash bench/public-captures/fetch.sh --only ${SOURCE}); the public-captures evaluation did not run`;
      console.warn(message);
      t.skip(message);
      return;
    }
    const { results, missing } = await evaluate({ cache: defaultCache, only: [SOURCE], files: 8 });
    assert.deepEqual(missing, []);
    const r = results[SOURCE] as {
      unreadable: string[];
      benign: { files: number; sessions: number; modelAlerts: { events: number }; detections: { events: number } };
      attacks: Array<{
        capture: string;
        met: boolean;
        sessions: number;
        detections: string[];
        alertClassShare: number | null;
      }>;
    };
    const scan = r.attacks.find((a) => a.capture === 'synscan.pcap');
    assert.ok(scan, 'synscan.pcap was evaluated');
    assert.equal(scan.met, true, `synscan.pcap: ${JSON.stringify(scan)}`);
    assert.equal(scan.sessions, 1994);
    assert.match(scan.detections.join('\n'), /^vertical_scan source 172\.16\.0\.8 target 64\.13\.134\.52:/);
    assert.equal(scan.alertClassShare, 1, 'every probe is an alert of class portscan');
    for (const a of r.attacks) assert.ok(a.sessions > 0, `${a.capture}: no session read`);
    assert.equal(r.benign.files, 8);
    assert.ok(r.benign.sessions > 0, 'the benign subset has sessions');
    console.log(
      `public captures, ${SOURCE} subset: ${r.benign.files} benign files, ${r.benign.sessions} sessions, ` +
        `${r.benign.modelAlerts.events} model alerts, ${r.benign.detections.events} detections; attacks: ` +
        r.attacks.map((a) => `${a.capture} ${a.met ? 'as expected' : 'NOT as expected'}`).join(', '),
    );
  });
});
