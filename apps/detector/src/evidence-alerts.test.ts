import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { syntheticSession as session } from '@fleetcap/lib/detectors/synthetic';
import { evidenceRowsOf } from './evidence-alerts.ts';

const T0 = 1_700_000_000;
const attempt = (i: number, fields = {}) =>
  session('conversation', { src: '10.5.0.1', dst: '10.5.0.2', dport: 22, atSec: T0 + i * 3, seconds: 1, ...fields });

describe("the verdict rows of an incident's evidence", () => {
  it('are the sessions that opened it and those of the batch its rule observes for its subject', () => {
    const config = defaultDetectorConfig();
    const engine = new DetectorEngine(config);
    const opening = Array.from({ length: 20 }, (_, i) => attempt(i));
    for (const s of opening) engine.process(s);
    const [incident] = engine.detections();
    assert.equal(incident?.detector, 'brute_force');
    const later = [attempt(20), attempt(21)];
    const other = attempt(22, { src: '10.5.0.9' });
    const web = session('conversation', { src: '10.5.0.1', dst: '10.5.0.2', dport: 80, atSec: T0 + 61 });
    const batch = [...later, other, web];
    const changed = batch.flatMap((s) => engine.process(s));
    const rows = evidenceRowsOf(changed, batch, config);
    assert.equal(rows.length, 1, 'one incident changed, written once however often the batch changed it');
    const r = rows[0]!;
    assert.equal(r.detectionId, incident!.id);
    assert.equal(r.alertLabel, 'bruteforce');
    assert.deepEqual(
      new Set(r.communityIds),
      new Set([...opening, ...later].map((s) => s.communityId)),
      "the other source's attempt and the web session are no evidence",
    );
    assert.equal(r.fromUs, opening[0]!.firstUs);
    assert.ok(r.toUs >= later[1]!.firstUs);
  });

  it('are none for beaconing, whose sessions are no alerts', () => {
    const config = defaultDetectorConfig();
    const engine = new DetectorEngine(config);
    const beacons = Array.from({ length: 10 }, (_, i) =>
      session('conversation', { src: '10.5.1.1', dst: '10.5.1.2', dport: 443, atSec: T0 + i * 60 }),
    );
    const changed = beacons.flatMap((s) => engine.process(s));
    assert.ok(changed.some((d) => d.detector === 'beaconing'));
    assert.deepEqual(evidenceRowsOf(changed, beacons, config), []);
  });
});
