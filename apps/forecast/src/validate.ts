// Validation of POST /v1/forecast bodies. The envelope and each session's scalar fields go through zod; the
// packets, up to hundreds of thousands of small objects per request, through a hand-written loop with the same
// precision (zod costs ~30 ms per 256 full sessions, a tenth of the time budget). Every error names the session
// index and the field: "sessions[3].packets[5].tcpFlags: must be an integer 0-255, got 300".
import type { FeaturePacket, FeatureSession } from '@fleetcap/lib/features/features';
import { z } from 'zod';

export interface RequestLimits {
  /** Sessions per request. */
  maxSessions: number;
  /** Packets per session (the features use the first SESSION_MAX_PACKETS; more is accepted and ignored). */
  maxPacketsPerSession: number;
}

export const DEFAULT_LIMITS: RequestLimits = { maxSessions: 1024, maxPacketsPerSession: 1024 };

export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    /** Path of the offending field, e.g. "sessions[3].packets[5].tcpFlags". */
    readonly path: string,
    message: string,
    /** Index of the offending session, when the error is inside one. */
    readonly session?: number,
  ) {
    super(`${path}: ${message}`);
  }
}

const MAX_LENGTH = 0x7fffffff;

function sessionSchema(limits: RequestLimits) {
  const port = z
    .number({ required_error: 'required: a port number 0-65535', invalid_type_error: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be 0-65535')
    .max(65535, 'must be 0-65535');
  return z.object({
    proto: z.enum(['tcp', 'udp'], {
      errorMap: (_issue, ctx) => ({ message: `must be "tcp" or "udp", got ${describe(ctx.data)}` }),
    }),
    clientPort: port,
    serverPort: port,
    packets: z
      .array(z.unknown(), {
        required_error: 'required: an array of packets',
        invalid_type_error: 'must be an array of packets',
      })
      .min(1, 'must hold at least one packet')
      .max(limits.maxPacketsPerSession, `must hold at most ${limits.maxPacketsPerSession} packets`),
  });
}

function envelopeSchema(limits: RequestLimits) {
  return z.object(
    {
      sessions: z
        .array(z.unknown(), {
          required_error: 'required: an array of sessions',
          invalid_type_error: 'must be an array of sessions',
        })
        .min(1, 'must hold at least one session')
        .max(limits.maxSessions, `must hold at most ${limits.maxSessions} sessions per request`),
    },
    { invalid_type_error: 'the body must be a JSON object {"sessions": [...]}' },
  );
}

function pathOf(prefix: string, path: (string | number)[]): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${p}`;
  return out || '(body)';
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

function checkPacket(raw: unknown, tcp: boolean, at: string, session: number): FeaturePacket {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RequestError(
      at,
      `must be a packet object {direction, tsUs, wireLength, payloadLength, tcpFlags[, payload]}, got ${describe(raw)}`,
      session,
    );
  }
  const p = raw as Record<string, unknown>;
  const { direction, tsUs, wireLength, payloadLength, tcpFlags } = p;
  if (direction !== 0 && direction !== 1) {
    throw new RequestError(
      `${at}.direction`,
      `must be 0 (from the client) or 1 (from the server), got ${describe(direction)}`,
      session,
    );
  }
  if (!isUint(tsUs, Number.MAX_SAFE_INTEGER)) {
    throw new RequestError(
      `${at}.tsUs`,
      `must be a non-negative integer (capture time in µs), got ${describe(tsUs)}`,
      session,
    );
  }
  if (!isUint(wireLength, MAX_LENGTH)) {
    throw new RequestError(`${at}.wireLength`, `must be a non-negative integer, got ${describe(wireLength)}`, session);
  }
  if (!isUint(payloadLength, MAX_LENGTH)) {
    throw new RequestError(
      `${at}.payloadLength`,
      `must be a non-negative integer, got ${describe(payloadLength)}`,
      session,
    );
  }
  if (payloadLength > wireLength) {
    throw new RequestError(
      `${at}.payloadLength`,
      `${payloadLength} is more than the wire length ${wireLength}`,
      session,
    );
  }
  if (!isUint(tcpFlags, 255)) {
    throw new RequestError(`${at}.tcpFlags`, `must be an integer 0-255, got ${describe(tcpFlags)}`, session);
  }
  if (!tcp && tcpFlags !== 0) {
    throw new RequestError(`${at}.tcpFlags`, `must be 0 in a UDP session, got ${tcpFlags}`, session);
  }
  const packet: FeaturePacket = { direction, tsUs, wireLength, payloadLength, tcpFlags };
  if (p.payload !== undefined) packet.payload = checkPayload(p.payload, payloadLength, `${at}.payload`, session);
  return packet;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The packet's captured payload (what the content features read, feature version 3): base64 of at most payloadLength
 * bytes; the session-worker sends the first CONTENT_BYTES_PER_PACKET of each stored packet.
 */
function checkPayload(raw: unknown, payloadLength: number, at: string, session: number): Uint8Array {
  if (typeof raw !== 'string' || raw.length % 4 !== 0 || !BASE64.test(raw)) {
    throw new RequestError(
      at,
      `must be the payload's bytes in base64 (RFC 4648, padded), got ${describe(raw)}`,
      session,
    );
  }
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length > payloadLength) {
    throw new RequestError(at, `holds ${bytes.length} bytes, more than the payload length ${payloadLength}`, session);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export class RequestValidator {
  private readonly envelope: ReturnType<typeof envelopeSchema>;
  private readonly session: ReturnType<typeof sessionSchema>;

  constructor(readonly limits: RequestLimits = DEFAULT_LIMITS) {
    this.envelope = envelopeSchema(limits);
    this.session = sessionSchema(limits);
  }

  /** The sessions of a parsed JSON body, or a RequestError naming the first thing wrong. */
  sessions(body: unknown): FeatureSession[] {
    const env = this.envelope.safeParse(body);
    if (!env.success) {
      const issue = env.error.issues[0]!;
      throw new RequestError(pathOf('', issue.path), issue.message);
    }
    const raw = env.data.sessions;
    const out: FeatureSession[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const s = this.session.safeParse(raw[i]);
      if (!s.success) {
        const issue = s.error.issues[0]!;
        const message =
          issue.code === 'invalid_type' && issue.path.length === 0
            ? `must be a session object {proto, clientPort, serverPort, packets}, got ${describe(raw[i])}`
            : issue.message;
        throw new RequestError(pathOf(`sessions[${i}]`, issue.path), message, i);
      }
      const tcp = s.data.proto === 'tcp';
      const packetsIn = s.data.packets;
      const packets: FeaturePacket[] = new Array(packetsIn.length);
      for (let k = 0; k < packetsIn.length; k++)
        packets[k] = checkPacket(packetsIn[k], tcp, `sessions[${i}].packets[${k}]`, i);
      out[i] = { proto: s.data.proto, clientPort: s.data.clientPort, serverPort: s.data.serverPort, packets };
    }
    return out;
  }
}
