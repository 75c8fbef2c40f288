// The session-worker's read of the session store: the sessions named by queue messages (agent and key), in one
// pipelined round for a whole batch, and per message whether there is work: a session already done, freed, or of
// another occurrence than the message names needs no verdict.

import type { SessionMessage } from '../queue/session-message.ts';
import type { RedisClient } from '../redis/connect.ts';
import { callPerSlot } from '../redis/slot-groups.ts';
import { parseSessionKey } from '../session/key.ts';
import { decodePacketRecord, META, type PacketRecord, sessionKeys, toClientDirection } from './layout.ts';
import { defineSessionScripts, type SessionScriptPipeline } from './scripts.ts';

/** Sessions per load-sessions.lua call: a call is atomic, so it holds its master while it reads them all. */
const SESSIONS_PER_CALL = 64;

/** Connections the scripts are defined on (defineSessionScripts once per connection, not per load). */
const withScripts = new WeakSet<RedisClient>();

export interface LoadedSession {
  message: SessionMessage;
  proto: 'tcp' | 'udp';
  client: { address: string; port: number };
  server: { address: string; port: number };
  agent: string;
  /** Community ID v1 recorded with the session (the message's when the session has none). */
  communityId: string;
  occurrence: number;
  firstUs: number;
  lastUs: number;
  /** Every packet seen, including those beyond the stored cap. */
  packetsSeen: number;
  bytes: number;
  packets: PacketRecord[];
}

export type LoadOutcome =
  | { kind: 'session'; session: LoadedSession }
  | { kind: 'skip'; why: 'done' | 'gone' | 'other-occurrence' }
  | { kind: 'poison'; why: string };

export function buildSession(
  message: SessionMessage,
  meta: Record<string, string>,
  members: (Buffer | string)[],
): LoadedSession {
  const key = parseSessionKey(message.key);
  // The initiator field holds the canonical side (0 = endpoint a) that sent the first packet.
  const initiatorIsA = meta[META.initiator] === '0';
  const client = initiatorIsA ? key.a : key.b;
  const server = initiatorIsA ? key.b : key.a;
  const packets = members.map((m) => toClientDirection(decodePacketRecord(m), initiatorIsA ? 0 : 1));
  const num = (field: string): number => {
    const v = Number(meta[field] ?? '0');
    if (!Number.isFinite(v))
      throw new Error(`session ${message.key}: meta field ${field}=${JSON.stringify(meta[field])} is not a number`);
    return v;
  };
  return {
    message,
    proto: key.proto,
    client,
    server,
    agent: message.agent,
    communityId: meta[META.communityId] || message.communityId,
    occurrence: num(META.occurrence),
    firstUs: num(META.first),
    lastUs: num(META.last),
    packetsSeen: num(META.packets) + num(META.overflow),
    bytes: num(META.bytes),
    packets,
  };
}

export async function loadSessions(
  redis: RedisClient,
  prefix: string,
  messages: SessionMessage[],
): Promise<LoadOutcome[]> {
  if (!withScripts.has(redis)) {
    defineSessionScripts(redis);
    withScripts.add(redis);
  }
  // Read and marked loaded in one step: from here on the append stores nothing more in these occurrences, so what is
  // read is exactly what the verdicts hold; later packets go to the connection record or are counted drops.
  const replies = await callPerSlot(
    redis,
    messages,
    (m) => sessionKeys(m, prefix).meta,
    SESSIONS_PER_CALL,
    (pipeline, call) => {
      const keys: string[] = [];
      const argv: string[] = [];
      for (const m of call) {
        const k = sessionKeys(m, prefix);
        keys.push(k.done, k.meta, k.packets);
        argv.push(String(m.occurrence));
      }
      (pipeline as SessionScriptPipeline).loadSessionsBuffer(keys.length, ...keys, ...argv);
    },
    (call, err) =>
      new Error(`load script failed for the ${call.length} session(s) from ${call[0]!.key} on: ${err.message}`),
  );
  return messages.map((message, i) => {
    const [done, flat, members] = replies[i] as [number, Buffer[], Buffer[]];
    const m: Record<string, string> = {};
    for (let f = 0; f + 1 < flat.length; f += 2) m[flat[f]!.toString()] = flat[f + 1]!.toString();
    const occurrence = m[META.occurrence];
    // The occurrence the message names is still stored: classify it, whatever the done marker says (a marker set
    // again by the previous occurrence's record completion, after this occurrence started, must not strand it).
    if (done === 1 && Number(occurrence) !== message.occurrence) return { kind: 'skip', why: 'done' };
    if (!occurrence) return { kind: 'skip', why: 'gone' };
    if (Number(occurrence) !== message.occurrence) return { kind: 'skip', why: 'other-occurrence' };
    try {
      return { kind: 'session', session: buildSession(message, m, members) };
    } catch (e) {
      return { kind: 'poison', why: (e as Error).message };
    }
  });
}
