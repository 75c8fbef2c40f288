// The listener's ephemeral /fleetcap/agents/<id>/live node: {pid, appliedRevision, state, lastError,
// counters: {captured, kernelDrops, batchesUploaded, spooled, spoolDropped}, updatedAt}. Read leniently: a field
// that is missing or of the wrong type becomes NULL (or 0 for a counter) and is reported, so that one odd field
// does not hide the rest of the agent's status.
import { z } from 'zod';

export const agentStates = ['waiting', 'capturing', 'error', 'stopped'] as const;
export type AgentState = (typeof agentStates)[number];

export interface LiveStatus {
  pid: number | null;
  appliedRevision: number | null;
  state: AgentState | null;
  lastError: string | null;
  counters: { captured: number; kernelDrops: number; batchesUploaded: number; spooled: number; spoolDropped: number };
}

const count = z.number().int().nonnegative().catch(0);
const liveSchema = z.object({
  pid: z.number().int().positive().nullable().catch(null).default(null),
  appliedRevision: z.number().int().nonnegative().nullable().catch(null).default(null),
  state: z.string().nullable().catch(null).default(null),
  lastError: z.string().nullable().catch(null).default(null),
  counters: z
    .object({
      captured: count.default(0),
      kernelDrops: count.default(0),
      batchesUploaded: count.default(0),
      spooled: count.default(0),
      spoolDropped: count.default(0),
    })
    .catch({ captured: 0, kernelDrops: 0, batchesUploaded: 0, spooled: 0, spoolDropped: 0 })
    .default({}),
});

/** Parses the live node's data; never throws. Problems with the node itself end up in lastError. */
export function parseLiveStatus(data: Buffer | string | null): LiveStatus {
  const empty: LiveStatus = {
    pid: null,
    appliedRevision: null,
    state: null,
    lastError: null,
    counters: { captured: 0, kernelDrops: 0, batchesUploaded: 0, spooled: 0, spoolDropped: 0 },
  };
  const text = data === null ? '' : typeof data === 'string' ? data : data.toString('utf8');
  if (text.trim() === '') return { ...empty, lastError: 'live node is empty' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ...empty, lastError: `live node is not JSON: ${(err as Error).message}` };
  }
  const parsed = liveSchema.safeParse(value);
  if (!parsed.success) return { ...empty, lastError: 'live node is not a JSON object' };
  const v = parsed.data;
  const known = v.state !== null && (agentStates as readonly string[]).includes(v.state);
  const stateNote = v.state !== null && !known ? `unknown state ${JSON.stringify(v.state)}` : null;
  return {
    pid: v.pid,
    appliedRevision: v.appliedRevision,
    state: known ? (v.state as AgentState) : null,
    lastError: [v.lastError, stateNote].filter((s): s is string => !!s).join('; ') || null,
    counters: v.counters,
  };
}
