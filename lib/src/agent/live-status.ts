// The agent's live status: the JSON of its ephemeral <root>/agents/<id>/live node, written by the listener on every
// change and refresh, and mirrored into agent_status by config-sync. One schema for both sides.
//
// The reader is lenient, field by field: a field that is missing or does not fit the schema becomes null (or 0
// for a counter), and what is wrong with the node itself (empty, not JSON, not an object, an unknown state) is
// added to lastError, so that one odd field (a listener of another version) does not hide the rest of the status.
import { z } from 'zod';
import { type SnifferCounters, snifferCountersSchema } from './ipc.ts';

export const agentStates = ['waiting', 'capturing', 'error', 'stopped'] as const;
export type AgentState = (typeof agentStates)[number];

export const liveStatusSchema = z.object({
  agentId: z.string(),
  /** The listener's pid. */
  pid: z.number().int().positive(),
  /** The pid of the sniffer capturing now, if any. */
  snifferPid: z.number().int().positive().nullable(),
  hostname: z.string(),
  appliedRevision: z.number().int().nonnegative().nullable(),
  state: z.enum(agentStates),
  lastError: z.string().nullable(),
  /** Summed over every sniffer the listener has run; spooled is the backlog now. */
  counters: snifferCountersSchema,
  /** ISO 8601 time of this write. */
  updatedAt: z.string(),
});
export type LiveStatus = z.infer<typeof liveStatusSchema>;

/** The node's data as the listener writes it. */
export function encodeLiveStatus(status: LiveStatus): Buffer {
  return Buffer.from(JSON.stringify(status));
}

/** What a reader makes of a live node: every field of LiveStatus that fits the schema, null (counters: 0) otherwise. */
export type LiveStatusReading = { [K in Exclude<keyof LiveStatus, 'counters'>]: LiveStatus[K] | null } & {
  counters: SnifferCounters;
};

const fields = liveStatusSchema.shape;
const zeroCounters = (): SnifferCounters =>
  Object.fromEntries(Object.keys(snifferCountersSchema.shape).map((k) => [k, 0])) as SnifferCounters;
const lenientCounters = z
  .object(
    Object.fromEntries(Object.entries(snifferCountersSchema.shape).map(([k, schema]) => [k, schema.catch(0)])) as {
      [K in keyof SnifferCounters]: z.ZodCatch<z.ZodNumber>;
    },
  )
  .catch(zeroCounters);
const lenientSchema = z.object({
  agentId: fields.agentId.nullable().catch(null),
  pid: fields.pid.nullable().catch(null),
  snifferPid: fields.snifferPid.catch(null),
  hostname: fields.hostname.nullable().catch(null),
  appliedRevision: fields.appliedRevision.catch(null),
  state: z.unknown(),
  lastError: fields.lastError.catch(null),
  counters: lenientCounters,
  updatedAt: fields.updatedAt.nullable().catch(null),
});

function emptyReading(lastError: string): LiveStatusReading {
  return {
    agentId: null,
    pid: null,
    snifferPid: null,
    hostname: null,
    appliedRevision: null,
    state: null,
    lastError,
    counters: zeroCounters(),
    updatedAt: null,
  };
}

/** Reads a live node's data; never throws. Problems with the node itself end up in lastError. */
export function parseLiveStatus(data: Buffer | string | null): LiveStatusReading {
  const text = data === null ? '' : typeof data === 'string' ? data : data.toString('utf8');
  if (text.trim() === '') return emptyReading('live node is empty');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return emptyReading(`live node is not JSON: ${(err as Error).message}`);
  }
  const parsed = lenientSchema.safeParse(value);
  if (!parsed.success) return emptyReading('live node is not a JSON object');
  const { state: rawState, ...v } = parsed.data;
  const state = fields.state.safeParse(rawState);
  const stateNote =
    rawState === undefined || rawState === null || state.success ? null : `unknown state ${JSON.stringify(rawState)}`;
  return {
    ...v,
    state: state.success ? state.data : null,
    lastError: [v.lastError, stateNote].filter((s): s is string => !!s).join('; ') || null,
  };
}
