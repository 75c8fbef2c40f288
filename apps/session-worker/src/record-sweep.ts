// The sweeper's decision for one connection record: is the connection over, so that its row is completed now? The
// rules are Zeek's (ConnRecord.expiredBy: 5 s after both sides closed or one reset, 5 s after an unanswered SYN,
// idle timeouts), applied to an estimate of the capture clock: the time of the record's latest packet plus the
// wall-clock time since splitcap stored it. A live capture's clock runs with the wall clock, so the estimate is the
// capture time now; a replayed capture (old timestamps, uploaded at once) is judged by how long nothing came.

import type { RecordSweepMessage } from '@fleetcap/lib/queue/record-sweep-message';
import { ConnRecord, type InactivityTimeouts, ZEEK_INACTIVITY_TIMEOUTS } from '@fleetcap/lib/session-record/conn-state';
import type { RecordRead, StoredRecord } from '@fleetcap/lib/session-store/record-store';
import { RecordFormatError } from '@fleetcap/lib/session-store/record-store';

export type SweepDecision =
  /** No record of this occurrence is left: completed already, or the session moved on. */
  | { kind: 'gone' }
  /** The connection goes on: look again later. */
  | { kind: 'wait'; stored: StoredRecord }
  /** Over: complete the row with `record`; `claimed` when a look before claimed it (and died). */
  | { kind: 'complete'; stored: StoredRecord; record: ConnRecord; claimed: boolean }
  | { kind: 'corrupt'; why: string };

export function decideSweep(
  message: RecordSweepMessage,
  read: RecordRead | RecordFormatError,
  nowMs: number,
  timeouts: InactivityTimeouts = ZEEK_INACTIVITY_TIMEOUTS,
): SweepDecision {
  if (read instanceof RecordFormatError) return { kind: 'corrupt', why: read.message };
  const stored = read.record;
  if (!stored || stored.occurrence !== message.occurrence) return { kind: 'gone' };
  let record: ConnRecord;
  try {
    record = ConnRecord.deserialize(stored.record);
  } catch (err) {
    return {
      kind: 'corrupt',
      why: `connection record of ${message.agent}/${message.key} does not deserialise: ${(err as Error).message}`,
    };
  }
  if (stored.completing) return { kind: 'complete', stored, record, claimed: true };
  if (stored.ended) return { kind: 'complete', stored, record, claimed: false };
  const captureNowUs = record.lastPacketUs + Math.max(0, nowMs - stored.seenMs) * 1000;
  if (record.expiredBy(captureNowUs, timeouts)) return { kind: 'complete', stored, record, claimed: false };
  return { kind: 'wait', stored };
}
