// The queues' promise on a real RabbitMQ cluster (stack/rabbitmq-cluster.sh: 3 nodes, the stack's users): a quorum
// queue declared as the apps declare theirs has a replica on every node, and messages the broker confirmed survive
// kill -9 of the node that leads the queue: a consumer on another node gets every one. This is what splitcap's
// confirmed publishes and the session queues rely on once RabbitMQ is more than one machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConnections } from '@fleetcap/lib/config/connections';
import amqp from 'amqplib';
import { repoRoot, uniqueId } from '../helpers/stack.ts';

const script = join(repoRoot, 'stack', 'rabbitmq-cluster.sh');
function cluster(...args: string[]): string {
  const res = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(res.status, 0, `stack/rabbitmq-cluster.sh ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

const queue = `${uniqueId('rmqc')}.sessions.ready`;
let ports: number[];
/** The operator's AMQP URL with another node's port. */
function urlOf(node: number): string {
  const u = new URL(loadConnections(process.env, 'operator').amqpUrl);
  u.hostname = '127.0.0.1';
  u.port = String(ports[node - 1]);
  return u.toString();
}

before(() => {
  spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'secrets'], { stdio: 'ignore', timeout: 120_000 });
  cluster('up');
  ports = cluster('urls')
    .trim()
    .split(',')
    .map((a) => Number(a.split(':')[1]));
});

after(async () => {
  // The queue goes (from any node still up), then the cluster stops; its data stays for the next run.
  for (const n of [2, 3, 1]) {
    try {
      const c = await amqp.connect(urlOf(n));
      const ch = await c.createChannel();
      await ch.deleteQueue(queue);
      await c.close();
      break;
    } catch {}
  }
  cluster('down');
});

test('a quorum queue has a member on every node, and confirmed messages outlive kill -9 of its leader', {
  timeout: 300_000,
}, async () => {
  const publisher = await amqp.connect(urlOf(1));
  const ch = await publisher.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const total = 2000;
  for (let i = 0; i < total; i++) ch.sendToQueue(queue, Buffer.from(JSON.stringify({ i })), { persistent: true });
  await ch.waitForConfirms();
  await publisher.close().catch(() => {});

  const members = spawnSync(
    'bash',
    [
      '-c',
      `HOME=${process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack')}/rabbitmq-cluster/node-2 /usr/lib/rabbitmq/bin/rabbitmq-queues -q -n fleetcap-c2@localhost quorum_status "${queue}" --formatter json`,
    ],
    { encoding: 'utf8' },
  );
  const status = JSON.parse(members.stdout) as Array<{ 'Node Name': string; 'Raft State': string }>;
  assert.equal(status.length, 3, `a replica on each node: ${members.stdout}${members.stderr}`);
  const leader = status.find((m) => m['Raft State'] === 'leader');
  assert.ok(leader, `the queue has a leader: ${members.stdout}`);
  const leaderNode = Number(/fleetcap-c(\d)@/.exec(leader['Node Name'])![1]);

  cluster('kill', String(leaderNode));
  const killedAt = Date.now();
  const other = leaderNode === 1 ? 2 : 1;
  // A new leader is elected among the two left; until then the consumer's node answers nothing for the queue.
  const seen = new Set<number>();
  let consumer: amqp.ChannelModel | undefined;
  while (seen.size < total && Date.now() - killedAt < 120_000) {
    try {
      if (!consumer) {
        consumer = await amqp.connect(urlOf(other));
        // While the queue has no leader the broker closes the connection (541 nodedown): try again.
        consumer.on('error', () => {});
        consumer.on('close', () => {
          consumer = undefined;
        });
      }
      const cch = await consumer.createChannel();
      cch.on('error', () => {});
      for (;;) {
        const m = await cch.get(queue, { noAck: false });
        if (!m) break;
        seen.add((JSON.parse(m.content.toString()) as { i: number }).i);
        cch.ack(m);
      }
      await cch.close();
    } catch {
      consumer = undefined;
    }
    if (seen.size < total) await sleep(500);
  }
  console.log(
    `# ${seen.size} of ${total} confirmed messages read from node ${other} ${Date.now() - killedAt} ms after kill -9 of the leader (node ${leaderNode})`,
  );
  await consumer?.close().catch(() => {});
  cluster('start', String(leaderNode));
  assert.equal(seen.size, total, 'every confirmed message is still there');
});
