// Pipelined rounds over many sessions on a single Redis or a Redis Cluster. A cluster pipeline must stay on one node
// ("All keys in the pipeline should belong to the same slots allocation group", ioredis), so the items are grouped by
// the master that serves their slot: one pipeline per master, sent together. A session's keys share one hash tag
// (lib/src/session-store/layout.ts), so one item's commands are always one slot. The callers' commands are idempotent
// (appends are deduplicated by batch, finishes by occurrence, records by version, reads are reads): a round that
// fails because the slot map changed under it (a failover) is sent again once the map is refreshed.

import { type ChainableCommander, Cluster } from 'ioredis';
import type { RedisClient } from './connect.ts';
import { keySlot } from './key-slot.ts';

export type CommandResult = [Error | null, unknown];

/**
 * Writes acknowledged by replicas before they count (Redis replicates asynchronously: a master killed before its
 * replica has a write loses it at the failover). Each group's round ends with WAIT; fewer acknowledgements than
 * `replicas` within `timeoutMs` fail the round, which is then sent again (to the promoted replica, after a failover).
 */
export interface ReplicaAck {
  replicas: number;
  timeoutMs: number;
}

export class ReplicaAckError extends Error {}

/** How often a group is sent again after its round failed as a whole (a failover takes a few seconds). */
const ATTEMPTS = 8;
const RETRY_DELAY_MS = 500;

/**
 * Adds each item's commands (`add`, which may add several) to a pipeline of its slot group and runs the rounds;
 * returns each item's command results, in item order. `slotKey` is any key of the item (its hash tag decides).
 */
export async function pipelineByItem<T>(
  redis: RedisClient,
  items: readonly T[],
  slotKey: (item: T) => string,
  add: (pipeline: ChainableCommander, item: T) => void,
  ack?: ReplicaAck,
): Promise<CommandResult[][]> {
  if (items.length === 0) return [];
  if (!(redis instanceof Cluster)) return await round(redis, items, add, ack);
  const out: CommandResult[][] = new Array(items.length);
  let pending = items.map((_, i) => i);
  for (let attempt = 1; pending.length > 0; attempt++) {
    const groups = new Map<string, number[]>();
    for (const i of pending) {
      const slot = keySlot(slotKey(items[i]!));
      const node = redis.slots[slot]?.[0] ?? `slot ${slot}`;
      const group = groups.get(node);
      if (group) group.push(i);
      else groups.set(node, [i]);
    }
    const failed: number[] = [];
    let lastError: unknown;
    await Promise.all(
      [...groups.values()].map(async (indexes) => {
        try {
          const results = await round(
            redis,
            indexes.map((i) => items[i]!),
            add,
            ack,
          );
          for (const [j, r] of results.entries()) out[indexes[j]!] = r;
        } catch (e) {
          lastError = e;
          failed.push(...indexes);
        }
      }),
    );
    if (failed.length === 0) break;
    if (attempt >= ATTEMPTS) throw lastError;
    await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
    pending = failed;
  }
  return out;
}

/**
 * The items grouped by the master that serves the slot of `slotKey(item)`, for a command that covers several slots
 * of one master (a script with the allow-cross-slot-keys flag): one group of everything on a single server.
 */
export function groupByMaster<T>(redis: RedisClient, items: readonly T[], slotKey: (item: T) => string): T[][] {
  if (items.length === 0) return [];
  if (!(redis instanceof Cluster)) return [[...items]];
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const slot = keySlot(slotKey(item));
    const node = redis.slots[slot]?.[0] ?? `slot ${slot}`;
    const group = groups.get(node);
    if (group) group.push(item);
    else groups.set(node, [item]);
  }
  return [...groups.values()];
}

/**
 * The items grouped by the slot of `slotKey(item)`, for a command that passes every item's keys as KEYS: ioredis's
 * Cluster client refuses such a command when its keys are in several slots ("All the keys in a pipeline command
 * should belong to the same slot"), whatever the script's flags. One group of everything on a single server.
 */
export function groupBySlot<T>(redis: RedisClient, items: readonly T[], slotKey: (item: T) => string): T[][] {
  if (items.length === 0) return [];
  if (!(redis instanceof Cluster)) return [[...items]];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(slotKey(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}

/**
 * One script call per group of items that share a slot (on a single Redis: one group of all), at most `perCall` items
 * a call, every call of one master in one pipeline (pipelineByItem). `add` adds the call of the items given, a script
 * that returns one reply per item, in their order; `failed` makes the error of a call that failed. Returns each item's
 * reply, in item order. The script's KEYS are those of all its items: ioredis's Cluster client takes them from one
 * slot only (groupBySlot).
 */
export async function callPerSlot<T>(
  redis: RedisClient,
  items: readonly T[],
  slotKey: (item: T) => string,
  perCall: number,
  add: (pipeline: ChainableCommander, call: readonly T[]) => void,
  failed: (call: readonly T[], err: Error) => Error,
  ack?: ReplicaAck,
): Promise<unknown[]> {
  const calls: number[][] = [];
  const indexes = items.map((_, i) => i);
  for (const group of groupBySlot(redis, indexes, (i) => slotKey(items[i]!)))
    for (let at = 0; at < group.length; at += perCall) calls.push(group.slice(at, at + perCall));
  const callItems = calls.map((call) => call.map((i) => items[i]!));
  const results = await pipelineByItem(redis, callItems, (call) => slotKey(call[0]!), add, ack);
  const replies: unknown[] = new Array(items.length);
  for (const [c, result] of results.entries()) {
    const [err, value] = result[0]!;
    if (err) throw failed(callItems[c]!, err);
    const call = calls[c]!;
    if (!Array.isArray(value) || value.length !== call.length)
      throw failed(callItems[c]!, new Error(`expected ${call.length} replies, got ${JSON.stringify(value)}`));
    for (const [j, reply] of value.entries()) replies[call[j]!] = reply;
  }
  return replies;
}

async function round<T>(
  redis: RedisClient,
  items: readonly T[],
  add: (pipeline: ChainableCommander, item: T) => void,
  ack: ReplicaAck | undefined,
): Promise<CommandResult[][]> {
  const pipeline = redis.pipeline();
  const counts: number[] = [];
  for (const item of items) {
    const before = pipeline.length;
    add(pipeline, item);
    counts.push(pipeline.length - before);
  }
  const waiting = ack !== undefined && ack.replicas > 0;
  if (waiting) pipeline.wait(ack.replicas, ack.timeoutMs);
  const results = (await pipeline.exec()) as CommandResult[] | null;
  if (!results) throw new Error('Redis pipeline was discarded');
  if (waiting) {
    const [err, acked] = results[results.length - 1]!;
    if (err) throw err;
    if (Number(acked) < ack.replicas)
      throw new ReplicaAckError(
        `${acked} of ${ack.replicas} replica(s) acknowledged the writes within ${ack.timeoutMs} ms`,
      );
  }
  const byItem: CommandResult[][] = [];
  let at = 0;
  for (const n of counts) {
    byItem.push(results.slice(at, at + n));
    at += n;
  }
  return byItem;
}
