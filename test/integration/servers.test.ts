// Each server of the stack, reached through the client library the apps use.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { digestId, ZkPermission } from '@fleetcap/lib/zookeeper/acl';
import { CreateMode, ZkEventType } from '@fleetcap/lib/zookeeper/client';
import { isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { assertStackUp, connections, mysqlAs, uniqueId, zkConnect } from '../helpers/stack.ts';

before(() => assertStackUp());

describe("servers through the apps' clients", () => {
  test('Redis (ioredis): a Lua script appends distinct members to a sorted set atomically', async () => {
    const redis = new Redis(connections.redisUrl);
    const key = uniqueId('itest:zset');
    try {
      // Two identical payloads must stay two members: the member carries a sequence number.
      const script = `local n = redis.call('INCR', KEYS[1]..':seq')
        redis.call('ZADD', KEYS[1], ARGV[1], n..':'..ARGV[2]) return redis.call('ZCARD', KEYS[1])`;
      assert.equal(await redis.eval(script, 1, key, '1.5', 'ack'), 1);
      assert.equal(await redis.eval(script, 1, key, '1.5', 'ack'), 2);
      assert.deepEqual(await redis.zrange(key, 0, -1), ['1:ack', '2:ack']);
    } finally {
      await redis.del(key, `${key}:seq`);
      redis.disconnect();
    }
  });

  test('RabbitMQ (amqplib): a TTL queue dead-letters a persistent message into the ready queue', async () => {
    const conn = await amqp.connect(connections.amqpUrl);
    const ch = await conn.createConfirmChannel();
    const ready = uniqueId('itest.ready');
    const delay = uniqueId('itest.delay');
    try {
      await ch.assertQueue(ready, { durable: true });
      await ch.assertQueue(delay, {
        durable: true,
        arguments: { 'x-message-ttl': 200, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': ready },
      });
      ch.sendToQueue(delay, Buffer.from('{"k":1}'), { persistent: true });
      await ch.waitForConfirms();
      const started = Date.now();
      let got: amqp.GetMessage | false = false;
      while (!got && Date.now() - started < 5000) {
        got = await ch.get(ready, { noAck: true });
        if (!got) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(got, 'message reached the ready queue through dead-lettering');
      assert.equal(got.content.toString(), '{"k":1}');
      assert.ok(Date.now() - started >= 150, 'not before the TTL');
    } finally {
      await ch.deleteQueue(delay);
      await ch.deleteQueue(ready);
      await conn.close();
    }
  });

  test('MariaDB (mysql2): binlog is ROW with FULL row image, and the schema is there', async () => {
    const c = await mysqlAs('admin');
    try {
      const [rows] = await c.query(
        'SELECT @@log_bin AS log_bin, @@binlog_format AS fmt, @@binlog_row_image AS img, @@server_id AS sid',
      );
      assert.deepEqual((rows as unknown[])[0], { log_bin: 1, fmt: 'ROW', img: 'FULL', sid: 1 });
      const [tables] = await c.query(
        'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name',
      );
      const names = (tables as Array<{ t: string }>).map((r) => r.t);
      for (const t of [
        'agent_status',
        'schema_migrations',
        'session_verdict',
        'sniffer_config',
        'report_top_talkers',
      ]) {
        assert.ok(names.includes(t), `${t} exists`);
      }
    } finally {
      await c.end();
    }
  });

  test('ZooKeeper (lib ZkClient over node-zookeeper-client): an ephemeral node vanishes with its session', {
    timeout: 20000,
  }, async () => {
    const path = `/${uniqueId('itest')}`;
    const a = await zkConnect();
    const b = await zkConnect();
    try {
      await a.createEphemeral(path, Buffer.from('{"state":"capturing"}'));
      const node = await b.getData(path);
      assert.equal(node?.data?.toString(), '{"state":"capturing"}');
      assert.ok(node && a.ownsEphemeral(node.stat), "the node is the creator's ephemeral node");
      assert.ok(node && !b.ownsEphemeral(node.stat));
      // The watch must be registered on the server before the owner's session ends.
      let deleted!: (type: number) => void;
      const gone = new Promise<number>((res) => {
        deleted = res;
      });
      assert.ok((await b.exists(path, (event) => deleted(event.getType()))) !== null, 'node there before close');
      await a.close();
      assert.equal(await gone, ZkEventType.NODE_DELETED);
      assert.equal(await b.getData(path), null, 'a missing node reads as null');
    } finally {
      await b.close();
    }
  });

  test('ZooKeeper: nodes get the ACL the client is given; its auth is added to every session', {
    timeout: 20000,
  }, async () => {
    const root = `/${uniqueId('itest-acl')}`;
    const credentials = `fleetcap-itest:${uniqueId('secret')}`;
    const [user, password] = credentials.split(':') as [string, string];
    const auth = [{ scheme: 'digest', credentials }];
    const owner = await zkConnect({
      auth,
      acl: [{ scheme: 'digest', id: digestId(user, password), permissions: ZkPermission.ALL }],
    });
    const other = await zkConnect();
    const again = await zkConnect({ auth });
    try {
      await owner.mkdirp(`${root}/agents`);
      await owner.create(`${root}/agents/a1`, Buffer.from('secret config'), CreateMode.PERSISTENT);
      assert.equal((await owner.getData(`${root}/agents/a1`))?.data?.toString(), 'secret config');
      await assert.rejects(other.getData(`${root}/agents/a1`), (err) => isZkError(err, ZkCode.NO_AUTH));
      await assert.rejects(other.create(`${root}/agents/a2`), (err) => isZkError(err, ZkCode.NO_AUTH));
      // The same digest identity in another session may do what the ACL grants it.
      assert.equal((await again.getData(`${root}/agents/a1`))?.data?.toString(), 'secret config');
    } finally {
      await owner.remove(`${root}/agents/a1`).catch(() => undefined);
      await owner.remove(`${root}/agents`).catch(() => undefined);
      await owner.remove(root).catch(() => undefined);
      await Promise.all([owner.close(), other.close(), again.close()]);
    }
  });

  test('Kafka (kafkajs): a produced message is consumed back', async () => {
    const kafka = new Kafka({ clientId: 'itest', brokers: connections.kafkaBrokers, logLevel: logLevel.NOTHING });
    const topic = uniqueId('itest-topic');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'a', value: 'hello' }] });
    const consumer = kafka.consumer({ groupId: uniqueId('itest-group') });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const value = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message within 20 s')), 20000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolve(String(message.value));
          },
        });
      });
      assert.equal(value, 'hello');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    }
  });
});
