// What each detector counts: which sessions it looks at, the subject a session belongs to (what one incident is
// about: a source, a target, a pair), and the member it adds to the subject's window (what is counted against the
// threshold). Both the in-memory engine (engine.ts) and the Redis path (apps/detector) use these, so the offline
// command and the online stage detect the same incidents.
//
// Members are chosen so that the same session counted twice (two agents saw the conversation; a redelivered
// message) adds nothing: destinations, ports, Community IDs.
import type { DetectorName, DetectorSettings } from './config.ts';
import { attemptOutcome, type DetectorSession, endpointText, isGroupAddress, isProbe } from './detector-session.ts';

export interface Subject {
  /** Unique per detector; holds no `{`, `}` (it goes inside a Redis Cluster hash tag). */
  key: string;
  /** The source the incident is about; null when it is about a target (SYN flood: sources may be spoofed). */
  source: string | null;
  /** What was attacked, for people: `*:80/tcp`, `10.0.0.5`, `10.0.0.5:22/tcp`. */
  target: string;
}

export interface Observation {
  subject: Subject;
  member: string;
  /** Further members the same session adds (brute force: one per authentication attempt after the first). */
  moreMembers?: string[];
  /** The member's time in µs (session start). */
  timeUs: number;
}

function horizontalScan(s: DetectorSession): Observation | null {
  if (!isProbe(attemptOutcome(s)) || isGroupAddress(s.dst)) return null;
  return {
    subject: { key: `${s.src}|${s.proto}/${s.dport}`, source: s.src, target: `*:${s.dport}/${s.proto}` },
    member: s.dst,
    timeUs: s.firstUs,
  };
}

function verticalScan(s: DetectorSession): Observation | null {
  if (!isProbe(attemptOutcome(s)) || isGroupAddress(s.dst)) return null;
  // A datagram from a service's port to a client's is a reply whose request the capture missed (Zeek turns such a
  // connection around): a DNS server's answers to one resolver's ports are no probes of that resolver.
  if (s.proto === 'udp' && isUdpServiceReply(s)) return null;
  return {
    subject: { key: `${s.src}|${s.dst}`, source: s.src, target: s.dst },
    member: `${s.proto}/${s.dport}`,
    timeUs: s.firstUs,
  };
}

function synFlood(s: DetectorSession): Observation | null {
  if (s.proto !== 'tcp') return null;
  const outcome = attemptOutcome(s);
  if (outcome !== 'half-open' && outcome !== 'unanswered') return null;
  const target = `${endpointText(s.dst, s.dport)}/tcp`;
  return { subject: { key: `${s.dst}|${s.dport}`, source: null, target }, member: s.communityId, timeUs: s.firstUs };
}

function bruteForce(s: DetectorSession, settings: DetectorSettings): Observation | null {
  if (s.proto !== 'tcp') return null;
  const labelled = s.label !== undefined && settings.labels.includes(s.label);
  const attempts = s.authAttempts ?? 0;
  const credentials = settings.credentialThreshold > 0 ? (s.credentials ?? []) : [];
  // An authentication service is recognised by its content (any port), by its port, or by the model's label.
  if (!labelled && attempts === 0 && credentials.length === 0 && !settings.ports.includes(s.dport)) return null;
  // An attempt is an established connection in which the client spoke, and that ended soon.
  if (attemptOutcome(s) !== 'data' || s.srcPayloadBytes === 0) return null;
  if (s.lastUs - s.firstUs > settings.maxSessionSeconds * 1e6) return null;
  const target = `${endpointText(s.dst, s.dport)}/tcp`;
  // Several passwords tried in one connection are several attempts: one member each (`<Community ID>#<n>`, the
  // same for every agent that saw the session).
  const moreMembers: string[] = [];
  for (let n = 2; n <= attempts; n++) moreMembers.push(`${s.communityId}#${n}`);
  // Each distinct credential is a member of its own (`k:<fingerprint>`, the same in every session that sent it),
  // counted apart from the attempts against credentialThreshold (isCredentialMember).
  for (const c of credentials) moreMembers.push(`${CREDENTIAL_MEMBER}${c}`);
  // A session recognised by its credentials alone (a login that worked, on no auth port) is no attempt.
  const attempted = labelled || attempts > 0 || settings.ports.includes(s.dport);
  return {
    subject: { key: `${s.src}|${s.dst}|${s.dport}`, source: s.src, target },
    member: attempted ? s.communityId : moreMembers.shift()!,
    ...(moreMembers.length > 0 ? { moreMembers } : {}),
    timeUs: s.firstUs,
  };
}

function beaconing(s: DetectorSession): Observation | null {
  // A beacon talks (C&C asks for its orders); probes and half-open SYNs, often from spoofed sources, would only fill
  // the state with subjects.
  if (isGroupAddress(s.dst) || attemptOutcome(s) !== 'data') return null;
  const target = `${endpointText(s.dst, s.dport)}/${s.proto}`;
  return {
    subject: { key: `${s.src}|${s.dst}|${s.proto}/${s.dport}`, source: s.src, target },
    // One start per conversation and second: the views of two agents, with clocks apart by less, are one start.
    member: `${s.communityId}@${Math.floor(s.firstUs / 1e6)}`,
    timeUs: s.firstUs,
  };
}

/** The prefix of a credential member (brute force); attempt members are Community IDs, which never start so. */
export const CREDENTIAL_MEMBER = 'k:';

export function isCredentialMember(member: string): boolean {
  return member.startsWith(CREDENTIAL_MEMBER);
}

/** Source port of a well-known service, destination port not: the responder's side of a UDP exchange. */
function isUdpServiceReply(s: DetectorSession): boolean {
  return s.sport <= 1023 && s.dport >= 1024;
}

/** The prefix of a vertical scan's UDP port members (`udp/<port>`), counted apart against udpThreshold. */
export const UDP_MEMBER = 'udp/';

export function isUdpMember(member: string): boolean {
  return member.startsWith(UDP_MEMBER);
}

/**
 * The UDP services among a vertical scan's UDP port members: a run of consecutive ports counts once, being one
 * application's port range (Steam's servers 27017-27019, a QUIC server's 4433-4434, RTP/RTCP pairs), which its client
 * tries in turn when none answers; a scanner's probes of "the usual services" are spread over the port space. A sweep
 * of a range still meets the threshold of all ports. The Lua script (apps/detector) counts the same.
 */
export function udpServiceCount(members: Iterable<string>): number {
  const ports: number[] = [];
  for (const m of members) if (isUdpMember(m)) ports.push(Number(m.slice(UDP_MEMBER.length)));
  ports.sort((a, b) => a - b);
  let runs = 0;
  for (let i = 0; i < ports.length; i++) if (i === 0 || ports[i]! !== ports[i - 1]! + 1) runs++;
  return runs;
}

/**
 * The count of members that opens an incident for a subject. A horizontal scan over UDP (its subject key ends in
 * `|udp/<port>`) needs udpThreshold destinations (0: the threshold): unanswered datagrams to a handful of hosts on
 * one port are what UDP clients send by design (a P2P client probing its supernodes, a QUIC or DNS client trying
 * several servers, a game client its servers), and a closed UDP port's ICMP reply is in no session, so a UDP probe
 * and a benign try look alike and only the count parts them (Zeek's address scan: 25 hosts in 5 min). TCP's
 * unanswered or refused connections stay at the threshold. The Lua script (apps/detector) reads the key the same way.
 */
export function subjectThreshold(detector: DetectorName, subjectKey: string, settings: DetectorSettings): number {
  if (detector === 'horizontal_scan' && settings.udpThreshold > 0 && isUdpSubject(subjectKey)) {
    return settings.udpThreshold;
  }
  return settings.threshold;
}

/** A horizontal scan's subject over UDP: `<source>|udp/<port>` (horizontalScan's key). */
export function isUdpSubject(subjectKey: string): boolean {
  return /\|udp\/\d+$/.test(subjectKey);
}

/**
 * Whether a count-mode window opens an incident: its attempt members reach `threshold` (the subject's:
 * subjectThreshold), its credential members reach credentialThreshold (brute force; 0: off), or its UDP services
 * reach udpThreshold (vertical scan: udpServiceCount; 0: off). `members` counts every kind, `credentials` and
 * `udpPorts` their own (UDP ports are also ports: they count towards the threshold too).
 */
export function countTriggers(
  members: number,
  credentials: number,
  settings: DetectorSettings,
  udpPorts = 0,
  threshold = settings.threshold,
): boolean {
  return (
    members - credentials >= threshold ||
    (settings.credentialThreshold > 0 && credentials >= settings.credentialThreshold) ||
    (settings.udpThreshold > 0 && udpPorts >= settings.udpThreshold)
  );
}

export function observe(detector: DetectorName, s: DetectorSession, settings: DetectorSettings): Observation | null {
  switch (detector) {
    case 'horizontal_scan':
      return horizontalScan(s);
    case 'vertical_scan':
      return verticalScan(s);
    case 'syn_flood':
      return synFlood(s);
    case 'brute_force':
      return bruteForce(s, settings);
    case 'beaconing':
      return beaconing(s);
  }
}

/**
 * Beaconing: at least `threshold` starts (those closer than mergeSeconds merged), whose intervals sit within
 * maxJitter of their median, which is at least minPeriodSeconds; a few intervals may be off (a missed or an extra
 * connection). Returns the period in seconds, or null. The Lua script (apps/detector) computes the same.
 */
export function regularPeriod(startsUs: number[], settings: DetectorSettings): number | null {
  const sorted = [...startsUs].sort((a, b) => a - b);
  const starts: number[] = [];
  for (const t of sorted) {
    if (starts.length === 0 || t - starts[starts.length - 1]! >= settings.mergeSeconds * 1e6) starts.push(t);
  }
  if (starts.length < settings.threshold) return null;
  // At least 80% of the intervals lie within maxJitter of the median, so their mean is at least 0.8 (1 - maxJitter)
  // of the median, which must reach minPeriodSeconds: a lower mean holds no period (1e-9: rounding stays safe).
  const meanUs = (starts[starts.length - 1]! - starts[0]!) / (starts.length - 1);
  if (meanUs < 0.8 * (1 - settings.maxJitter) * settings.minPeriodSeconds * 1e6 * (1 - 1e-9)) return null;
  const intervals: number[] = [];
  for (let i = 1; i < starts.length; i++) intervals.push((starts[i]! - starts[i - 1]!) / 1e6);
  const byLength = [...intervals].sort((a, b) => a - b);
  const median = byLength[Math.floor((byLength.length - 1) / 2)]!;
  if (median < settings.minPeriodSeconds) return null;
  const regular = intervals.filter((d) => Math.abs(d - median) <= settings.maxJitter * median).length;
  return regular >= Math.ceil(0.8 * intervals.length) ? median : null;
}
