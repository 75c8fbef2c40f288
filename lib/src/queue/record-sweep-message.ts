// The message that asks the session-worker's sweeper to look at a session's connection record (docs/ARCHITECTURE.md
// "The record follows the connection"): is the connection over (closed and lingered, or idle), so that its verdict
// row is completed? Armed once at the verdict, then re-armed by the sweeper at each look while the connection lives.
import { z } from 'zod';
import { agentIdPattern } from '../agent/paths.ts';

export const recordSweepMessageSchema = z.object({
  agent: z.string().min(1).max(64).regex(agentIdPattern, 'must be an agent id (letters, digits, ".", "_", "-")'),
  /** Session key text (lib/src/session/key.ts). */
  key: z.string().min(1).max(160),
  /** The occurrence whose verdict row the record completes. */
  occurrence: z.number().int().nonnegative(),
  communityId: z.string().max(64),
  /** Looks so far (1 at the verdict). */
  look: z.number().int().min(1),
});
export type RecordSweepMessage = z.infer<typeof recordSweepMessageSchema>;

export class RecordSweepMessageError extends Error {
  override name = 'RecordSweepMessageError';
}

export function encodeRecordSweepMessage(m: RecordSweepMessage): Buffer {
  return Buffer.from(JSON.stringify(m));
}

export function decodeRecordSweepMessage(body: Buffer): RecordSweepMessage {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RecordSweepMessageError(`sweep message body is not JSON: ${(err as Error).message}`);
  }
  const parsed = recordSweepMessageSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RecordSweepMessageError(`message is not a record sweep message: ${issues}`);
  }
  return parsed.data;
}
