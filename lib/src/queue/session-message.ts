// The message that tells a session-worker a session is ready for analysis (docs/ARCHITECTURE.md "Queue message").
// A session is one agent's: `agent` and `key` together name it (its Redis keys, its verdict row), and
// `communityId` names the conversation across agents and tools.
import { z } from 'zod';
import { agentIdPattern } from '../agent/paths.ts';

export const scheduleReasons = ['delay', 'full', 'closed'] as const;
export type ScheduleReason = (typeof scheduleReasons)[number];

/** The fields every message had before sessions were agent-scoped (version 1, no communityId). */
const legacyFields = {
  /** Session key text (lib/src/session/key.ts). */
  key: z.string().min(1).max(160),
  reason: z.enum(scheduleReasons),
  /** Which occurrence of the agent's session (capture time in µs of its first stored packet). */
  occurrence: z.number().int().nonnegative(),
  /** The agent whose session it is (lib/src/agent/paths.ts agentIdPattern). */
  agent: z.string().min(1).max(64),
  /** Epoch milliseconds when splitcap enqueued it. */
  enqueuedAt: z.number().int().nonnegative(),
};

export const sessionMessageSchema = z.object({
  ...legacyFields,
  agent: legacyFields.agent.regex(agentIdPattern, 'must be an agent id (letters, digits, ".", "_", "-")'),
  /** Community ID v1 of the session's 5-tuple (lib/src/session-record/community-id.ts), splitcap's seed. */
  communityId: z.string().min(1).max(64),
});
export type SessionMessage = z.infer<typeof sessionMessageSchema>;

const legacyMessageSchema = z.object({ ...legacyFields });

export class SessionMessageError extends Error {
  override name = 'SessionMessageError';
}

export function encodeSessionMessage(m: SessionMessage): Buffer {
  return Buffer.from(JSON.stringify(m));
}

/** Parses a queue message body; the error says which field is wrong, for the dead-letter reason. */
export function decodeSessionMessage(body: Buffer): SessionMessage {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SessionMessageError(`message body is not JSON: ${(err as Error).message}`);
  }
  const parsed = sessionMessageSchema.safeParse(json);
  if (!parsed.success) {
    const legacy = typeof json === 'object' && json !== null && !('communityId' in json);
    if (legacy && legacyMessageSchema.safeParse(json).success) {
      // Its session is in the layout before agent-scoped keys, which nothing reads any more (ARCHITECTURE "Upgrading").
      throw new SessionMessageError(
        'message of a splitcap from before agent-scoped sessions (no communityId): its session is in the old Redis layout, which this worker does not read',
      );
    }
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SessionMessageError(`message is not a session message: ${issues}`);
  }
  return parsed.data;
}

/**
 * Sessions per schedule message (encodeScheduleMessages): one message per batch and queue instead of one per session
 * (RabbitMQ's persistent publishes and confirms were a third of ingest's CPU), cut at this many so that a message
 * stays small (about 30 KB) and one failing session sends back no more than this many with it.
 */
export const SESSIONS_PER_SCHEDULE_MESSAGE = 256;

/**
 * The schedule message of several sessions of one agent's batch: JSON `{agent, enqueuedAt, sessions: [[key, reason,
 * occurrence, communityId], ...]}`. The worker's consumer splits it back into one message per session
 * (splitScheduleMessage), each settled on its own; the whole message is acknowledged once all of them are.
 */
export function encodeScheduleMessages(messages: readonly SessionMessage[]): Buffer {
  const first = messages[0];
  if (!first) throw new Error('a schedule message holds at least one session');
  for (const m of messages)
    if (m.agent !== first.agent || m.enqueuedAt !== first.enqueuedAt)
      throw new Error(`a schedule message holds one agent's sessions of one batch: ${m.agent} beside ${first.agent}`);
  return Buffer.from(
    JSON.stringify({
      agent: first.agent,
      enqueuedAt: first.enqueuedAt,
      sessions: messages.map((m) => [m.key, m.reason, m.occurrence, m.communityId]),
    }),
  );
}

/**
 * The sessions of a schedule message of several (encodeScheduleMessages), each as the body of a message of its own
 * (encodeSessionMessage), for the consumer to settle one by one; undefined for any other body (a message of one
 * session, from a splitcap of before, or no schedule message at all: decodeSessionMessage then says what is wrong).
 * A session entry that is not one is handed on as it is, so that its own decode dead-letters it with the reason.
 */
export function splitScheduleMessage(body: Buffer): Buffer[] | undefined {
  if (body[0] !== 0x7b || !body.includes('"sessions"')) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { sessions?: unknown }).sessions))
    return undefined;
  const { agent, enqueuedAt, sessions } = json as { agent: unknown; enqueuedAt: unknown; sessions: unknown[] };
  if (sessions.length === 0) return undefined;
  return sessions.map((s) => {
    if (!Array.isArray(s) || s.length !== 4) return Buffer.from(JSON.stringify({ session: s, agent, enqueuedAt }));
    const [key, reason, occurrence, communityId] = s as unknown[];
    return Buffer.from(JSON.stringify({ key, agent, communityId, reason, occurrence, enqueuedAt }));
  });
}
