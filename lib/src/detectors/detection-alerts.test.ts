import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultDetectorConfig } from './config.ts';
import {
  ALERTING_DETECTORS,
  activeIncidentKey,
  alertOutcome,
  backingOf,
  DetectionIndex,
  DetectionStateError,
  decodeActiveIncident,
  decodeAlertConfig,
  encodeActiveIncident,
  encodeAlertConfig,
  spanCovers,
} from './detection-alerts.ts';
import { DetectorEngine } from './engine.ts';
import { syntheticSession as session } from './synthetic.ts';

const T0 = 1_700_000_000;
const ftpAttempt = (atSec: number, fields = {}) =>
  session('conversation', { src: '10.9.0.1', dst: '10.9.0.2', dport: 21, atSec, seconds: 2, ...fields });

function run(sessions: ReturnType<typeof session>[]) {
  const config = defaultDetectorConfig();
  const engine = new DetectorEngine(config);
  for (const s of [...sessions].sort((a, b) => a.firstUs - b.firstUs)) engine.process(s);
  return { detections: engine.detections(), index: new DetectionIndex(engine.detections(), config) };
}

describe('the alert of a verdict with its reason', () => {
  const backing = { detectionId: 'brute_force|x|1', detector: 'brute_force' as const, alertLabel: 'bruteforce' };

  it('keeps the model alert as it was when no detection backs the session', () => {
    assert.deepEqual(alertOutcome({ alert: true, label: 'sqli' }, null), {
      alert: true,
      alertReason: 'model',
      alertLabel: 'sqli',
      detectionId: null,
    });
    assert.deepEqual(alertOutcome({ alert: false, label: 'sqli' }, null), {
      alert: false,
      alertReason: null,
      alertLabel: null,
      detectionId: null,
    });
  });

  it("makes evidence an alert of the detection's class, saying whether the model alerted too", () => {
    assert.deepEqual(alertOutcome({ alert: false, label: 'benign' }, backing), {
      alert: true,
      alertReason: 'detection',
      alertLabel: 'bruteforce',
      detectionId: 'brute_force|x|1',
    });
    const both = alertOutcome({ alert: true, label: 'sqli' }, backing);
    assert.equal(both.alertReason, 'model+detection');
    assert.equal(both.alertLabel, 'bruteforce', "the detection's class wins: it saw what the session alone cannot");
  });

  it('does not make alerts of beaconing', () => {
    assert.ok(!ALERTING_DETECTORS.includes('beaconing'));
    assert.deepEqual([...ALERTING_DETECTORS], ['horizontal_scan', 'vertical_scan', 'syn_flood', 'brute_force']);
  });
});

describe('which sessions are evidence of a finished offline run', () => {
  it("is every attempt of a brute force, none of the same source's other sessions", () => {
    const attempts = Array.from({ length: 25 }, (_, i) => ftpAttempt(T0 + 3600 + i * 5));
    const earlier = ftpAttempt(T0, {}); // an hour before: its window ended long before the incident
    const longSession = ftpAttempt(T0 + 3600 + 40, { seconds: 600 }); // a login that worked: no attempt
    const web = session('conversation', { src: '10.9.0.1', dst: '10.9.0.2', dport: 80, atSec: T0 + 3610 });
    const { detections, index } = run([...attempts, earlier, longSession, web]);
    assert.equal(detections.length, 1);
    const id = detections[0]!.id;
    for (const s of attempts) {
      assert.deepEqual(index.backingOf(s), { detectionId: id, detector: 'brute_force', alertLabel: 'bruteforce' });
    }
    assert.equal(index.backingOf(earlier), null);
    assert.equal(index.backingOf(longSession), null);
    assert.equal(index.backingOf(web), null);
  });

  it('is every probe of a horizontal scan and every half-open SYN of a flood, not a conversation beside them', () => {
    const probes = Array.from({ length: 6 }, (_, i) =>
      session('rejected', { src: '10.8.0.1', dst: `10.8.1.${i + 1}`, atSec: T0 + i }),
    );
    const flood = Array.from({ length: 120 }, (_, i) =>
      session('half-open', { src: `172.16.${i >> 8}.${i & 255}`, dst: '10.8.2.1', dport: 443, atSec: T0 + i / 100 }),
    );
    const served = session('conversation', { src: '10.8.3.3', dst: '10.8.2.1', dport: 443, atSec: T0 + 0.5 });
    const { detections, index } = run([...probes, ...flood, served]);
    assert.deepEqual(detections.map((d) => d.detector).sort(), ['horizontal_scan', 'syn_flood']);
    for (const s of probes) assert.equal(index.backingOf(s)?.alertLabel, 'portscan');
    for (const s of flood) assert.equal(index.backingOf(s)?.alertLabel, 'synflood');
    assert.equal(index.backingOf(served), null, 'a client served during a flood is no evidence of it');
  });

  it('makes no alert of a beacon', () => {
    const beacons = Array.from({ length: 12 }, (_, i) =>
      session('conversation', { src: '10.7.0.1', dst: '10.7.0.2', dport: 443, atSec: T0 + i * 60 }),
    );
    const { detections, index } = run(beacons);
    assert.deepEqual(
      detections.map((d) => d.detector),
      ['beaconing'],
    );
    assert.equal(index.size, 0);
    for (const s of beacons) assert.equal(index.backingOf(s), null);
  });
});

describe('an incident that is still open (online)', () => {
  const span = { id: 'i', firstUs: 100e6, lastUs: 200e6, windowUs: 300e6 };

  it('covers a session within a window of its last one, and a late one within a window before its first', () => {
    assert.ok(spanCovers(span, 150e6, true));
    assert.ok(spanCovers(span, 499e6, true));
    assert.ok(!spanCovers(span, 501e6, true), 'past a quiet window the next crossing is a new incident');
    assert.ok(spanCovers(span, 0, true));
    assert.ok(!spanCovers(span, 499e6, false), 'a finished incident covers first .. last');
  });

  it("finds a session's incident by the rule's subject of it", () => {
    const config = defaultDetectorConfig();
    const s = ftpAttempt(T0);
    const seen: string[] = [];
    const found = backingOf(
      s,
      config,
      (detector, subject) => {
        seen.push(`${detector}|${subject}`);
        return detector === 'brute_force'
          ? [{ id: 'brute_force|b', firstUs: s.firstUs - 10e6, lastUs: s.firstUs - 1e6, windowUs: 300e6 }]
          : undefined;
      },
      true,
    );
    assert.deepEqual(found, { detectionId: 'brute_force|b', detector: 'brute_force', alertLabel: 'bruteforce' });
    assert.deepEqual(seen, ['brute_force|10.9.0.1|10.9.0.2|21'], 'a conversation is no probe: only brute force asks');
    config.brute_force.enabled = false;
    assert.equal(
      backingOf(s, config, () => [{ id: 'x', firstUs: 0, lastUs: s.firstUs, windowUs: 1e9 }], true),
      null,
    );
  });
});

describe('the Redis state the detector stage publishes', () => {
  it('round-trips, in the hash tag of the subject', () => {
    const { detections } = run(Array.from({ length: 20 }, (_, i) => ftpAttempt(T0 + i)));
    const d = detections[0]!;
    assert.equal(activeIncidentKey('fc', d.detector, d.subject), `fc:det:{brute_force|${d.subject}}:alert`);
    const span = decodeActiveIncident(encodeActiveIncident(d), 'k');
    assert.deepEqual(span, { id: d.id, firstUs: d.firstSeenUs, lastUs: d.lastSeenUs, windowUs: 300e6 });
    const config = defaultDetectorConfig();
    config.brute_force.ports = [2121];
    assert.deepEqual(decodeAlertConfig(encodeAlertConfig(config), 'k'), config);
  });

  it('refuses what a detector of another version could have written, naming the key and the field', () => {
    assert.throws(() => decodeActiveIncident('{"id":"x","firstUs":1}', 'fc:det:{a|b}:alert'), {
      name: 'DetectionStateError',
      message: 'fc:det:{a|b}:alert holds no active incident (lastUs: Required): a detector of another version wrote it',
    });
    assert.throws(() => decodeActiveIncident('nope', 'k'), DetectionStateError);
    const config = JSON.parse(encodeAlertConfig(defaultDetectorConfig()));
    delete config.syn_flood.enabled;
    assert.throws(() => decodeAlertConfig(JSON.stringify(config), 'fc:det:{alert-config}'), {
      message:
        'fc:det:{alert-config} holds no detector settings for syn_flood (enabled: Required): a detector of another version wrote it',
    });
  });
});
