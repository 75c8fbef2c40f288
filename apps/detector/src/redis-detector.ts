// The detectors with their state in Redis: the observations (lib/src/detectors/rules.ts) of a batch of sessions are
// grouped per subject in memory, the subjects per bucket, the buckets per Redis master, and each master is one call
// of observe-batch-4.lua, all in one pipeline: a batch (2048 sessions by default) costs one round trip and one script
// call per master, however many subjects it touches. The script keeps each subject's window and incident atomically, so
// several replicas fed from one queue open every incident once, and returns the incidents it opened or changed, so
// nothing is read back.
//
// Key layout (prefix FLEETCAP_REDIS_PREFIX, default fc), one hash per bucket, detector and generation; the hash tag
// is the bucket, which spreads the state over a Cluster's shards (one bucket on a single server: there is nothing to
// spread, and each bucket costs the script a few lookups):
//   fc:det:{b<bucket>}:<detector index>:<generation>   "<detector>|<subject>" -> deadline + state; '#n', '#d'
// A generation is half a detector's TTL (two windows and a minute); a hash expires whole when every deadline in it
// has passed, so expiry needs no sweep (observe-batch-4.lua says how subjects move between generations).
import { readFileSync } from 'node:fs';
import {
  DETECTORS,
  type DetectorConfig,
  type DetectorName,
  type DetectorSettings,
} from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import { type DetectorSession, endpointText } from '@fleetcap/lib/detectors/detector-session';
import { observe } from '@fleetcap/lib/detectors/rules';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import { groupByMaster, pipelineByItem } from '@fleetcap/lib/redis/slot-groups';
import { Cluster } from 'ioredis';

const SCRIPT = readFileSync(new URL('./observe-batch-4.lua', import.meta.url), 'utf8');

/**
 * Buckets of detector state on a Redis Cluster: 64 spread it over any cluster of up to 64 primaries. A single server
 * has one. Changing the number moves every subject: their windows start again (all replicas must run the same value).
 */
export const CLUSTER_BUCKETS = 64;

/** FNV-1a of the subject's field, mod `buckets`. */
export function bucketOf(field: string, buckets: number): number {
  if (buckets === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < field.length; i++) {
    h ^= field.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

/** Index (from 1) of each detector in the settings the script is given, and in its keys. */
const DETECTOR_INDEX = Object.fromEntries(DETECTORS.map((d, i) => [d, i + 1])) as Record<DetectorName, number>;

/** TTL of a subject's state: a window past its last session (an incident is closed by then), and a minute. */
function ttlMs(s: DetectorSettings): number {
  return (s.windowSeconds * 2 + 60) * 1000;
}

/** Length of a generation of a detector's state: half the TTL, so that three generations cover every deadline. */
export function generationMs(s: DetectorSettings): number {
  return Math.ceil(ttlMs(s) / 2);
}

/** The hash of one bucket, detector and generation (observe-batch-4.lua builds the same names). */
export function stateKey(prefix: string, bucket: number, detector: DetectorName, generation: number): string {
  return `${prefix}:det:{b${bucket}}:${DETECTOR_INDEX[detector]}:${generation}`;
}

/** The key a call is routed by: its first bucket's hash tag (never read or written). */
export function routingKey(prefix: string, bucket: number): string {
  return `${prefix}:det:{b${bucket}}`;
}

export const STATUS_REFUSED = -1;
export const STATUS_OPENED = 1;
export const STATUS_UPDATED = 2;

export interface BatchOutcome {
  /** Opened or changed in this batch, as Redis holds them now. */
  detections: Detection[];
  /** The ids of those opened in this batch. */
  openedIds: Set<string>;
  opened: Record<DetectorName, number>;
  observations: Record<DetectorName, number>;
  memberEvictions: Record<DetectorName, number>;
  /** Observations of new subjects refused because the subject cap was reached. */
  subjectEvictions: Record<DetectorName, number>;
}

function perDetector(): Record<DetectorName, number> {
  return Object.fromEntries(DETECTORS.map((d) => [d, 0])) as Record<DetectorName, number>;
}

/** One changed incident: index of its subject in the call, then the fields in the script's order. */
type IncidentReply = [
  number,
  string,
  string,
  string,
  number,
  number,
  number,
  number,
  string,
  number,
  number,
  number,
  number,
  string[],
  string[],
  string[],
  string[],
  number,
];
/** Per subject with something to say, 5 numbers (index from 1, status, opened, evicted, refused); the incidents. */
type ScriptReply = [number[], IncidentReply[]];

interface Group {
  /** "<detector>|<subject>" */
  field: string;
  detector: DetectorName;
  subject: string;
  source: string | null;
  target: string;
  /**
   * The observations as the script's JSON list without its brackets, 4 values each: member, start µs, end µs, the
   * session's evidence. Built as text: JSON.stringify of an array per subject was a fifth of this process's work for
   * a fleet's new client-server pairs (`bench/detectors/profile.ts --workload new-pairs`), and the evidence is
   * escaped once per session, not once per detector.
   */
  observations: string;
  count: number;
  /**
   * The subject's incident as held when the call was made (what the script's tails are relative to): kept with the
   * group, as another subject's reply in the same batch may push it out of the held map first.
   */
  held?: HeldIncident;
}

interface ScriptRedis {
  observeBatch(routing: string, nowMs: string, settings: string, keyPrefix: string, subjects: string): unknown;
}

/**
 * An open incident as this replica last saw it: the script sends only what was appended to its lists since (they
 * only grow), so a scanner's incident, changed in every batch, does not cost its four lists whole each time.
 */
interface HeldIncident {
  id: string;
  version: number;
  /** targets, sources, agents, evidence: in the script's order (appended to), and sorted (as Detection lists). */
  lists: [string[], string[], string[], string[]];
  sorted: [string[], string[], string[], string[]];
}

/** Incidents held per replica, the least recently changed forgotten first (a forgotten one is sent whole again). */
export const HELD_INCIDENTS = 4096;

/** The subjects of one bucket, sorted by detector (the script takes each bucket's detectors as contiguous runs). */
interface BucketCall {
  bucket: number;
  groups: Group[];
}

/** The per-detector part of the script's arguments (JSON): the same for every call of a batch. */
function settingsJson(config: DetectorConfig, buckets: number): string {
  return JSON.stringify(
    DETECTORS.map((d) => {
      const s = config[d];
      return [
        d,
        s.windowSeconds * 1e6,
        s.threshold,
        s.memberCap,
        s.evidenceCap,
        d === 'beaconing' ? 'period' : 'count',
        s.minPeriodSeconds * 1e6,
        s.maxJitter,
        s.mergeSeconds * 1e6,
        ttlMs(s),
        // Subjects hash evenly over the buckets: each bucket holds its share of the cap.
        Math.max(1, Math.ceil(s.subjectCap / buckets)),
        generationMs(s),
        s.credentialThreshold,
        // UDP's own thresholds (rules.ts): a vertical scan's UDP ports, a horizontal scan's UDP subjects.
        d === 'vertical_scan' ? s.udpThreshold : 0,
        d === 'horizontal_scan' ? s.udpThreshold : 0,
      ];
    }),
  );
}

export class RedisDetector {
  private readonly keyPrefix: string;

  /**
   * `buckets`: 1 on a single server, CLUSTER_BUCKETS on a Cluster (every replica of a deployment picks the same).
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
    private readonly buckets: number = redis instanceof Cluster ? CLUSTER_BUCKETS : 1,
    /** Open incidents whose lists this replica holds (fewer in a test, to make them leave within a batch). */
    private readonly heldIncidents: number = HELD_INCIDENTS,
  ) {
    this.keyPrefix = `${prefix}:det:`;
    redis.defineCommand('observeBatch', { numberOfKeys: 1, lua: SCRIPT });
  }

  /** Per subject field, its open incident as this replica last saw it (Map order: least recently changed first). */
  private readonly held = new Map<string, HeldIncident>();

  /** The settings' JSON, made once per configuration (config-source.ts hands out a new object when it changes). */
  private settingsOf = new WeakMap<DetectorConfig, string>();

  async process(sessions: DetectorSession[], config: DetectorConfig): Promise<BatchOutcome> {
    const outcome: BatchOutcome = {
      detections: [],
      openedIds: new Set(),
      opened: perDetector(),
      observations: perDetector(),
      memberEvictions: perDetector(),
      subjectEvictions: perDetector(),
    };
    // The batch's observations per subject, in order.
    const groups = new Map<string, Group>();
    for (const session of sessions) {
      let evidence: string | undefined;
      for (const detector of DETECTORS) {
        const settings = config[detector];
        if (!settings.enabled) continue;
        const o = observe(detector, session, settings);
        if (!o) continue;
        outcome.observations[detector]++;
        const name = `${detector}|${o.subject.key}`;
        let group = groups.get(name);
        if (!group) {
          group = {
            field: name,
            detector,
            subject: o.subject.key,
            source: o.subject.source,
            target: o.subject.target,
            observations: '',
            count: 0,
          };
          groups.set(name, group);
        }
        evidence ??= JSON.stringify(
          `${session.communityId}\t${session.agent}\t${endpointText(session.dst, session.dport)}\t${session.src}`,
        );
        // Integers below 2^53 print as JSON does.
        const rest = `,${o.timeUs},${Math.max(session.lastUs, o.timeUs)},${evidence}`;
        group.observations += `${group.count > 0 ? ',' : ''}${JSON.stringify(o.member)}${rest}`;
        group.count++;
        for (const member of o.moreMembers ?? []) {
          group.observations += `,${JSON.stringify(member)}${rest}`;
          group.count++;
        }
      }
    }
    if (groups.size === 0) return outcome;
    const byBucket = new Map<number, BucketCall>();
    for (const group of groups.values()) {
      const b = bucketOf(group.field, this.buckets);
      const call = byBucket.get(b);
      if (call) call.groups.push(group);
      else byBucket.set(b, { bucket: b, groups: [group] });
    }
    for (const call of byBucket.values()) {
      if (call.groups.length > 1) call.groups.sort((a, b) => DETECTOR_INDEX[a.detector] - DETECTOR_INDEX[b.detector]);
    }
    let settings = this.settingsOf.get(config);
    if (settings === undefined) {
      settings = settingsJson(config, this.buckets);
      this.settingsOf.set(config, settings);
    }
    const now = String(this.now());
    // One script call per master: on a Redis Cluster the buckets' hash tags spread them over the masters, one
    // pipeline each (lib/src/redis/slot-groups.ts).
    const calls = groupByMaster(this.redis, [...byBucket.values()], (c) => routingKey(this.prefix, c.bucket));
    // A call's subjects in the order of its lines: the reply's subject indexes count from 1 in it.
    const subjectsOf = calls.map((call) => call.flatMap((c) => c.groups));
    const replies = await pipelineByItem(
      this.redis,
      calls,
      (call) => routingKey(this.prefix, call[0]!.bucket),
      (pipeline, call) => {
        const lines: string[] = [];
        for (const c of call) {
          for (const g of c.groups) {
            const h = this.held.get(g.field);
            g.held = h;
            const held = h
              ? `${h.id},${h.version},${h.lists[0].length},${h.lists[1].length},${h.lists[2].length},${h.lists[3].length}`
              : '';
            lines.push(
              `${c.bucket}\t${DETECTOR_INDEX[g.detector]}\t${g.field}\t${g.count}\t${held}\t[${g.observations}]`,
            );
          }
        }
        (pipeline as unknown as ScriptRedis).observeBatch(
          routingKey(this.prefix, call[0]!.bucket),
          now,
          settings,
          this.keyPrefix,
          lines.join('\n'),
        );
      },
    );
    for (const [c, item] of replies.entries()) {
      const [err, reply] = item[0]!;
      if (err) throw err;
      const [perSubject, incidents] = reply as ScriptReply;
      const members = subjectsOf[c]!;
      const openedIn = new Set<number>();
      for (let i = 0; i < perSubject.length; i += 5) {
        const g = members[perSubject[i]! - 1]!;
        const status = perSubject[i + 1]!;
        const opened = perSubject[i + 2]!;
        outcome.memberEvictions[g.detector] += perSubject[i + 3]!;
        outcome.opened[g.detector] += opened;
        if (opened > 0) openedIn.add(perSubject[i]!);
        if (status === STATUS_REFUSED) outcome.subjectEvictions[g.detector] += perSubject[i + 4]!;
      }
      for (const r of incidents) {
        const g = members[r[0] - 1]!;
        const d = this.detection(g, r, config[g.detector]);
        outcome.detections.push(d);
        if (openedIn.has(r[0])) outcome.openedIds.add(d.id);
      }
    }
    return outcome;
  }

  /** The incident's lists: the reply's, or what this replica held with the reply's tails appended. */
  private listsOf(g: Group, r: IncidentReply): HeldIncident['sorted'] {
    const id = r[1];
    const version = r[7];
    const replied = [r[13], r[14], r[15], r[16]] as const;
    let h = g.held;
    // `from` 1: the tails past what was held when the call was made (lists only grow, so that is a prefix of now).
    if (r[17] === 1 && h && h.id === id) {
      this.held.delete(g.field);
      if (replied.some((tail) => tail.length > 0)) {
        const lists = h.lists.map((l, i) =>
          replied[i]!.length > 0 ? [...l, ...replied[i]!] : l,
        ) as HeldIncident['lists'];
        const sorted = lists.map((l, i) =>
          replied[i]!.length > 0 ? [...l].sort() : h!.sorted[i]!,
        ) as HeldIncident['sorted'];
        h = { id, version, lists, sorted };
      } else {
        h = { ...h, version };
      }
    } else {
      this.held.delete(g.field);
      const lists = replied.map((l) => [...l]) as HeldIncident['lists'];
      h = { id, version, lists, sorted: lists.map((l) => [...l].sort()) as HeldIncident['sorted'] };
    }
    this.held.set(g.field, h);
    if (this.held.size > this.heldIncidents) this.held.delete(this.held.keys().next().value!);
    return h.sorted;
  }

  private detection(g: Group, r: IncidentReply, settings: DetectorSettings): Detection {
    const [, id, first, last, sessions, peak, window, version, period, overT, overS] = r;
    const [targets, sources, agents, evidence] = this.listsOf(g, r);
    return {
      id,
      detector: g.detector,
      subject: g.subject,
      source: g.source,
      target: g.target,
      windowSeconds: settings.windowSeconds,
      threshold: settings.threshold,
      windowCount: window,
      peakCount: peak,
      sessions,
      // Shared with the held incident and later detections of it: never changed in place.
      targets,
      distinctTargets: targets.length + overT,
      sources,
      distinctSources: sources.length + overS,
      agents,
      evidence,
      firstSeenUs: Number(first),
      lastSeenUs: Number(last),
      periodSeconds: period === '' ? null : Number(period),
      version,
    };
  }
}
