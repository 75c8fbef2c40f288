// What a fault run must show (the CI test and the command line check the same).
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultRunReport } from './fault-run.ts';

export function failedChecks(r: FaultRunReport): string[] {
  const failed: string[] = [];
  // First: a run that did not drain explains the counts that follow (packets of sessions still open count as lost).
  if (!r.drain.drained) failed.push(r.drain.pending);
  if (r.packets.lost > 0)
    failed.push(`${r.packets.lost} packets acknowledged by splitcap are in no row and no counted drop`);
  if (r.packets.duplicated > 0 || r.duplicateVerdicts > 0)
    failed.push(`${r.duplicateVerdicts} sessions have ${r.packets.duplicated} packets counted twice`);
  if (r.unexpectedOccurrences > 0) failed.push(`${r.unexpectedOccurrences} unexpected second occurrences`);
  if (r.incompleteRows > 0) failed.push(`${r.incompleteRows} rows never completed`);
  const stuck = Object.entries(r.stuck.queues).filter(([, n]) => n !== 0);
  if (stuck.length > 0) failed.push(`messages stuck: ${stuck.map(([q, n]) => `${q}=${n}`).join(', ')}`);
  if (r.stuck.deadLettered > 0) failed.push(`${r.stuck.deadLettered} messages dead-lettered`);
  if (r.stuck.redisSessionKeys > 0) failed.push(`${r.stuck.redisSessionKeys} session keys left in Redis`);
  if (r.unhealthy.length > 0) failed.push(`not healthy at the end: ${r.unhealthy.join(', ')}`);
  if (!r.countedDrops.copied) failed.push('packet_drop did not catch up with the drop counts in Redis');
  if (r.countedDrops.countedNotMissing > 0)
    failed.push(`${r.countedDrops.countedNotMissing} packets counted in packet_drop are in a row too`);
  if (!r.configDelivery.ok) failed.push(`sniffer_config did not reach ZooKeeper: ${r.configDelivery.error}`);
  if (r.batches.rejected > 0) failed.push(`${r.batches.rejected} batches rejected by splitcap`);
  if (r.problems.length > 0 && failed.length === 0) failed.push(...r.problems);
  return failed;
}

/**
 * What a drain waits on, read from the real servers by the caller (the fault run and the cluster run read them each
 * their own way: one Redis or a Redis Cluster, one RabbitMQ node or any of three).
 */
export interface DrainProbe {
  /** Messages waiting in each watched queue (the dead-letter queue not among them: that is a check of its own). */
  queueDepths(): Promise<Record<string, number>>;
  /** The session keys still in Redis (s:*, the done markers s:*:d not among them). */
  sessionKeys(): Promise<string[]>;
  /** The run's session_verdict rows whose connection record is still open (completed_at IS NULL). */
  openRows(): Promise<number>;
  /** Batches still in the agents' spools (not yet acknowledged by splitcap); omitted: not waited for. */
  spooled?(): number;
}

export interface DrainOptions {
  /** Give up this long after the start, drained or not. */
  deadlineMs: number;
  /** Give up earlier when what is pending has not shrunk for this long (a wedged pipeline); default: never. */
  stallMs?: number;
  pollMs?: number;
  /** A line every progressMs (default 10 s) with what is pending. */
  log?: (line: string) => void;
  progressMs?: number;
}

export interface DrainState {
  /** Per queue; -1: the queue does not exist (checkQueue refused it), so nothing waits in it. */
  queued: Record<string, number>;
  sessionKeys: number;
  /** Up to 5 of the session keys left, for the failure message. */
  someSessionKeys: string[];
  openRows: number;
  spooled: number;
}

export interface DrainResult extends DrainState {
  drained: boolean;
  waitedMs: number;
  /** Why it is not drained ("" when drained): what is still pending and how long it was waited for. */
  pending: string;
}

function pendingOf(s: DrainState): { total: number; what: string[] } {
  const what: string[] = [];
  let total = 0;
  const queues = Object.entries(s.queued).filter(([, n]) => n > 0);
  for (const [, n] of queues) total += n;
  if (queues.length > 0) what.push(`queued: ${queues.map(([q, n]) => `${q}=${n}`).join(', ')}`);
  if (Object.keys(s.queued).length === 0) {
    total++;
    what.push('queue depths unreadable (RabbitMQ did not answer)');
  }
  if (s.sessionKeys > 0) what.push(`${s.sessionKeys} session keys in Redis (such as ${s.someSessionKeys.join(', ')})`);
  if (s.openRows > 0) what.push(`${s.openRows} verdict rows with an open connection record`);
  if (s.spooled > 0) what.push(`${s.spooled} batches still in the agents' spools`);
  total += s.sessionKeys + s.openRows + s.spooled;
  return { total, what };
}

/**
 * Waits until the pipeline is drained: every spool empty (when the probe reads spools), every watched queue empty, no
 * session key in Redis and no open connection record. It polls every pollMs (500) and stops at the deadline, or
 * earlier when nothing has shrunk for stallMs; the result says what was still pending (the fault run's and the
 * cluster run's failure message).
 */
export async function waitForDrain(probe: DrainProbe, o: DrainOptions): Promise<DrainResult> {
  const t0 = Date.now();
  const pollMs = o.pollMs ?? 500;
  const progressMs = o.progressMs ?? 10_000;
  let lastTotal = Number.POSITIVE_INFINITY;
  let lastProgress = t0;
  let lastLog = t0;
  for (;;) {
    const keys = await probe.sessionKeys().catch(() => ['(Redis unreadable)']);
    const state: DrainState = {
      queued: await probe.queueDepths().catch(() => ({})),
      sessionKeys: keys.length,
      someSessionKeys: keys.slice(0, 5),
      openRows: await probe.openRows().catch(() => -1),
      spooled: probe.spooled?.() ?? 0,
    };
    if (state.openRows < 0) state.openRows = 1;
    const { total, what } = pendingOf(state);
    const now = Date.now();
    if (total === 0) return { ...state, drained: true, waitedMs: now - t0, pending: '' };
    if (total < lastTotal) {
      lastTotal = total;
      lastProgress = now;
    }
    const stalled = o.stallMs !== undefined && now - lastProgress > o.stallMs;
    if (stalled || now - t0 > o.deadlineMs) {
      const why = stalled
        ? `nothing drained for ${Math.round(o.stallMs! / 1000)} s`
        : `deadline of ${Math.round(o.deadlineMs / 1000)} s passed`;
      return {
        ...state,
        drained: false,
        waitedMs: now - t0,
        pending: `pipeline not drained after ${Math.round((now - t0) / 1000)} s (${why}): ${what.join('; ')}`,
      };
    }
    if (o.log && now - lastLog >= progressMs) {
      lastLog = now;
      o.log(`draining (${Math.round((now - t0) / 1000)} s): ${what.join('; ')}`);
    }
    await sleep(pollMs);
  }
}
