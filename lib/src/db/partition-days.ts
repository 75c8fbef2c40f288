// The days the partitioned tables are split by (sql/016): MariaDB's TO_DAYS of a UTC date, so that the app and the
// migration's DEFAULT expressions name the same partition for a row.

/** TO_DAYS('1970-01-01'). */
export const EPOCH_TO_DAYS = 719_528;
const DAY_US = 86_400_000_000;

/**
 * The day of a session occurrence (`occurrence`: µs since the epoch of its first packet, set when it starts): its
 * verdict row's and its alert packets' occurrence_day. A row without an occurrence (0) takes its first packet's day,
 * as the column's DEFAULT does.
 */
export function occurrenceDay(occurrenceUs: number, firstPacketUs: number): number {
  return Math.floor((occurrenceUs > 0 ? occurrenceUs : firstPacketUs) / DAY_US) + EPOCH_TO_DAYS;
}
