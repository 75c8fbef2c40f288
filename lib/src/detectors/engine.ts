// The detectors in memory: every detector's subjects with a sliding window of members each, the incidents they open,
// and caps on both (a flood of distinct sources or targets evicts the least recently seen subject, a subject with
// too many members its oldest member; both counted). Used by `fleetcap detections FILE...` and the benchmark; the
// online stage keeps the same state in Redis (apps/detector) with the same rules (rules.ts).
//
// Time is the sessions' own (first packet), not the clock: a capture replays as it happened, and agents' sessions
// arriving late still fall in the right window.
import { DETECTORS, type DetectorConfig, type DetectorName, type DetectorSettings } from './config.ts';
import { CappedList, type Detection } from './detection.ts';
import { type DetectorSession, endpointText } from './detector-session.ts';
import {
  countTriggers,
  isCredentialMember,
  type Observation,
  observe,
  regularPeriod,
  subjectThreshold,
  udpServiceCount,
} from './rules.ts';

interface MemberEntry {
  timeUs: number;
  communityId: string;
  agent: string;
  target: string;
  source: string;
}

interface OpenIncident {
  detection: Detection;
  targets: CappedList;
  sources: CappedList;
  agents: CappedList;
  evidence: CappedList;
}

interface SubjectState {
  /** In insertion order, which is time order but for sessions that arrive late. */
  members: Map<string, MemberEntry>;
  lastUs: number;
  incident: OpenIncident | null;
}

export interface EngineCounters {
  sessions: number;
  observations: Record<DetectorName, number>;
  /** Subjects evicted because subjectCap was reached, members because memberCap was. */
  subjectEvictions: Record<DetectorName, number>;
  memberEvictions: Record<DetectorName, number>;
  incidents: Record<DetectorName, number>;
}

function perDetector(): Record<DetectorName, number> {
  return Object.fromEntries(DETECTORS.map((d) => [d, 0])) as Record<DetectorName, number>;
}

/** The credential members of a brute-force window (counted apart from its attempts; rules.ts). */
function credentialCount(state: SubjectState, settings: DetectorSettings): number {
  if (settings.credentialThreshold === 0) return 0;
  let n = 0;
  for (const member of state.members.keys()) if (isCredentialMember(member)) n++;
  return n;
}

/** The UDP services of a vertical scan's window (counted apart against udpThreshold; rules.ts). */
function udpServices(detector: DetectorName, state: SubjectState, settings: DetectorSettings): number {
  if (detector !== 'vertical_scan' || settings.udpThreshold === 0) return 0;
  // Services are never more than members: fewer members cannot reach the threshold, and need no sort.
  if (state.members.size < settings.udpThreshold) return 0;
  return udpServiceCount(state.members.keys());
}

/** Idle subjects looked at per observation, so that expiry costs a constant share of the work. */
const EXPIRY_CHECKS = 2;

export class DetectorEngine {
  private readonly subjects = new Map<DetectorName, Map<string, SubjectState>>();
  private readonly all: Detection[] = [];
  readonly counters: EngineCounters = {
    sessions: 0,
    observations: perDetector(),
    subjectEvictions: perDetector(),
    memberEvictions: perDetector(),
    incidents: perDetector(),
  };

  constructor(private config: DetectorConfig) {
    for (const d of DETECTORS) this.subjects.set(d, new Map());
  }

  setConfig(config: DetectorConfig): void {
    this.config = config;
  }

  /** Every incident opened so far, as last updated. */
  detections(): Detection[] {
    return this.all;
  }

  /** Subjects tracked now, per detector. */
  trackedSubjects(): Record<DetectorName, number> {
    const counts = perDetector();
    for (const d of DETECTORS) counts[d] = this.subjects.get(d)!.size;
    return counts;
  }

  /** Feeds one session to every detector; returns the incidents it opened or changed. */
  process(session: DetectorSession): Detection[] {
    this.counters.sessions++;
    const changed: Detection[] = [];
    for (const detector of DETECTORS) {
      const settings = this.config[detector];
      if (!settings.enabled) continue;
      const observation = observe(detector, session, settings);
      if (!observation) continue;
      this.counters.observations[detector]++;
      let detection = this.add(detector, settings, observation, session);
      for (const member of observation.moreMembers ?? []) {
        detection = this.add(detector, settings, { ...observation, member }, session) ?? detection;
      }
      if (detection) changed.push(detection);
    }
    return changed;
  }

  private add(
    detector: DetectorName,
    settings: DetectorSettings,
    o: Observation,
    session: DetectorSession,
  ): Detection | null {
    const windowUs = settings.windowSeconds * 1e6;
    const subjects = this.subjects.get(detector)!;
    let state = subjects.get(o.subject.key);
    if (state) {
      subjects.delete(o.subject.key);
    } else {
      state = { members: new Map(), lastUs: o.timeUs, incident: null };
      this.expireIdle(subjects, o.timeUs, windowUs);
      if (subjects.size >= settings.subjectCap) {
        const oldest = subjects.keys().next().value as string;
        subjects.delete(oldest);
        this.counters.subjectEvictions[detector]++;
      }
    }
    subjects.set(o.subject.key, state);

    const now = Math.max(state.lastUs, o.timeUs);
    state.lastUs = now;
    const prior = state.members.get(o.member);
    const entry: MemberEntry = {
      timeUs: prior ? Math.max(prior.timeUs, o.timeUs) : o.timeUs,
      communityId: session.communityId,
      agent: session.agent,
      target: endpointText(session.dst, session.dport),
      source: session.src,
    };
    if (prior) state.members.delete(o.member);
    state.members.set(o.member, entry);
    const cutoff = now - windowUs;
    for (const [member, e] of state.members) {
      if (e.timeUs >= cutoff) break;
      state.members.delete(member);
    }
    while (state.members.size > settings.memberCap) {
      state.members.delete(state.members.keys().next().value as string);
      this.counters.memberEvictions[detector]++;
    }

    if (state.incident && o.timeUs - state.incident.detection.lastSeenUs > windowUs) state.incident = null;
    if (!state.incident) {
      const period = detector === 'beaconing' ? this.period(state, settings) : null;
      const credentials = credentialCount(state, settings);
      const triggered =
        detector === 'beaconing'
          ? period !== null
          : countTriggers(
              state.members.size,
              credentials,
              settings,
              udpServices(detector, state, settings),
              subjectThreshold(detector, o.subject.key, settings),
            );
      if (!triggered) return null;
      state.incident = this.open(detector, settings, o, state, period, state.members.size - credentials);
      return state.incident.detection;
    }
    const incident = state.incident;
    this.record(incident, entry);
    const d = incident.detection;
    // A credential is no further session: the attempt member of the same session counted it.
    if (!isCredentialMember(o.member)) d.sessions++;
    d.windowCount = state.members.size - credentialCount(state, settings);
    d.peakCount = Math.max(d.peakCount, d.windowCount);
    d.firstSeenUs = Math.min(d.firstSeenUs, o.timeUs);
    d.lastSeenUs = Math.max(d.lastSeenUs, session.lastUs, o.timeUs);
    if (detector === 'beaconing') d.periodSeconds = this.period(state, settings) ?? d.periodSeconds;
    d.version++;
    this.sync(incident);
    return d;
  }

  private period(state: SubjectState, settings: DetectorSettings): number | null {
    return regularPeriod(
      [...state.members.values()].map((e) => e.timeUs),
      settings,
    );
  }

  private open(
    detector: DetectorName,
    settings: DetectorSettings,
    o: Observation,
    state: SubjectState,
    period: number | null,
    count: number,
  ): OpenIncident {
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const e of state.members.values()) {
      first = Math.min(first, e.timeUs);
      last = Math.max(last, e.timeUs);
    }
    const cap = settings.evidenceCap;
    const incident: OpenIncident = {
      detection: {
        id: `${detector}|${o.subject.key}|${first}`,
        detector,
        subject: o.subject.key,
        source: o.subject.source,
        target: o.subject.target,
        windowSeconds: settings.windowSeconds,
        threshold: settings.threshold,
        windowCount: count,
        peakCount: count,
        sessions: count,
        targets: [],
        distinctTargets: 0,
        sources: [],
        distinctSources: 0,
        agents: [],
        evidence: [],
        firstSeenUs: first,
        lastSeenUs: last,
        periodSeconds: period,
        version: 1,
      },
      targets: new CappedList(cap),
      sources: new CappedList(cap),
      agents: new CappedList(cap),
      evidence: new CappedList(cap),
    };
    for (const e of state.members.values()) this.record(incident, e);
    this.sync(incident);
    this.all.push(incident.detection);
    this.counters.incidents[detector]++;
    return incident;
  }

  private record(incident: OpenIncident, e: MemberEntry): void {
    incident.targets.add(e.target);
    incident.sources.add(e.source);
    incident.agents.add(e.agent);
    incident.evidence.add(e.communityId);
  }

  private sync(incident: OpenIncident): void {
    const d = incident.detection;
    d.targets = incident.targets.values;
    d.distinctTargets = incident.targets.distinct;
    d.sources = incident.sources.values;
    d.distinctSources = incident.sources.distinct;
    d.agents = incident.agents.values;
    d.evidence = incident.evidence.values;
  }

  /** Drops subjects idle for longer than the window (not evictions: their window is empty). */
  private expireIdle(subjects: Map<string, SubjectState>, nowUs: number, windowUs: number): void {
    let checked = 0;
    for (const [key, state] of subjects) {
      if (checked++ >= EXPIRY_CHECKS || state.lastUs >= nowUs - windowUs) return;
      subjects.delete(key);
    }
  }
}
