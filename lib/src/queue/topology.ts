// The RabbitMQ queues of the session pipeline. Debian's RabbitMQ has no delayed-message plugin, so
// the delay is a durable queue whose message TTL dead-letters into the ready queue. The delay is part
// of the delay queue's name: changing it declares a new queue instead of failing with
// PRECONDITION_FAILED on the old queue's arguments.
// The TTL queues are quorum queues with at-least-once dead-lettering (RabbitMQ 3.10+): a classic queue
// dead-letters at most once (an expired message is dropped if the ready queue's node cannot take it at that
// moment, e.g. during a restart), a quorum queue keeps the message until the target queue confirms it. They need
// `x-overflow: reject-publish` (at-least-once refuses drop-head), which makes a full queue a refused publish
// (splitcap answers 503) rather than a silent drop. Their names end in `.q`: an existing classic queue of the
// same name could not change type.
// The dead-letter queues are quorum queues too (names ending `.dead.q`): a classic queue lives on one node, and while
// that node is down RabbitMQ refuses to declare it on every other (404 "home node ... is down"), so no app could
// start its consumer anywhere on a cluster that lost that node. A queue's dead-letter target is one of its
// arguments, which cannot change either: the queues that dead-letter into the new dead queues have new names too
// (`.ready.q`, `.due.q`, `.detector.q`, and the TTL queues in front of them `.q2`). Upgrading a deployment that has
// the old queues: docs/OPERATIONS.md, "Upgrading to the quorum dead-letter queues".
import type { Channel } from 'amqplib';
import { detectorDeadQueueName, detectorQueueName, verdictExchangeName } from '../detectors/verdict-event.ts';

// The prefix (FLEETCAP_QUEUE_PREFIX, default "fleetcap") lets several pipelines, or tests, share one broker.
export interface SessionQueues {
  ready: string;
  dead: string;
  delay: string;
}

export function sessionQueueNames(prefix: string, delayMs: number): SessionQueues {
  return {
    ready: `${prefix}.sessions.ready.q`,
    dead: `${prefix}.sessions.dead.q`,
    delay: `${prefix}.sessions.delay.${delayMs}ms.q2`,
  };
}

/** A quorum TTL queue whose expired messages are dead-lettered at least once into `target`. */
export function ttlQueueArguments(ttlMs: number, target: string): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-message-ttl': ttlMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': target,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** A dead-letter queue: quorum, so that it has a replica on every node of a cluster and survives one's loss. */
export const deadQueueOptions = { durable: true, arguments: { 'x-queue-type': 'quorum' } } as const;

/** Deliveries of one message before RabbitMQ dead-letters it (a message that keeps crashing workers). */
export const maxDeliveries = 10;

/**
 * The ready queue is a quorum queue so RabbitMQ counts deliveries: a message that kills worker after
 * worker goes to the dead-letter queue after maxDeliveries instead of looping forever.
 */
export async function declareReadyQueues(
  channel: Channel,
  prefix: string,
): Promise<Pick<SessionQueues, 'ready' | 'dead'>> {
  const q = sessionQueueNames(prefix, 0);
  await channel.assertQueue(q.dead, deadQueueOptions);
  await channel.assertQueue(q.ready, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': maxDeliveries,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': q.dead,
    },
  });
  return { ready: q.ready, dead: q.dead };
}

export async function declareSessionQueues(channel: Channel, prefix: string, delayMs: number): Promise<SessionQueues> {
  const q = sessionQueueNames(prefix, delayMs);
  await declareReadyQueues(channel, prefix);
  await channel.assertQueue(q.delay, { durable: true, arguments: ttlQueueArguments(delayMs, q.ready) });
  return q;
}

/**
 * The sweeper's queues (session-worker, record-sweeper.ts): a look at a connection record is due `sweepMs` after it
 * was armed. Like the session delay, a TTL queue that dead-letters into the due queue; the sweep interval is part of
 * its name. The due queue is a quorum queue with the same delivery limit as the ready queue.
 */
export interface RecordSweepQueues {
  sweep: string;
  due: string;
  dead: string;
}

export function recordSweepQueueNames(prefix: string, sweepMs: number): RecordSweepQueues {
  return {
    sweep: `${prefix}.records.sweep.${sweepMs}ms.q2`,
    due: `${prefix}.records.due.q`,
    dead: `${prefix}.sessions.dead.q`,
  };
}

export async function declareRecordSweepQueues(
  channel: Channel,
  prefix: string,
  sweepMs: number,
): Promise<RecordSweepQueues> {
  const q = recordSweepQueueNames(prefix, sweepMs);
  await channel.assertQueue(q.dead, deadQueueOptions);
  await channel.assertQueue(q.due, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': maxDeliveries,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': q.dead,
    },
  });
  await channel.assertQueue(q.sweep, { durable: true, arguments: ttlQueueArguments(sweepMs, q.due) });
  return q;
}

/**
 * The detector stage's queue: a quorum queue (delivery limit, dead-letter queue) bound to the fanout exchange of
 * verdict events, shared by every detector replica.
 */
export async function declareDetectorQueue(channel: Channel, prefix: string): Promise<{ queue: string; dead: string }> {
  const exchange = verdictExchangeName(prefix);
  const queue = detectorQueueName(prefix);
  const dead = detectorDeadQueueName(prefix);
  await channel.assertExchange(exchange, 'fanout', { durable: true });
  await channel.assertQueue(dead, deadQueueOptions);
  await channel.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': maxDeliveries,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': dead,
    },
  });
  await channel.bindQueue(queue, exchange, '');
  return { queue, dead };
}
