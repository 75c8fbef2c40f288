// Follows each session's connection to its end: every packet of a batch is added to the session's connection record
// (Zeek's conn_state/history inputs and counters, lib/src/session-record/conn-state.ts), before and after the
// verdict, so that the row the worker completes at the end (FIN/RST, or idle) counts the whole connection. The record
// is read, advanced here in JavaScript (the same code as `fleetcap sessions`) and written back as compare-and-set
// (record-connection-3.lua): a record another replica wrote meanwhile is read and advanced again.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSessionKey } from '@fleetcap/lib/session/key';
import { type ConnPacket, ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import type { RecordChange, RecordRead, RecordStore, RecordWrite } from '@fleetcap/lib/session-store/record-store';
import { RecordFormatError } from '@fleetcap/lib/session-store/record-store';
import type { Logger } from 'pino';
import {
  type BatchSession,
  CONN_ACK,
  CONN_FIELDS,
  CONN_FLAGS,
  CONN_IP_LENGTH,
  CONN_PAYLOAD,
  CONN_SEQ,
  CONN_SIDE,
  CONN_TIME,
  CONN_WINDOW,
} from './batch-decoder.ts';
import type { SplitcapMetrics } from './metrics.ts';

/** What a batch did to a session's record. */
export type RecordOutcome =
  /** A record was started (a new occurrence). */
  | 'started'
  /** The record took the batch's packets. */
  | 'updated'
  /** The record had ended (another connection started on the flow) or the connection was completed: nothing added. */
  | 'straggler'
  /** A retried batch the record took before. */
  | 'duplicate'
  /** Another writer kept winning the compare-and-set: this batch's packets are not in the record. */
  | 'conflict'
  /** The stored record does not parse: left alone (the row keeps what the verdict saw). */
  | 'corrupt';

export interface AdvancedRecord {
  write?: RecordChange;
  outcome: RecordOutcome;
  /** Packets added to the record. */
  added: number;
  /** Packets of the batch not added: the connection is over, or a packet of the batch started another one. */
  leftOut?: number;
  /**
   * Of those, the packets left out because the record ended: this batch's packet, or an earlier one, started another
   * connection on the flow (Zeek's rules: a gap longer than the inactivity timeout, a new SYN after a close).
   */
  endedLeftOut?: number;
}

function packetAt(s: BatchSession, i: number, initiator: 0 | 1, into: ConnPacket): ConnPacket {
  const c = s.connection;
  const at = i * CONN_FIELDS;
  into.timeUs = c[at + CONN_TIME]!;
  into.fromInitiator = c[at + CONN_SIDE] === initiator;
  into.ipLength = c[at + CONN_IP_LENGTH]!;
  into.payloadLength = c[at + CONN_PAYLOAD]!;
  if (s.ipProtocol === 6) {
    into.tcpFlags = c[at + CONN_FLAGS]!;
    into.seq = c[at + CONN_SEQ]!;
    into.ack = c[at + CONN_ACK]!;
    into.window = c[at + CONN_WINDOW]!;
  }
  return into;
}

/**
 * The batch's packets added to the record read (or a new record from them): pure, so that the compare-and-set loop can
 * run it again on a newer record. Packets from one that starts another connection on the flow (Zeek's rules: a new
 * SYN after a close, a gap longer than the idle timeout) on are not added, and the record is marked ended; a packet older than
 * the record's latest (a batch stored out of order) is added whatever it is. `appendedTo` is the occurrence the append
 * stored the batch in (0: none, the session was done): the record script takes the batch only into that occurrence's
 * record (or, for 0, into the open record of the finished one).
 */
export function advanceRecord(s: BatchSession, read: RecordRead, appendedTo: number = s.firstUs): AdvancedRecord {
  const total = s.connection.length / CONN_FIELDS;
  const packet: ConnPacket = { timeUs: 0, fromInitiator: true, ipLength: 0, payloadLength: 0 };
  const stored = read.record;
  // appendedTo 0: the append stored nothing (the session was done), so there is no occurrence to start a record for.
  if (stored?.completing || stored?.ended || (!stored && (read.done || appendedTo === 0)))
    return {
      outcome: 'straggler',
      added: 0,
      leftOut: total,
      ...(stored?.ended && !stored.completing ? { endedLeftOut: total } : {}),
    };
  let record: ConnRecord;
  let initiator: 0 | 1;
  let from = 0;
  if (stored) {
    record = ConnRecord.deserialize(stored.record);
    initiator = stored.initiator;
  } else {
    initiator = s.firstSide;
    const key = parseSessionKey(s.key);
    const [sender, receiver] = initiator === 0 ? [key.a, key.b] : [key.b, key.a];
    record = ConnRecord.start(s.ipProtocol, sender.port, receiver.port, packetAt(s, 0, initiator, packet), {
      toBroadcast: receiver.address === '255.255.255.255',
    });
    from = 1;
  }
  let ended = false;
  let added = from;
  for (let i = from; i < total; i++) {
    packetAt(s, i, initiator, packet);
    // A packet captured before the record's latest one came in a batch stored late (a retry after a 503 or a kill,
    // while the agent's next batch went through): it is of this connection, so it never ends it. Judged by the rules,
    // the handshake's SYN arriving after the close looked like a new connection, and the packets after it were left
    // out of the row (the fault run's lost packets).
    if (packet.timeUs >= record.lastPacketUs && record.endsBefore(packet)) {
      ended = true;
      break;
    }
    record.add(packet);
    added++;
  }
  const text = record.serialize();
  if (stored) {
    return {
      outcome: 'updated',
      added,
      leftOut: total - added,
      endedLeftOut: total - added,
      write: { key: s.key, mode: 'update', version: stored.version, occurrence: appendedTo, record: text, ended },
    };
  }
  return {
    outcome: 'started',
    added,
    leftOut: total - added,
    endedLeftOut: total - added,
    write: {
      key: s.key,
      mode: 'start',
      occurrence: appendedTo,
      initiator,
      communityId: s.communityId,
      record: text,
      ended,
    },
  };
}

export interface RecorderSettings {
  /** TTL of a record (FLEETCAP_SESSION_TTL_SECONDS): a safety net, the sweeper removes records. */
  ttlSeconds: number;
  /** Compare-and-set rounds before a batch's packets are left out of a record (counted). */
  maxAttempts?: number;
}

/** A batch whose records kept changing under it: retryable (503), never partly recorded. */
export class RecordConflict extends Error {
  override name = 'RecordConflict';
}

export class ConnectionRecorder {
  private readonly maxAttempts: number;

  constructor(
    private readonly store: RecordStore,
    private readonly settings: RecorderSettings,
    private readonly metrics: SplitcapMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.maxAttempts = settings.maxAttempts ?? 8;
  }

  /**
   * Adds every packet of the batch to its session's record; returns how many sessions had each outcome. `leftOut`,
   * when given, gets the packets of each session (by key) that its record did not take.
   */
  async record(
    agent: string,
    batchId: string,
    sessions: BatchSession[],
    leftOut?: Map<string, number>,
    /** Per session key, the occurrence the append stored the batch in (0: the session was done); default its first µs. */
    appendedTo?: ReadonlyMap<string, number>,
    /** Gets, of `leftOut`, the packets each session's record left out because it had ended (AdvancedRecord.endedLeftOut). */
    endedLeftOut?: Map<string, number>,
  ): Promise<Partial<Record<RecordOutcome, number>>> {
    const counts: Partial<Record<RecordOutcome, number>> = {};
    const note = (session: BatchSession, packets: number, ended = 0) => {
      if (leftOut && packets > 0) leftOut.set(session.key, (leftOut.get(session.key) ?? 0) + packets);
      if (endedLeftOut && ended > 0) endedLeftOut.set(session.key, (endedLeftOut.get(session.key) ?? 0) + ended);
    };
    const count = (outcome: RecordOutcome, packets: number) => {
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      this.metrics.recordUpdates.inc({ outcome });
      if (packets > 0) this.metrics.recordPackets.inc(packets);
    };
    let pending = sessions;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        // Not left out (that loses packets from the rows): the upload fails with 503 and the agent resends the
        // batch; the append script and the records both know the batch id, so nothing is stored twice.
        this.log.warn(
          { code: 'splitcap.record-conflict', agent, sessions: pending.length, attempts: this.maxAttempts },
          'connection records kept changing under this batch; answering 503 so that the agent sends it again',
        );
        for (const _ of pending) count('conflict', 0);
        throw new RecordConflict(
          `the connection records of ${pending.length} sessions kept changing under this batch (${this.maxAttempts} compare-and-set rounds)`,
        );
      }
      // Two uploads of one agent's consecutive batches touch the same records: a little jitter separates them.
      if (attempt > 1) await sleep(Math.random() * 5 * attempt);
      const reads = await this.store.read(pending.map((s) => ({ agent, key: s.key })));
      const writes: RecordWrite[] = [];
      const written: Array<{ session: BatchSession; advanced: AdvancedRecord }> = [];
      for (const [i, read] of reads.entries()) {
        const session = pending[i]!;
        if (read instanceof RecordFormatError) {
          this.log.error(
            { code: 'splitcap.record-corrupt', agent, key: session.key, err: read.message },
            'a connection record does not parse; it is left alone (its row keeps what the verdict saw)',
          );
          count('corrupt', 0);
          note(session, session.connection.length / CONN_FIELDS);
          continue;
        }
        let advanced: AdvancedRecord;
        try {
          advanced = advanceRecord(session, read, appendedTo?.get(session.key) ?? session.firstUs);
        } catch (err) {
          this.log.error(
            { code: 'splitcap.record-corrupt', agent, key: session.key, err: (err as Error).message },
            'a connection record does not parse; it is left alone (its row keeps what the verdict saw)',
          );
          count('corrupt', 0);
          note(session, session.connection.length / CONN_FIELDS);
          continue;
        }
        if (!advanced.write) {
          count(advanced.outcome, 0);
          note(session, advanced.leftOut ?? 0, advanced.endedLeftOut ?? 0);
          if (advanced.leftOut) this.metrics.recordLeftOut.inc({ reason: 'straggler' }, advanced.leftOut);
          continue;
        }
        writes.push({ agent, ...advanced.write });
        written.push({ session, advanced });
      }
      const statuses = await this.store.write(writes, batchId, this.now(), this.settings.ttlSeconds);
      const retry: BatchSession[] = [];
      for (const [i, status] of statuses.entries()) {
        const { session, advanced } = written[i]!;
        if (status === 'stale') retry.push(session);
        else if (status === 'done') {
          count('straggler', 0);
          note(session, session.connection.length / CONN_FIELDS);
          this.metrics.recordLeftOut.inc({ reason: 'straggler' }, session.connection.length / CONN_FIELDS);
        } else if (status === 'dup') count('duplicate', 0);
        else {
          count(advanced.outcome, advanced.added);
          note(session, advanced.leftOut ?? 0, advanced.endedLeftOut ?? 0);
          if (advanced.leftOut) this.metrics.recordLeftOut.inc({ reason: 'ended' }, advanced.leftOut);
        }
      }
      pending = retry;
    }
    return counts;
  }
}
