// The connection records of the session store (fc:s:{A/K}:c, RECORD fields): read in one read-records.lua call per slot
// (per batch on a single Redis), written as
// compare-and-set by splitcap (record-connection-3.lua), claimed and released by the session-worker's sweeper
// (complete-record-2.lua). A record is ConnRecord.serialize() of lib/src/session-record/conn-state.ts: the same code
// computes conn_state and history here and in `fleetcap sessions`.
import type { RedisClient } from '../redis/connect.ts';
import { callPerSlot, pipelineByItem } from '../redis/slot-groups.ts';
import { RECORD, type StoredSessionName, sessionKeys } from './layout.ts';
import { defineSessionScripts, type SessionScriptPipeline } from './scripts.ts';

export interface StoredRecord {
  version: number;
  /** ConnRecord.serialize(). */
  record: string;
  occurrence: number;
  /** Canonical side (0 = endpoint a of the key) of the record's initiator. */
  initiator: 0 | 1;
  communityId: string;
  /** Wall-clock ms of the latest update. */
  seenMs: number;
  ended: boolean;
  completing: boolean;
}

export interface RecordRead {
  record: StoredRecord | undefined;
  /** The done marker is set: the verdict is stored (or the connection was completed, when there is no record). */
  done: boolean;
}

const FIELDS = [
  RECORD.version,
  RECORD.record,
  RECORD.occurrence,
  RECORD.initiator,
  RECORD.communityId,
  RECORD.seenMs,
  RECORD.ended,
  RECORD.completing,
] as const;

export class RecordFormatError extends Error {
  override name = 'RecordFormatError';
}

function parseStored(name: StoredSessionName, values: Array<string | null>): StoredRecord | undefined {
  const [version, record, occurrence, initiator, communityId, seenMs, ended, completing] = values;
  if (version === null || version === undefined) return undefined;
  const numbers = { version, occurrence, seenMs };
  for (const [field, text] of Object.entries(numbers)) {
    if (text === null || text === undefined || !/^\d+$/.test(text)) {
      throw new RecordFormatError(
        `connection record of ${name.agent}/${name.key}: field ${field} = ${JSON.stringify(text)} is not a whole number`,
      );
    }
  }
  return {
    version: Number(version),
    record: record ?? '',
    occurrence: Number(occurrence),
    initiator: initiator === '1' ? 1 : 0,
    communityId: communityId ?? '',
    seenMs: Number(seenMs),
    ended: ended === '1',
    completing: completing === '1',
  };
}

/** The records (and done markers) of these sessions, in order; a record that does not parse is a RecordFormatError. */
export async function readRecords(
  redis: RedisClient,
  prefix: string,
  names: StoredSessionName[],
): Promise<Array<RecordRead | RecordFormatError>> {
  const replies = await callPerSlot(
    redis,
    names,
    (n) => sessionKeys(n, prefix).record,
    SESSIONS_PER_CALL,
    (pipeline, call) => {
      const keys: string[] = [];
      for (const n of call) {
        const k = sessionKeys(n, prefix);
        keys.push(k.record, k.done);
      }
      (pipeline as SessionScriptPipeline).readRecords(keys.length, ...keys, '');
    },
    (call, err) => new Error(`reading the connection records of ${call.length} session(s) failed: ${err.message}`),
  );
  return names.map((name, i) => {
    const values = replies[i] as Array<string | number | null>;
    try {
      return {
        record: parseStored(name, values.slice(0, FIELDS.length) as Array<string | null>),
        done: values[8] === 1,
      };
    } catch (e) {
      if (e instanceof RecordFormatError) return e;
      throw e;
    }
  });
}

/**
 * Sessions per read-records.lua or record-connections.lua call: a call holds its master while it runs, so a batch of
 * thousands of sessions is sent as several calls of one pipeline (as the appends are, writer.ts).
 */
const SESSIONS_PER_CALL = 64;

/** A record change of one session of an agent's batch (see record-connection-3.lua). */
export type RecordChange = {
  key: string;
  record: string;
  ended: boolean;
} & (
  | {
      mode: 'update';
      version: number;
      /** The occurrence the append stored the batch in: another occurrence's record refuses it (0 or absent: any). */
      occurrence?: number;
    }
  | {
      mode: 'start';
      /** The occurrence the append stored the batch in: started only while that occurrence is being stored. */
      occurrence: number;
      initiator: 0 | 1;
      communityId: string;
    }
);

/** One record write of splitcap. */
export type RecordWrite = RecordChange & { agent: string };

export type RecordWriteStatus = 'started' | 'updated' | 'stale' | 'done' | 'dup';

export class RecordStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    defineSessionScripts(redis);
  }

  read(names: StoredSessionName[]) {
    return readRecords(this.redis, this.prefix, names);
  }

  /** The writes, one record-connections.lua call per slot; each says whether it was written or must be read again (stale). */
  async write(writes: RecordWrite[], batchId: string, nowMs: number, ttlSeconds: number): Promise<RecordWriteStatus[]> {
    const replies = await callPerSlot(
      this.redis,
      writes,
      (w) => sessionKeys(w, this.prefix).record,
      SESSIONS_PER_CALL,
      (pipeline, call) => {
        const keys: string[] = [];
        const argv: string[] = [String(nowMs), String(ttlSeconds), batchId];
        for (const w of call) {
          const k = sessionKeys(w, this.prefix);
          keys.push(k.record, k.done, k.meta);
          if (w.mode === 'start')
            argv.push(
              'start',
              '0',
              w.record,
              w.ended ? '1' : '0',
              String(w.occurrence),
              String(w.initiator),
              w.communityId,
            );
          else
            argv.push(
              'update',
              String(w.version),
              w.record,
              w.ended ? '1' : '0',
              w.occurrence ? String(w.occurrence) : '',
              '',
              '',
            );
        }
        (pipeline as SessionScriptPipeline).recordConnections(keys.length, ...keys, ...argv);
      },
      (call, err) =>
        new Error(`record script failed for the ${call.length} session(s) from ${call[0]!.key} on: ${err.message}`),
    );
    return replies.map((reply) => (reply as [RecordWriteStatus, number])[0]);
  }

  /** Marks records read at these versions as being completed; false where the record changed (read again). */
  async claim(claims: Array<StoredSessionName & { version: number }>): Promise<boolean[]> {
    return this.completeStep(claims.map((c) => ({ ...c, argv: ['claim', String(c.version)] })));
  }

  /** Removes completed records and sets their done markers for `doneTtlSeconds`. */
  async release(
    releases: Array<StoredSessionName & { occurrence: number }>,
    doneTtlSeconds: number,
  ): Promise<boolean[]> {
    return this.completeStep(
      releases.map((r) => ({ ...r, argv: ['release', String(r.occurrence), String(doneTtlSeconds)] })),
    );
  }

  /** Keeps the done markers of open records alive (the sweeper, at each look): the verdict stays the session's. */
  async keepDone(names: StoredSessionName[], doneTtlSeconds: number): Promise<void> {
    const results = await pipelineByItem(
      this.redis,
      names,
      (n) => sessionKeys(n, this.prefix).done,
      (pipeline, n) => pipeline.expire(sessionKeys(n, this.prefix).done, doneTtlSeconds),
    );
    for (const item of results) if (item[0]![0]) throw item[0]![0];
  }

  private async completeStep(steps: Array<StoredSessionName & { argv: string[] }>): Promise<boolean[]> {
    const results = await pipelineByItem(
      this.redis,
      steps,
      (s) => sessionKeys(s, this.prefix).record,
      (pipeline, s) => {
        const k = sessionKeys(s, this.prefix);
        (pipeline as SessionScriptPipeline).completeRecord(k.record, k.done, ...s.argv);
      },
    );
    return results.map((item) => {
      const [err, value] = item[0]!;
      if (err) throw err;
      return value === 1;
    });
  }
}
