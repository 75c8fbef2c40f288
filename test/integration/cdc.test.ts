// The change stream: SQL edits of sniffer_config, made with the mariadb command-line client,
// arrive on Kafka as Debezium change events (c, u, d) within seconds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { Kafka, logLevel } from 'kafkajs';
import { assertStackUp, connections, mariadbCli, uniqueId } from '../helpers/stack.ts';

interface ChangeEvent {
  op: 'c' | 'u' | 'd' | 'r';
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: { table: string };
}

const kafka = new Kafka({ clientId: 'itest-cdc', brokers: connections.kafkaBrokers, logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: uniqueId('itest-cdc') });
const agentId = uniqueId('cdc-agent');
const events: ChangeEvent[] = [];
let notify: (() => void) | undefined;

async function nextEvents(count: number, withinMs: number): Promise<ChangeEvent[]> {
  const deadline = Date.now() + withinMs;
  while (events.length < count && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      notify = resolve;
      setTimeout(resolve, 200);
    });
  }
  return events.splice(0, count);
}

before(async () => {
  assertStackUp();
  await consumer.connect();
  await consumer.subscribe({ topic: snifferConfigTopic(connections.mysql.database), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      const event = JSON.parse(String(message.value)) as ChangeEvent;
      const row = event.after ?? event.before;
      if (row?.agent_id !== agentId) return;
      events.push(event);
      notify?.();
    },
  });
});

after(async () => {
  await consumer.disconnect();
  mariadbCli(`DELETE FROM sniffer_config WHERE agent_id='${agentId}'`);
});

test('INSERT arrives as a create event with the row', async () => {
  const t0 = Date.now();
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url) VALUES ('${agentId}', 'eth0', 'tcp port 80', 'http://127.0.0.1:8080')`,
  );
  const [ev] = await nextEvents(1, 20000);
  assert.ok(ev, 'a change event arrived');
  assert.equal(ev.op, 'c');
  assert.equal(ev.before, null);
  assert.equal(ev.after?.bpf_filter, 'tcp port 80');
  assert.equal(ev.after?.revision, 1);
  assert.equal(ev.source.table, 'sniffer_config');
  console.log(`# insert -> kafka in ${Date.now() - t0} ms`);
});

test('UPDATE arrives as an update event with before and after, and the revision increased', async () => {
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port 53' WHERE agent_id='${agentId}'`);
  const [ev] = await nextEvents(1, 20000);
  assert.ok(ev, 'a change event arrived');
  assert.equal(ev.op, 'u');
  assert.equal(ev.before?.bpf_filter, 'tcp port 80');
  assert.equal(ev.after?.bpf_filter, 'udp port 53');
  assert.equal(ev.after?.revision, 2, 'the trigger increases the revision on every UPDATE');
});

test('DELETE arrives as a delete event with the old row', async () => {
  mariadbCli(`DELETE FROM sniffer_config WHERE agent_id='${agentId}'`);
  const [ev] = await nextEvents(1, 20000);
  assert.ok(ev, 'a change event arrived');
  assert.equal(ev.op, 'd');
  assert.equal(ev.after, null);
  assert.equal(ev.before?.agent_id, agentId);
  assert.equal(ev.before?.revision, 2);
});
