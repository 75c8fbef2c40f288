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
