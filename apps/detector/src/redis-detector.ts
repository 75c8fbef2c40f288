// The detectors with their state in Redis: the observations (lib/src/detectors/rules.ts) of a batch of sessions are
// grouped per subject in memory, the subjects per bucket, and each bucket the batch touches is one call of
// observe-bucket-3.lua, all in one pipeline: a batch of 512 sessions costs one round trip and at most BUCKETS
// script calls, however many subjects it touches. The script keeps each subject's window and incident atomically,
// so several replicas fed from one queue open every incident once, and returns the incidents it opened or changed,
// so nothing is read back.
//
// Key layout (prefix FLEETCAP_REDIS_PREFIX, default fc); the hash tag is the bucket, so both keys of a call share
// one Cluster slot and the BUCKETS buckets spread over the cluster's shards:
//   fc:det:{b<bucket>}:s   hash, "<detector>|<subject>" -> deadline + packed state (window members, open incident)
//   fc:det:{b<bucket>}:n   hash, the sweep cursor and per detector the subjects tracked (the subject cap)
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
import { pipelineByItem } from '@fleetcap/lib/redis/slot-groups';

const SCRIPT = readFileSync(new URL('./observe-bucket-3.lua', import.meta.url), 'utf8');

/**
 * Buckets of detector state. Fewer buckets make fewer script calls per batch; more spread the state over more
 * Cluster shards. 64 covers any cluster of up to 64 primaries. Changing it moves every subject: their windows start
 * again (all replicas must run the same value).
 */
export const BUCKETS = 64;

/** FNV-1a of the subject's field, mod BUCKETS. */
export function bucketOf(field: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < field.length; i++) {
    h ^= field.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % BUCKETS;
}

export function bucketKeys(prefix: string, bucket: number): { subjects: string; meta: string } {
  return { subjects: `${prefix}:det:{b${bucket}}:s`, meta: `${prefix}:det:{b${bucket}}:n` };
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
];
/** Per subject with something to say, 5 numbers (index from 1, status, opened, evicted, refused); the incidents. */
type ScriptReply = [number[], IncidentReply[]];

interface Group {
  detector: DetectorName;
  subject: string;
  source: string | null;
  target: string;
  /** 4 per observation: member, start µs, end µs, the session's evidence. */
  observations: Array<string | number>;
}

interface ScriptRedis {
  observeBucket(subjectsKey: string, metaKey: string, nowMs: string, settings: string, subjects: string): unknown;
}

/** TTL of a subject's state: a window past its last session (an incident is closed by then), and a minute. */
function ttlMs(s: DetectorSettings): number {
  return (s.windowSeconds * 2 + 60) * 1000;
}

/** The per-detector part of the script's arguments (JSON): the same for every call of a batch. */
function settingsJson(config: DetectorConfig): string {
  // Every detector, also a disabled one: the sweep keeps each one's subject count right in either case.
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
        Math.max(1, Math.ceil(s.subjectCap / BUCKETS)),
      ];
    }),
  );
}

/** Index (from 1) of each detector in the settings the script is given. */
const DETECTOR_INDEX = Object.fromEntries(DETECTORS.map((d, i) => [d, i + 1])) as Record<DetectorName, number>;

export class RedisDetector {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('observeBucket', { numberOfKeys: 2, lua: SCRIPT });
  }

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
    // The batch's observations per subject, in order, and the subjects per bucket.
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
            detector,
            subject: o.subject.key,
            source: o.subject.source,
            target: o.subject.target,
            observations: [],
          };
          groups.set(name, group);
        }
        evidence ??= `${session.communityId}\t${session.agent}\t${endpointText(session.dst, session.dport)}\t${session.src}`;
        const endUs = Math.max(session.lastUs, o.timeUs);
        group.observations.push(o.member, o.timeUs, endUs, evidence);
        for (const member of o.moreMembers ?? []) group.observations.push(member, o.timeUs, endUs, evidence);
      }
    }
    if (groups.size === 0) return outcome;
    const buckets = new Map<number, Array<[string, Group]>>();
    for (const entry of groups) {
      const b = bucketOf(entry[0]);
      const list = buckets.get(b);
      if (list) list.push(entry);
      else buckets.set(b, [entry]);
    }
    let settings = this.settingsOf.get(config);
    if (settings === undefined) {
      settings = settingsJson(config);
      this.settingsOf.set(config, settings);
    }
    const now = String(this.now());
    // One script call per bucket; on a Redis Cluster the buckets' hash tags spread them over the masters, one
    // pipeline each (lib/src/redis/slot-groups.ts).
    const calls = [...buckets];
    const replies = await pipelineByItem(
      this.redis,
      calls,
      ([bucket]) => bucketKeys(this.prefix, bucket).subjects,
      (pipeline, [bucket, members]) => {
        const k = bucketKeys(this.prefix, bucket);
        const subjects = JSON.stringify(
          members.map(([field, g]) => [field, DETECTOR_INDEX[g.detector], g.observations]),
        );
        (pipeline as unknown as ScriptRedis).observeBucket(k.subjects, k.meta, now, settings, subjects);
      },
    );
    for (const [c, item] of replies.entries()) {
      const [err, reply] = item[0]!;
      if (err) throw err;
      const [perSubject, incidents] = reply as ScriptReply;
      const members = calls[c]![1];
      const openedIn = new Set<number>();
      for (let i = 0; i < perSubject.length; i += 5) {
        const g = members[perSubject[i]! - 1]![1];
        const status = perSubject[i + 1]!;
        const opened = perSubject[i + 2]!;
        outcome.memberEvictions[g.detector] += perSubject[i + 3]!;
        outcome.opened[g.detector] += opened;
        if (opened > 0) openedIn.add(perSubject[i]!);
        if (status === STATUS_REFUSED) outcome.subjectEvictions[g.detector] += perSubject[i + 4]!;
      }
      for (const r of incidents) {
        const g = members[r[0] - 1]![1];
        const d = this.detection(g, r, config[g.detector]);
        outcome.detections.push(d);
        if (openedIn.has(r[0])) outcome.openedIds.add(d.id);
      }
    }
    return outcome;
  }

  private detection(g: Group, r: IncidentReply, settings: DetectorSettings): Detection {
    const [, id, first, last, sessions, peak, window, version, period, overT, overS, , , targets, sources, agents] = r;
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
      targets: [...targets].sort(),
      distinctTargets: targets.length + overT,
      sources: [...sources].sort(),
      distinctSources: sources.length + overS,
      agents: [...agents].sort(),
      evidence: [...r[16]].sort(),
      firstSeenUs: Number(first),
      lastSeenUs: Number(last),
      periodSeconds: period === '' ? null : Number(period),
      version,
    };
  }
}
