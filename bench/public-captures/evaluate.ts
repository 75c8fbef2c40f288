// The model and the detectors offline over the public captures of manifest.json (fetched by fetch.sh), each file a
// capture of its own, counted per source (never pooled across sources, never split by session):
// - the model as served (`fleetcap classify --json`: the model's alerts plus the detection-backed ones) and the
//   model alone (the alerts whose reason includes `model`) on every session of the benign captures: the false-alarm
//   rate at the sources' own base rate, with its exact 95% upper bound (Clopper-Pearson), also per file;
// - the detectors (`fleetcap detections FILE`, no model) on the benign captures: detections per 10,000 sessions;
// - each attack capture: its sessions, detections and alerts by class, and whether what the manifest expects appears.
// Nothing here tunes anything: the model, its card and the detector thresholds are the shipped ones.
//   node --import tsx --conditions=fleetcap-source bench/public-captures/evaluate.ts [--cache DIR] [--out FILE]
//     [--only SOURCE,...] [--files N]      (--files: the first N captures of each source, in name order, and every
//                                          attack capture: a quick subset)
// Exit 0 when every expected detection and alert appeared, 1 when one did not, 2 when a source is not in the cache.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runClassify } from '@fleetcap/cli/commands/classify';
import { detectionLine, detectOffline } from '@fleetcap/cli/commands/detections';
import { clopperPearsonUpper } from './rates.ts';

export const MANIFEST = new URL('./manifest.json', import.meta.url).pathname;
export const defaultCache = process.env.FLEETCAP_PUBLIC_CAPTURES ?? join(homedir(), '.cache/fleetcap/public-captures');

interface Expectation {
  detections: string[];
  alertClass: string | null;
}
export interface Manifest {
  sources: Record<string, { package: string; version: string; sha256: string; licence: string; what: string }>;
  malformed: Record<string, string>;
  captures: Record<string, { label: 'attack'; kind: string; expect: Expectation; why: string }>;
}

export function readManifest(): Manifest {
  return JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
}

/** A source is in the cache when fetch.sh finished it with the archive the manifest pins. */
export function sourceInCache(cache: string, name: string, manifest: Manifest): boolean {
  const complete = join(cache, name, '.complete');
  return existsSync(complete) && readFileSync(complete, 'utf8').trim() === manifest.sources[name]?.sha256;
}

const CAPTURE_MAGICS = new Set(['a1b2c3d4', 'd4c3b2a1', 'a1b23c4d', '4d3cb2a1', '0a0d0d0a']);

/** Files that start like a pcap or pcapng (the folders also hold key logs and notes). */
export function capturesOf(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const fd = openSync(path, 'r');
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    if (n === 4 && CAPTURE_MAGICS.has(head.toString('hex'))) out.push(path);
  }
  return out;
}

type Line = Record<string, unknown> & { type: string; file: string };

interface FileResult {
  file: string;
  sessions: number;
  error?: string;
  labels: Record<string, number>;
  /** As served: every alert of `fleetcap classify`. */
  alerts: number;
  alertsByLabel: Record<string, number>;
  /** The model's own alerts (reason `model` or `model+detection`). */
  modelAlerts: number;
  unknown: number;
  /** Detections of `fleetcap detections FILE` (no model). */
  detections: string[];
  /** Detections of `fleetcap classify` (the detectors over the model-labelled sessions). */
  classifyDetections: string[];
  /** Alerted sessions, for the benign files: what they are. */
  alerted: Array<{ key: string; label: string; score: number; alertLabel: string; reason: string; dport: number }>;
}

async function classifyFiles(files: string[]): Promise<Map<string, Line[]>> {
  let text = '';
  let errors = '';
  await runClassify(files, { json: true }, { write: (s: string) => (text += s) }, { write: (s) => (errors += s) });
  const byFile = new Map<string, Line[]>(files.map((f) => [f, []]));
  // Detection lines carry no file: they follow their file's sessions, before its summary.
  let current: Line[] | undefined;
  for (const l of text.split('\n')) {
    if (l === '') continue;
    const line = JSON.parse(l) as Line;
    if (line.type !== 'detection') current = byFile.get(line.file);
    current?.push(line);
  }
  if (errors !== '') process.stderr.write(errors);
  return byFile;
}

async function evaluateFile(file: string, lines: Line[]): Promise<FileResult> {
  const sessions = lines.filter((l) => l.type === 'session');
  const summary = lines.find((l) => l.type === 'summary');
  const offline = await detectOffline([file]);
  const alerted = sessions.filter((s) => s.alert === true);
  return {
    file,
    sessions: sessions.length,
    ...(summary?.error ? { error: String(summary.error) } : {}),
    labels: (summary?.labels ?? {}) as Record<string, number>,
    alerts: alerted.length,
    alertsByLabel: (summary?.alertsByLabel ?? {}) as Record<string, number>,
    modelAlerts: alerted.filter((s) => String(s.alertReason).includes('model')).length,
    unknown: sessions.filter((s) => s.unknown === true).length,
    detections: offline.detections.map(detectionLine),
    classifyDetections: lines
      .filter((l) => l.type === 'detection')
      .map((d) => `${d.detector} ${d.source ?? '*'} -> ${d.target} (${d.sessions} sessions)`),
    alerted: alerted.map((s) => ({
      key: String(s.key),
      label: String(s.label),
      score: Number(s.score),
      alertLabel: String(s.alertLabel),
      reason: String(s.alertReason),
      dport: Number(s.dport),
    })),
  };
}

function rate(events: number, trials: number) {
  return {
    events,
    trials,
    share: trials === 0 ? null : Number((events / trials).toFixed(4)),
    upper95Share: trials === 0 ? null : Number(clopperPearsonUpper(events, trials).toFixed(4)),
    perTenThousand: trials === 0 ? null : Number(((events * 10_000) / trials).toFixed(2)),
    upper95PerTenThousand: trials === 0 ? null : Number((clopperPearsonUpper(events, trials) * 10_000).toFixed(2)),
  };
}

/** `horizontal_scan udp` -> detections and the files they came from (from the no-model detections). */
function detectionPatterns(files: FileResult[], base: (f: FileResult) => string) {
  const patterns: Record<string, { detections: number; sessions: number; files: string[] }> = {};
  for (const f of files) {
    for (const d of f.detections) {
      const transport = / target \S*\/(tcp|udp)\b/.exec(d)?.[1] ?? 'any';
      const key = `${d.split(' ')[0]} ${transport}`;
      const p = patterns[key] ?? { detections: 0, sessions: 0, files: [] };
      patterns[key] = p;
      p.detections += 1;
      p.sessions += Number(/, (\d+) sessions,/.exec(d)?.[1] ?? 0);
      if (!p.files.includes(base(f))) p.files.push(base(f));
    }
  }
  return patterns;
}

function detectorsOf(lines: string[]): string[] {
  return lines.map((l) => l.split(' ')[0]!);
}

export async function evaluate(options: { cache: string; only?: string[]; files?: number }) {
  const manifest = readManifest();
  const names = options.only ?? Object.keys(manifest.sources);
  const missing = names.filter((n) => !sourceInCache(options.cache, n, manifest));
  const results: Record<string, unknown> = {};
  const unmet: string[] = [];
  for (const name of names) {
    if (missing.includes(name)) continue;
    const dir = join(options.cache, name);
    const malformed = new RegExp(manifest.malformed[name] ?? '^$');
    const labelOf = (file: string) => manifest.captures[`${name}/${file.slice(dir.length + 1)}`];
    let files = capturesOf(dir);
    if (options.files !== undefined) {
      const attacks = files.filter((f) => labelOf(f));
      files = [...new Set([...files.filter((f) => !labelOf(f)).slice(0, options.files), ...attacks])].sort();
    }
    const perFile: FileResult[] = [];
    for (let i = 0; i < files.length; i += 16) {
      const chunk = files.slice(i, i + 16);
      const classified = await classifyFiles(chunk);
      for (const f of chunk) perFile.push(await evaluateFile(f, classified.get(f) ?? []));
    }
    const base = (f: FileResult) => f.file.slice(dir.length + 1);
    const benign = perFile.filter((f) => !labelOf(f.file));
    const clean = benign.filter((f) => !malformed.test(base(f)));
    const summarise = (set: FileResult[]) => {
      const sessions = set.reduce((a, f) => a + f.sessions, 0);
      const sum = (k: 'alerts' | 'modelAlerts' | 'unknown') => set.reduce((a, f) => a + f[k], 0);
      return {
        files: set.length,
        filesWithSessions: set.filter((f) => f.sessions > 0).length,
        sessions,
        alertsAsServed: rate(sum('alerts'), sessions),
        modelAlerts: rate(sum('modelAlerts'), sessions),
        filesAlerted: rate(set.filter((f) => f.alerts > 0).length, set.filter((f) => f.sessions > 0).length),
        detections: rate(
          set.reduce((a, f) => a + f.detections.length, 0),
          sessions,
        ),
        detectionsWithModel: rate(
          set.reduce((a, f) => a + f.classifyDetections.length, 0),
          sessions,
        ),
        unknown: sum('unknown'),
      };
    };
    const attacks = perFile
      .filter((f) => labelOf(f.file))
      .map((f) => {
        const label = labelOf(f.file)!;
        const found = new Set([...detectorsOf(f.detections), ...detectorsOf(f.classifyDetections)]);
        const missingDetections = label.expect.detections.filter((d) => !found.has(d));
        const alertClassShare =
          label.expect.alertClass === null || f.sessions === 0
            ? null
            : Number(((f.alertsByLabel[label.expect.alertClass] ?? 0) / f.sessions).toFixed(4));
        const met = missingDetections.length === 0 && (label.expect.alertClass === null || (alertClassShare ?? 0) > 0);
        if (!met) unmet.push(`${name}/${base(f)}`);
        return {
          capture: base(f),
          kind: label.kind,
          expect: label.expect,
          met,
          sessions: f.sessions,
          labels: f.labels,
          alertsByLabel: f.alertsByLabel,
          alertClassShare,
          detections: f.detections,
          detectionsWithModel: f.classifyDetections,
        };
      });
    results[name] = {
      source: manifest.sources[name],
      unreadable: perFile.filter((f) => f.error).map((f) => `${base(f)}: ${f.error}`),
      benign: summarise(benign),
      benignWithoutMalformed: summarise(clean),
      // The false alarms' patterns: detections on benign captures by detector and transport, with the files.
      benignDetectionPatterns: detectionPatterns(benign, base),
      // What raised the false alarms: per benign file, its alerted sessions and detections.
      benignAlarms: benign
        .filter((f) => f.alerts > 0 || f.detections.length > 0 || f.classifyDetections.length > 0)
        .map((f) => ({
          capture: base(f),
          malformed: malformed.test(base(f)),
          sessions: f.sessions,
          alerts: f.alerts,
          modelAlerts: f.modelAlerts,
          alertsByLabel: f.alertsByLabel,
          detections: f.detections,
          detectionsWithModel: f.classifyDetections,
          alerted: f.alerted.slice(0, 20),
        })),
      attacks,
    };
  }
  return { missing, unmet, results };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      cache: { type: 'string', default: defaultCache },
      out: { type: 'string' },
      only: { type: 'string' },
      files: { type: 'string' },
    },
  });
  const report = await evaluate({
    cache: values.cache,
    ...(values.only ? { only: values.only.split(',') } : {}),
    ...(values.files ? { files: Number(values.files) } : {}),
  });
  for (const m of report.missing) {
    console.error(`evaluate: SKIPPED: source ${m} is not in ${values.cache}: run bash bench/public-captures/fetch.sh`);
  }
  const out = values.out ?? join(values.cache, 'results.json');
  // The cache's place is no part of the result: the command is recorded as one runs it from the repository.
  const command = ['bench/public-captures/evaluate.ts', ...process.argv.slice(2)].join(' ');
  const manifest = readManifest();
  writeFileSync(
    out,
    `${JSON.stringify({ model: JSON.parse(readFileSync(new URL('../../model/model-card.json', import.meta.url), 'utf8')).modelVersion, command, ...report }, null, 2)}\n`,
  );
  type Printed = { benign: unknown; benignWithoutMalformed: unknown; attacks: Array<Record<string, unknown>> };
  for (const [name, r] of Object.entries(report.results as Record<string, Printed>)) {
    console.log(`${name} (${manifest.sources[name]?.package} ${manifest.sources[name]?.version}):`);
    console.log(`  benign ${JSON.stringify(r.benign)}`);
    console.log(`  benign without malformed ${JSON.stringify(r.benignWithoutMalformed)}`);
    for (const x of r.attacks)
      console.log(
        `  attack ${x.capture}: met ${x.met}, ${JSON.stringify(x.alertsByLabel)}, ${JSON.stringify(x.detections)}`,
      );
  }
  console.log(`results: ${out}`);
  if (report.missing.length > 0) process.exitCode = 2;
  else if (report.unmet.length > 0) {
    console.log(`not as expected: ${report.unmet.join(', ')}`);
    process.exitCode = 1;
  }
}
