// How long a change event is retried, and what happens after. Stop 17's fault run had config-sync hold a partition for
// minutes: one event's ZooKeeper write kept failing, the retry loop never ended and swallowed the heartbeat errors, so
// once the group coordinator dropped the member it never rejoined and no later change arrived. Now:
// - a failure that can never succeed by waiting (ZooKeeper refuses the write: NO_AUTH, INVALID_ACL, BAD_ARGUMENTS; a
//   MariaDB data error) is retried a few times, then the event is dead-lettered: counted, logged with its reason,
//   recorded in agent_status.config_error, and skipped (the next reconcile writes the row again from the table);
// - any other failure (a lost connection, a timeout) is retried until releaseAfterMs has passed, then the partition is
//   given back: the batch fails, kafkajs fetches it again or restarts the consumer and rejoins, and the event is
//   replayed (nothing committed is skipped);
// - a heartbeat refused because the group moved on (rebalance, unknown member) ends the retries at once.
import { isZkError, ZkCode, ZkTimeoutError } from '@fleetcap/lib/zookeeper/errors';

export interface ApplyRetryPolicy {
  /** Attempts for a failure that waiting cannot fix, before the event is dead-lettered. */
  permanentAttempts: number;
  /** Retrying any other failure stops after this long: the partition is given back and the event replayed. */
  releaseAfterMs: number;
}

export const defaultApplyRetryPolicy: ApplyRetryPolicy = { permanentAttempts: 3, releaseAfterMs: 30_000 };

const PERMANENT_ZK_CODES = [
  ZkCode.NO_AUTH,
  ZkCode.INVALID_ACL,
  ZkCode.BAD_ARGUMENTS,
  ZkCode.NO_CHILDREN_FOR_EPHEMERALS,
];
// MariaDB errors about the statement or its data, which a retry repeats: ER_BAD_NULL_ERROR, ER_TABLEACCESS_DENIED_ERROR,
// ER_DATA_TOO_LONG, ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, ER_WARN_DATA_OUT_OF_RANGE.
const PERMANENT_MYSQL_ERRNOS = new Set([1048, 1142, 1406, 1366, 1264]);

/** Whether waiting cannot make this failure go away (so the event is dead-lettered after a few attempts). */
export function isPermanentApplyError(err: unknown): boolean {
  if (err instanceof ZkTimeoutError) return false;
  if (PERMANENT_ZK_CODES.some((code) => isZkError(err, code))) return true;
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && PERMANENT_MYSQL_ERRNOS.has(errno);
}

export type RetryDecision = { action: 'retry' } | { action: 'dead-letter' } | { action: 'release' };

/** What to do after attempt `attempt` (1-based) failed with err, retrying since startedAt. */
export function afterFailure(
  err: unknown,
  attempt: number,
  startedAt: number,
  now: number,
  policy: ApplyRetryPolicy,
): RetryDecision {
  if (isPermanentApplyError(err))
    return attempt >= policy.permanentAttempts ? { action: 'dead-letter' } : { action: 'retry' };
  return now - startedAt >= policy.releaseAfterMs ? { action: 'release' } : { action: 'retry' };
}

/**
 * Thrown out of eachBatch to give the partition back: kafkajs fetches the batch again from the last resolved offset,
 * and after its retries restarts the consumer, which rejoins the group.
 */
export class PartitionReleasedError extends Error {
  override name = 'PartitionReleasedError';
}
