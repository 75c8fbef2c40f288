// The detectors with their state in Redis: the observations (lib/src/detectors/rules.ts) of a batch of sessions go
// through observe-subject-7.lua, one call per subject, in one pipeline; it keeps each subject's window and incident
// atomically, so
// several replicas fed from one queue open every incident once. The incidents a batch opened or changed are then
// read back (their lists once per batch, not once per session) as Detection records for the detection table.
//
// Key layout (prefix FLEETCAP_REDIS_PREFIX, default fc); the hash tag is the detector and the subject, i.e. per
// source (scans, brute force, beaconing) or per target (SYN flood), so a subject's keys share one Cluster slot:
//   fc:det:{<detector>|<subject>}:m   sorted set, the window's members (destinations, ports, sessions, starts)
//   fc:det:{<detector>|<subject>}:d   hash, member -> the session that added it (evidence when an incident opens)
//   fc:det:{<detector>|<subject>}:i   hash, the open incident
//   fc:det:{<detector>|<subject>}:it | :is | :ia | :ie   sets: its targets, sources, agents, evidence (capped)
//   fc:det:{cap|<detector>}:<bucket>  new subjects counted per window-long bucket of wall time (the subject cap)
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
import type { Redis } from 'ioredis';

const SCRIPT = readFileSync(new URL('./observe-subject-7.lua', import.meta.url), 'utf8');

export interface SubjectKeys {
  members: string;
  sessions: string;
  incident: string;
  targets: string;
  sources: string;
  agents: string;
  evidence: string;
}

export function subjectKeys(prefix: string, detector: DetectorName, subject: string): SubjectKeys {
  const base = `${prefix}:det:{${detector}|${subject}}`;
  return {
    members: `${base}:m`,
    sessions: `${base}:d`,
    incident: `${base}:i`,
    targets: `${base}:it`,
    sources: `${base}:is`,
    agents: `${base}:ia`,
    evidence: `${base}:ie`,
  };
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
  /** New subjects refused because the subject cap of the window was reached. */
  subjectEvictions: Record<DetectorName, number>;
}

function perDetector(): Record<DetectorName, number> {
  return Object.fromEntries(DETECTORS.map((d) => [d, 0])) as Record<DetectorName, number>;
}

type ScriptReply = [number, string, number, number, number, number, number];

interface Group {
  detector: DetectorName;
  subject: string;
  source: string | null;
  target: string;
  /** 4 per observation: member, start µs, end µs, the session's evidence. */
  argv: string[];
  /** Incidents the script opened for it in this batch. */
  opened?: number;
}

interface ScriptRedis {
  observeSubject(...args: string[]): Promise<ScriptReply>;
}

/** TTL of a subject's keys: a window past its last session (an incident is closed by then). */
function ttlSeconds(s: DetectorSettings): number {
  return s.windowSeconds * 2 + 60;
}

export class RedisDetector {
  /** Per detector, the wall-time bucket in which its subject cap was reached: new subjects are refused in it. */
  private readonly refusing = new Map<DetectorName, number>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('observeSubject', { numberOfKeys: 7, lua: SCRIPT });
  }

  private bucket(s: DetectorSettings): number {
    return Math.floor(this.now() / 1000 / s.windowSeconds);
  }

  async process(sessions: DetectorSession[], config: DetectorConfig): Promise<BatchOutcome> {
    const outcome: BatchOutcome = {
      detections: [],
      openedIds: new Set(),
      opened: perDetector(),
      observations: perDetector(),
      memberEvictions: perDetector(),
      subjectEvictions: perDetector(),
    };
    // One script call per subject and batch, its observations in order: a flood's or a scan's sessions of a batch
    // cost one round of the script, not one each.
    const groups = new Map<string, Group>();
    for (const session of sessions) {
      for (const detector of DETECTORS) {
        const settings = config[detector];
        if (!settings.enabled) continue;
        const o = observe(detector, session, settings);
        if (!o) continue;
        outcome.observations[detector]++;
        const name = `${detector}|${o.subject.key}`;
        let group = groups.get(name);
        if (!group) {
          group = { detector, subject: o.subject.key, source: o.subject.source, target: o.subject.target, argv: [] };
          groups.set(name, group);
        }
        group.argv.push(
          o.member,
          String(o.timeUs),
          String(Math.max(session.lastUs, o.timeUs)),
          `${session.communityId}\t${session.agent}\t${endpointText(session.dst, session.dport)}\t${session.src}`,
        );
      }
    }
    if (groups.size === 0) return outcome;
    const pipeline = this.redis.pipeline() as unknown as ScriptRedis & ReturnType<Redis['pipeline']>;
    const asked = [...groups.values()];
    for (const g of asked) {
      const settings = config[g.detector];
      const k = subjectKeys(this.prefix, g.detector, g.subject);
      const refusing = this.refusing.get(g.detector) === this.bucket(settings);
      pipeline.observeSubject(
        k.members,
        k.sessions,
        k.incident,
        k.targets,
        k.sources,
        k.agents,
        k.evidence,
        `${g.detector}|${g.subject}|`,
        String(settings.windowSeconds * 1e6),
        String(settings.threshold),
        String(settings.memberCap),
        String(settings.evidenceCap),
        g.detector === 'beaconing' ? 'period' : 'count',
        String(settings.minPeriodSeconds * 1e6),
        String(settings.maxJitter),
        String(settings.mergeSeconds * 1e6),
        String(ttlSeconds(settings)),
        refusing ? '0' : '1',
        String(g.argv.length / 4),
        ...g.argv,
      );
    }
    const replies = (await pipeline.exec()) ?? [];
    const changed: Group[] = [];
    const created = perDetector();
    for (const [i, [err, reply]] of replies.entries()) {
      if (err) throw err;
      const [status, , , evicted, isNew, , opened] = reply as ScriptReply;
      const g = asked[i]!;
      outcome.memberEvictions[g.detector] += evicted;
      if (status === STATUS_REFUSED) outcome.subjectEvictions[g.detector] += g.argv.length / 4;
      if (isNew === 1) created[g.detector]++;
      outcome.opened[g.detector] += opened;
      g.opened = opened;
      if (status === STATUS_OPENED || status === STATUS_UPDATED) changed.push(g);
    }
    await this.countNewSubjects(created, config);
    outcome.detections = await this.read(changed, config);
    changed.forEach((g) => {
      const d = outcome.detections.find((x) => x.detector === g.detector && x.subject === g.subject);
      if (d && g.opened) outcome.openedIds.add(d.id);
    });
    return outcome;
  }

  /** Counts new subjects per detector in the current bucket; past the cap, new subjects are refused until it ends. */
  private async countNewSubjects(created: Record<DetectorName, number>, config: DetectorConfig): Promise<void> {
    const counting = DETECTORS.filter((d) => created[d] > 0);
    if (counting.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const d of counting) {
      const key = `${this.prefix}:det:{cap|${d}}:${this.bucket(config[d])}`;
      pipeline.incrby(key, created[d]);
      pipeline.expire(key, config[d].windowSeconds * 2);
    }
    const replies = (await pipeline.exec()) ?? [];
    counting.forEach((d, i) => {
      const [err, total] = replies[i * 2]!;
      if (err) throw err;
      if ((total as number) >= config[d].subjectCap) this.refusing.set(d, this.bucket(config[d]));
    });
  }

  private async read(subjects: Group[], config: DetectorConfig): Promise<Detection[]> {
    if (subjects.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const s of subjects) {
      const k = subjectKeys(this.prefix, s.detector, s.subject);
      pipeline.hgetall(k.incident);
      pipeline.smembers(k.targets);
      pipeline.smembers(k.sources);
      pipeline.smembers(k.agents);
      pipeline.smembers(k.evidence);
    }
    const replies = (await pipeline.exec()) ?? [];
    const detections: Detection[] = [];
    subjects.forEach((s, i) => {
      const part = replies.slice(i * 5, i * 5 + 5).map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      const h = part[0] as Record<string, string>;
      if (!h.id) return; // closed meanwhile by a later session of another replica: that one reports the new incident
      const [targets, sources, agents, evidence] = part.slice(1) as string[][];
      const num = (field: string) => Number(h[field] ?? 0);
      const settings = config[s.detector];
      detections.push({
        id: h.id,
        detector: s.detector,
        subject: s.subject,
        source: s.source,
        target: s.target,
        windowSeconds: settings.windowSeconds,
        threshold: settings.threshold,
        windowCount: num('window'),
        peakCount: num('peak'),
        sessions: num('sessions'),
        targets: targets!.sort(),
        distinctTargets: targets!.length + num('over_targets'),
        sources: sources!.sort(),
        distinctSources: sources!.length + num('over_sources'),
        agents: agents!.sort(),
        evidence: evidence!.sort(),
        firstSeenUs: num('first'),
        lastSeenUs: num('last'),
        periodSeconds: h.period === undefined ? null : Number(h.period),
        version: num('version'),
      });
    });
    return detections;
  }
}
