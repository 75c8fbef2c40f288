// The message that tells a session-worker a session is ready for analysis (DESIGN.md "Queue message").
import { z } from 'zod';

export const scheduleReasons = ['delay', 'full', 'closed'] as const;
export type ScheduleReason = (typeof scheduleReasons)[number];

export const sessionMessageSchema = z.object({
  /** Session key text (lib/src/session/key.ts). */
  key: z.string().min(1).max(160),
  reason: z.enum(scheduleReasons),
  /** Which occurrence of the key (capture time in µs of its first stored packet). */
  occurrence: z.number().int().nonnegative(),
  agent: z.string().min(1).max(64),
  /** Epoch milliseconds when splitcap enqueued it. */
  enqueuedAt: z.number().int().nonnegative(),
});
export type SessionMessage = z.infer<typeof sessionMessageSchema>;

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
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SessionMessageError(`message is not a session message: ${issues}`);
  }
  return parsed.data;
}
