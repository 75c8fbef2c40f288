// The message the session-worker publishes for every verdict row it committed, and the detector stage consumes:
// JSON of the detector's session fields (detector-session.ts) plus the verdict. It goes to the fanout exchange
// `<prefix>.verdicts`; each consumer binds its own queue (the detector stage: `<prefix>.detector`, shared by its
// replicas), so adding a consumer changes nothing for the worker.
import { z } from 'zod';
import { agentIdPattern } from '../agent/paths.ts';
import { appSessionOfStored } from '../app-metadata/from-stored-session.ts';
import { FROM_CLIENT } from '../session-store/layout.ts';
import type { LoadedSession } from '../session-store/reader.ts';
import { authAttempts, credentialFingerprints, MAX_CREDENTIALS_PER_SESSION } from './auth-attempts.ts';
import type { DetectorSession } from './detector-session.ts';

export const VERDICT_EVENT_VERSION = 1;

export function verdictExchangeName(queuePrefix: string): string {
  return `${queuePrefix}.verdicts`;
}

export function detectorQueueName(queuePrefix: string): string {
  return `${queuePrefix}.detector.q`;
}

/** Where the detector queue dead-letters (a quorum queue: lib/src/queue/topology.ts says why the names end in .q). */
export function detectorDeadQueueName(queuePrefix: string): string {
  return `${queuePrefix}.detector.dead.q`;
}

/** The detector's view of a session the worker loaded from Redis, with its verdict. */
export function detectorSessionOfLoaded(s: LoadedSession, label: string, score: number): DetectorSession {
  let srcFlags = 0;
  let dstFlags = 0;
  let srcPayloadBytes = 0;
  let dstPayloadBytes = 0;
  let keptFromSrc = 0;
  for (const p of s.packets) {
    if (p.direction === FROM_CLIENT) {
      srcFlags |= p.tcpFlags;
      srcPayloadBytes += p.payloadLength;
      keptFromSrc++;
    } else {
      dstFlags |= p.tcpFlags;
      dstPayloadBytes += p.payloadLength;
    }
  }
  // Only the kept packets have a direction: a responder silent in them is taken as silent in the rest.
  const keptFromDst = s.packets.length - keptFromSrc;
  const packetsFromSrc = keptFromDst === 0 ? s.packetsSeen : s.packetsSeen - keptFromDst;
  const appPackets = appSessionOfStored(s).packets;
  const credentials = s.proto === 'tcp' ? credentialFingerprints(appPackets) : [];
  return {
    agent: s.agent,
    communityId: s.communityId,
    proto: s.proto,
    src: s.client.address,
    sport: s.client.port,
    dst: s.server.address,
    dport: s.server.port,
    firstUs: s.firstUs,
    lastUs: s.lastUs,
    packets: s.packetsSeen,
    bytes: s.bytes,
    packetsFromSrc,
    srcFlags,
    dstFlags,
    srcPayloadBytes,
    dstPayloadBytes,
    authAttempts: authAttempts(
      s.proto,
      s.client.port,
      s.server.port,
      appPackets,
      Math.max(s.packetsSeen, s.packets.length),
    ),
    ...(credentials.length > 0 ? { credentials } : {}),
    label,
    score,
  };
}

export function encodeVerdictEvent(s: DetectorSession): Buffer {
  return Buffer.from(JSON.stringify({ v: VERDICT_EVENT_VERSION, ...s }));
}

const port = z.number().int().min(0).max(65535);
const CREDENTIAL = /^[0-9a-f]{4}$/;
const count = z.number().int().min(0);
const timeUs = z.number().int().min(0);
/** The event's schema: what decodeVerdictEvent accepts, and the source of its refusals' messages. */
export const verdictEventSchema = z.object({
  v: z.literal(VERDICT_EVENT_VERSION, {
    errorMap: () => ({ message: `must be ${VERDICT_EVENT_VERSION}: a worker of another version published it` }),
  }),
  agent: z.string().regex(agentIdPattern, 'must be an agent id'),
  communityId: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^{}|\s]+$/, 'must be a Community ID'),
  proto: z.enum(['tcp', 'udp']),
  src: z
    .string()
    .min(1)
    .max(45)
    .regex(/^[0-9A-Fa-f.:]+$/, 'must be an IP address'),
  sport: port,
  dst: z
    .string()
    .min(1)
    .max(45)
    .regex(/^[0-9A-Fa-f.:]+$/, 'must be an IP address'),
  dport: port,
  firstUs: timeUs,
  lastUs: timeUs,
  packets: count,
  bytes: count,
  packetsFromSrc: count,
  srcFlags: z.number().int().min(0).max(255),
  dstFlags: z.number().int().min(0).max(255),
  srcPayloadBytes: count,
  dstPayloadBytes: count,
  connState: z.string().max(8).optional(),
  authAttempts: z.number().int().min(0).max(1000).optional(),
  credentials: z
    .array(z.string().regex(CREDENTIAL, 'must be a credential fingerprint (4 hex digits)'))
    .max(MAX_CREDENTIALS_PER_SESSION)
    .optional(),
  label: z.string().max(64).optional(),
  score: z.number().optional(),
});

const COMMUNITY_ID = /^[^{}|\s]+$/;
const ADDRESS = /^[0-9A-Fa-f.:]+$/;
const MAX = Number.MAX_SAFE_INTEGER;

type FieldCheck = (x: unknown) => boolean;
const whole =
  (max: number): FieldCheck =>
  (x) =>
    typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
const text =
  (max: number, pattern?: RegExp): FieldCheck =>
  (x) =>
    typeof x === 'string' && x.length <= max && (pattern === undefined || pattern.test(x));

const isAgent: FieldCheck = (x) => typeof x === 'string' && agentIdPattern.test(x);
const isCommunityId = text(64, COMMUNITY_ID);
const isAddress = text(45, ADDRESS);
const isPort = whole(65535);
const isFlags = whole(255);
const isCount = whole(MAX);
const isConnState = text(8);
const isAttempts = whole(1000);
const isLabel = text(64);
const isCredentials: FieldCheck = (x) =>
  Array.isArray(x) &&
  x.length <= MAX_CREDENTIALS_PER_SESSION &&
  x.every((c) => typeof c === 'string' && CREDENTIAL.test(c));

/**
 * The event's session when every field passes the schema's checks, by hand (the schema costs about three times
 * JSON.parse per message, and the detector decodes every session of the fleet), else null: what this refuses goes
 * through the schema, which gives the precise error (or accepts, should the two ever differ). The schema's fields
 * only (zod drops unknown keys; so does this), read by name and built as one literal: a loop over the field names
 * with keyed reads and writes cost this process a fifth of a new client-server pair's time.
 */
function sessionOf(j: Record<string, unknown>): DetectorSession | null {
  if (j.v !== VERDICT_EVENT_VERSION) return null;
  const { agent, communityId, proto, src, sport, dst, dport, firstUs, lastUs, packets, bytes, packetsFromSrc } = j;
  const { srcFlags, dstFlags, srcPayloadBytes, dstPayloadBytes, connState, authAttempts, credentials, label, score } =
    j;
  if (
    !isAgent(agent) ||
    !isCommunityId(communityId) ||
    (proto !== 'tcp' && proto !== 'udp') ||
    !isAddress(src) ||
    !isPort(sport) ||
    !isAddress(dst) ||
    !isPort(dport) ||
    !isCount(firstUs) ||
    !isCount(lastUs) ||
    !isCount(packets) ||
    !isCount(bytes) ||
    !isCount(packetsFromSrc) ||
    !isFlags(srcFlags) ||
    !isFlags(dstFlags) ||
    !isCount(srcPayloadBytes) ||
    !isCount(dstPayloadBytes) ||
    (connState !== undefined && !isConnState(connState)) ||
    (authAttempts !== undefined && !isAttempts(authAttempts)) ||
    (credentials !== undefined && !isCredentials(credentials)) ||
    (label !== undefined && !isLabel(label)) ||
    (score !== undefined && !(typeof score === 'number' && Number.isFinite(score)))
  )
    return null;
  const s = {
    agent,
    communityId,
    proto,
    src,
    sport,
    dst,
    dport,
    firstUs,
    lastUs,
    packets,
    bytes,
    packetsFromSrc,
    srcFlags,
    dstFlags,
    srcPayloadBytes,
    dstPayloadBytes,
  } as DetectorSession;
  if (connState !== undefined) s.connState = connState as string;
  if (authAttempts !== undefined) s.authAttempts = authAttempts as number;
  if (credentials !== undefined) s.credentials = credentials as string[];
  if (label !== undefined) s.label = label as string;
  if (score !== undefined) s.score = score as number;
  return s;
}

export class VerdictEventError extends Error {
  override name = 'VerdictEventError';
}

/** Decodes one message; throws VerdictEventError naming the field, its value and what is allowed. */
export function decodeVerdictEvent(body: Buffer): DetectorSession {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new VerdictEventError(`verdict event is not JSON: ${JSON.stringify(body.subarray(0, 80).toString('utf8'))}`);
  }
  const checked = typeof json === 'object' && json !== null ? sessionOf(json as Record<string, unknown>) : null;
  const session = checked ?? parsedBySchema(json);
  if (session.lastUs < session.firstUs) {
    throw new VerdictEventError(
      `verdict event lastUs = ${session.lastUs} is before firstUs = ${session.firstUs}: the session's times are swapped`,
    );
  }
  return session;
}

function parsedBySchema(json: unknown): DetectorSession {
  const parsed = verdictEventSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    const value = field ? (json as Record<string, unknown>)[field] : json;
    throw new VerdictEventError(`verdict event field ${field} = ${JSON.stringify(value)}: ${issue.message}`);
  }
  const { v: _version, ...session } = parsed.data;
  return session as DetectorSession;
}
