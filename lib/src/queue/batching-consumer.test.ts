import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { partDeliveries } from './batching-consumer.ts';

function message(parts: number) {
  const settled: string[] = [];
  const dead: Array<[string, string]> = [];
  const deliveries = partDeliveries(
    Array.from({ length: parts }, (_, i) => Buffer.from(`part ${i}`)),
    2,
    { ack: () => settled.push('ack'), requeue: () => settled.push('requeue') },
    async (body, reason) => {
      dead.push([body.toString(), reason]);
    },
  );
  return { deliveries, settled, dead };
}

describe('the deliveries of a message of several parts', () => {
  test('the message is acked once, when its last part is acked or dead-lettered', async () => {
    const { deliveries, settled, dead } = message(3);
    assert.deepEqual(
      deliveries.map((d) => [d.body.toString(), d.deliveryCount]),
      [
        ['part 0', 2],
        ['part 1', 2],
        ['part 2', 2],
      ],
    );
    deliveries[0]!.ack();
    deliveries[0]!.ack();
    await deliveries[2]!.deadLetter('bad part');
    assert.deepEqual(settled, [], 'a part is still open');
    deliveries[1]!.ack();
    assert.deepEqual(settled, ['ack']);
    assert.deepEqual(dead, [['part 2', 'bad part']], 'the part alone goes to the dead queue');
    deliveries[1]!.requeue();
    assert.deepEqual(settled, ['ack'], 'nothing is settled twice');
  });

  test('a part handed back hands the whole message back, once; the others then settle nothing', async () => {
    const { deliveries, settled, dead } = message(3);
    deliveries[0]!.ack();
    deliveries[1]!.requeue();
    deliveries[2]!.requeue();
    deliveries[2]!.ack();
    await deliveries[2]!.deadLetter('late');
    assert.deepEqual(settled, ['requeue']);
    assert.deepEqual(dead, [], 'a part of a message handed back is not dead-lettered');
    assert.ok(deliveries.every((d) => d.settled()));
  });

  test('a message of one part is that part', () => {
    const { deliveries, settled } = message(1);
    deliveries[0]!.ack();
    assert.deepEqual(settled, ['ack']);
  });
});
