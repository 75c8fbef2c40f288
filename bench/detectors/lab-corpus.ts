// The detectors offline over the lab's runs and the shared captures: what each attack run detects, and how often
// benign sessions are detected. Each lab run (a folder with capture.pcap and labels.json, as lab/run.sh writes
// them) is one capture; its labels name the attacker addresses. A detection is the run's own when its source is an
// attacker (or, for a SYN flood, whose sources may be spoofed, when its target is a targeted address); any other
// detection is a false one. Benign sessions: every session of a benign run, the sessions of an attack run with no
// attacker address, and every session of the shared captures (zeek/, tcpdump-tests/, each file its own capture).
//   node --import tsx --conditions=fleetcap-source bench/detectors/lab-corpus.ts [--runs DIR] [--shared DIR] [--json]
//     [--classify]
// --classify labels every session with the shipped model first, as the worker does online (brute force also counts
// the sessions the model labels `bruteforce`: encrypted login forms, services on ports that are no auth port).
// Expected per scenario: portscan vertical or horizontal scans, synflood syn_floods, bruteforce brute_force (one per
// target attacked), benign, slowloris and sqli nothing. zeek/ssh/sshguess.pcap is password guessing: not benign.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectOffline, detectorSessionsOfFile, labelsOfFile, loadClassifier } from '@fleetcap/cli/commands/detections';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import {
  benignSharedCaptures,
  filesUnder,
  haveSharedPcaps,
  isBenignCapture,
  sharedPcaps,
} from '../../test/helpers/shared-captures.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '/work/wt/model/.lab/runs' },
    shared: { type: 'string', default: sharedPcaps },
    json: { type: 'boolean', default: false },
    classify: { type: 'boolean', default: false },
  },
});

const EXPECTED: Record<string, string[]> = {
  portscan: ['vertical_scan', 'horizontal_scan'],
  synflood: ['syn_flood'],
  bruteforce: ['brute_force'],
  benign: [],
  slowloris: [],
  sqli: [],
};

interface Labels {
  scenario: string;
  attacker_addrs: string[];
  targeted?: { addrs?: string[] };
}

function own(d: Detection, labels: Labels): boolean {
  const attackers = new Set(labels.attacker_addrs);
  if (d.source !== null) return attackers.has(d.source);
  const targeted = new Set(labels.targeted?.addrs ?? []);
  return [...targeted].some((a) => d.target.startsWith(`${a}:`));
}

const report = {
  runs: [] as Array<{ run: string; scenario: string; sessions: number; detected: string[]; ok: boolean }>,
  benignSessions: 0,
  falseDetections: [] as string[],
};

if (!existsSync(values.runs)) {
  console.error(`lab-corpus: --runs ${values.runs}: no such folder; give the lab's runs (lab/run.sh writes .lab/runs)`);
  process.exit(2);
}
const classifier = values.classify ? await loadClassifier() : undefined;
for (const run of readdirSync(values.runs).sort()) {
  const dir = join(values.runs, run);
  if (!existsSync(join(dir, 'labels.json')) || !existsSync(join(dir, 'capture.pcap'))) continue;
  const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as Labels;
  const capture = join(dir, 'capture.pcap');
  const labelsOfRun = classifier ? await labelsOfFile(classifier, capture) : undefined;
  const { sessions: all } = await detectorSessionsOfFile(capture, 'offline', labelsOfRun);
  all.sort((a: DetectorSession, b: DetectorSession) => a.firstUs - b.firstUs);
  const engine = new DetectorEngine(defaultDetectorConfig());
  for (const s of all) engine.process(s);
  const result = { detections: engine.detections() };
  const attackers = new Set(labels.attacker_addrs);
  const mine = result.detections.filter((d) => own(d, labels));
  for (const d of result.detections.filter((x) => !own(x, labels))) {
    report.falseDetections.push(`${run}: ${d.detector} ${d.source ?? '*'} -> ${d.target} (${d.peakCount})`);
  }
  const sessions = all.length;
  // The run's benign sessions: those without an attacker address (all of them in a benign run).
  report.benignSessions += all.filter((s) => !attackers.has(s.src) && !attackers.has(s.dst)).length;
  const expected = EXPECTED[labels.scenario] ?? [];
  const detected = mine.map((d) => d.detector);
  // One incident per target attacked (a run may scan or flood two hosts, or two ports), all of the scenario's kind.
  const ok =
    expected.length === 0 ? detected.length === 0 : detected.length >= 1 && detected.every((d) => expected.includes(d));
  report.runs.push({ run, scenario: labels.scenario, sessions, detected, ok });
  if (!values.json)
    console.log(`${ok ? 'ok  ' : 'MISS'} ${run} (${labels.scenario}): ${detected.join(', ') || 'none'}`);
}

if (haveSharedPcaps(values.shared)) {
  const slips = join(values.shared, 'slips');
  const benign = [
    ...benignSharedCaptures(values.shared),
    ...(existsSync(slips) ? filesUnder(slips).filter(isBenignCapture) : []),
  ];
  for (const file of benign) {
    // One model for every file (detectOffline's --classify would load it per file).
    const result = classifier
      ? await (async () => {
          const { sessions } = await detectorSessionsOfFile(file, 'offline', await labelsOfFile(classifier, file));
          sessions.sort((a: DetectorSession, b: DetectorSession) => a.firstUs - b.firstUs);
          const engine = new DetectorEngine(defaultDetectorConfig());
          for (const x of sessions) engine.process(x);
          return { sessions: sessions.length, detections: engine.detections() };
        })()
      : await detectOffline([file]);
    report.benignSessions += result.sessions;
    for (const d of result.detections) {
      report.falseDetections.push(`${file}: ${d.detector} ${d.source ?? '*'} -> ${d.target} (${d.peakCount})`);
    }
  }
}

await classifier?.release();
const misses = report.runs.filter((r) => !r.ok);
const summary = {
  attackRuns: report.runs.filter((r) => (EXPECTED[r.scenario] ?? []).length > 0).length,
  runs: report.runs.length,
  runsNotAsExpected: misses.map((r) => `${r.run}: ${r.detected.join(',') || 'none'}`),
  benignSessions: report.benignSessions,
  falseDetections: report.falseDetections.length,
  falsePerTenThousand: Number(((report.falseDetections.length * 10_000) / report.benignSessions).toFixed(3)),
  // With none seen, 3/N is the 95% upper bound of the rate (the rule of three).
  upperBound95PerTenThousand:
    report.falseDetections.length === 0 ? Number(((3 * 10_000) / report.benignSessions).toFixed(3)) : null,
  falseDetectionList: report.falseDetections,
};
console.log(JSON.stringify(summary, null, 2));
process.exitCode = misses.length > 0 || report.falseDetections.length > 0 ? 1 : 0;
