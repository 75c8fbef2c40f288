// config-sync against the real stack: SQL edits made with the mariadb command-line client reach ZooKeeper through
// the binlog, Debezium and Kafka; invalid rows are reported in agent_status instead; live nodes come back to
// agent_status; a crash (SIGKILL) loses nothing; a restart after missed events reconciles ZooKeeper with the table;
// Canal flat messages on a topic of their own are applied the same way.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { emptyCounters } from '@fleetcap/lib/agent/ipc';
import { encodeLiveStatus } from '@fleetcap/lib/agent/live-status';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Kafka, logLevel } from 'kafkajs';
import { agentStatusRow, deleteConsumerGroups, waiterFor } from '../helpers/config-sync.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mariadbCli, uniqueId, zkConnect } from '../helpers/stack.ts';

const run = uniqueId('cs');
const group = `itest-${run}`;
const agents: string[] = [];
const agent = (name: string) => {
  const id = `${run}-${name}`;
  agents.push(id);
  return id;
};
const baseEnv = {
  FLEETCAP_CONFIG_SYNC_PORT: '0',
  FLEETCAP_CONFIG_SYNC_GROUP: group,
  FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: '6000',
  FLEETCAP_CONFIG_SYNC_STATUS_RESYNC_MS: '5000',
};

let zk: ZkClient;
let app: RunningApp | undefined;

async function zkGet(path: string): Promise<{ json: Record<string, unknown>; version: number } | null> {
  const node = await zk.getData(path);
  return node === null ? null : { json: JSON.parse(String(node.data)), version: node.stat.version };
}
const configPath = (id: string) => `/fleetcap/agents/${id}/config`;

const waitFor = waiterFor(() => app?.output().slice(-3000) ?? '', 20000);
const waitForRevision = (id: string, revision: number, timeoutMs?: number) =>
  waitFor(
    `${configPath(id)} at revision ${revision}`,
    async () => {
      const n = await zkGet(configPath(id));
      return n && n.json.revision === revision ? n.json : null;
    },
    timeoutMs,
  );
const waitForAbsent = (id: string) =>
  waitFor(`${configPath(id)} deleted`, async () => (await zkGet(configPath(id))) === null);

const insert = (id: string, bpf: string, extra = '') =>
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url${extra ? `, ${extra.split('=')[0]}` : ''}) VALUES ('${id}', 'eth0', '${bpf}', 'http://127.0.0.1:8080'${extra ? `, ${extra.split('=')[1]}` : ''})`,
  );

before(async () => {
  assertStackUp();
  zk = await zkConnect();
  app = await startApp('config-sync', baseEnv, 30000);
});

after(async () => {
  await app?.stop();
  if (agents.length) {
    const list = agents.map((a) => `'${a}'`).join(',');
    mariadbCli(
      `DELETE FROM sniffer_config WHERE agent_id IN (${list}); DELETE FROM agent_status WHERE agent_id IN (${list})`,
    );
    for (const id of agents) {
      for (const p of [configPath(id), `/fleetcap/agents/${id}/live`, `/fleetcap/agents/${id}`]) {
        await zk.remove(p).catch(() => undefined);
      }
    }
  }
  await zk.close();
  // Our consumer groups (empty now that every instance stopped).
  await deleteConsumerGroups({ startingWith: group });
});

describe('SQL edits reach ZooKeeper', () => {
  const id = agent('crud');

  test('INSERT creates the config node with the agent config JSON', async () => {
    insert(id, 'tcp port 80');
    const json = await waitForRevision(id, 1);
    assert.deepEqual(json, {
      agentId: id,
      device: 'eth0',
      bpfFilter: 'tcp port 80',
      splitcapUrl: 'http://127.0.0.1:8080',
      snaplen: 262144,
      batchPackets: 1000,
      batchMs: 1000,
      uploadConcurrency: 2,
      enabled: true,
      revision: 1,
    });
  });

  test('UPDATE sets it (new filter, next revision)', async () => {
    mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port 53', batch_ms=250, enabled=0 WHERE agent_id='${id}'`);
    const json = await waitForRevision(id, 2);
    assert.equal(json.bpfFilter, 'udp port 53');
    assert.equal(json.batchMs, 250);
    assert.equal(json.enabled, false);
  });

  test('DELETE deletes the node; inserting the row again creates it again', async () => {
    mariadbCli(`DELETE FROM sniffer_config WHERE agent_id='${id}'`);
    await waitForAbsent(id);
    await waitFor('no empty agent node left', async () => (await zk.exists(`/fleetcap/agents/${id}`)) === null);
    insert(id, 'icmp');
    const json = await waitForRevision(id, 1);
    assert.equal(json.bpfFilter, 'icmp', 'the new row, although its revision started over at 1');
  });

  test('100 rapid updates of one row end with the last one in force', async () => {
    const rapid = agent('rapid');
    insert(rapid, 'port 0');
    const statements = Array.from(
      { length: 100 },
      (_, i) => `UPDATE sniffer_config SET bpf_filter='port ${i + 1}' WHERE agent_id='${rapid}';`,
    );
    mariadbCli(statements.join('\n'));
    const json = await waitForRevision(rapid, 101, 30000);
    assert.equal(json.bpfFilter, 'port 100');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await zkGet(configPath(rapid)))?.json.revision, 101, 'nothing older lands afterwards');
  });
});

describe('invalid rows', () => {
  test('a row that cannot make a config is not pushed; agent_status says why; a valid revision clears it', async () => {
    const id = agent('invalid');
    insert(id, 'tcp');
    await waitForRevision(id, 1);
    mariadbCli(`UPDATE sniffer_config SET batch_packets=-5 WHERE agent_id='${id}'`);
    const row = await waitFor('config_error in agent_status', async () => {
      const r = await agentStatusRow(id);
      return r?.config_error ? r : null;
    });
    assert.match(String(row.config_error), /batch_packets = -5: batchPackets must be at least 1/);
    assert.equal(Number(row.config_error_revision), 2);
    assert.equal((await zkGet(configPath(id)))?.json.revision, 1, 'the last valid config stays in force');

    mariadbCli(
      `UPDATE sniffer_config SET batch_packets=100, splitcap_url='splitcap:8080', device='' WHERE agent_id='${id}'`,
    );
    const row3 = await waitFor('config_error of revision 3', async () => {
      const r = await agentStatusRow(id);
      return Number(r?.config_error_revision) === 3 ? r : null;
    });
    assert.match(String(row3.config_error), /splitcap_url = "splitcap:8080": splitcapUrl must use http or https/);
    assert.match(String(row3.config_error), /device = "": device must be a network interface name/);

    mariadbCli(`UPDATE sniffer_config SET splitcap_url='http://splitcap:8080', device='eth1' WHERE agent_id='${id}'`);
    const json = await waitForRevision(id, 4);
    assert.equal(json.batchPackets, 100);
    await waitFor('config_error cleared', async () => {
      const r = await agentStatusRow(id);
      return r && r.config_error === null && r.config_error_revision === null;
    });
  });

  test('an invalid first row creates no node', async () => {
    const id = agent('invalid-new');
    insert(id, 'tcp', 'snaplen=10');
    const row = await waitFor(
      'config_error in agent_status',
      async () => (await agentStatusRow(id))?.config_error ?? null,
    );
    assert.match(String(row), /snaplen = 10: snaplen must be at least 96/);
    assert.equal(await zkGet(configPath(id)), null);
  });
});

describe('live status comes back to agent_status', () => {
  test('an ephemeral live node shows the agent online with its status; closing its session makes it offline', async () => {
    const id = agent('live');
    const listenerZk = await zkConnect();
    const live = (revision: number, captured: number) =>
      encodeLiveStatus({
        agentId: id,
        pid: 4242,
        snifferPid: 4243,
        hostname: 'itest-host',
        appliedRevision: revision,
        state: 'capturing',
        lastError: null,
        counters: { ...emptyCounters(), captured, kernelDrops: 3, batchesUploaded: 7, spooled: 1, spoolDropped: 0 },
        updatedAt: new Date().toISOString(),
      });
    await listenerZk.mkdirp(`/fleetcap/agents/${id}`);
    await listenerZk.createEphemeral(`/fleetcap/agents/${id}/live`, live(5, 100));
    let row = await waitFor('agent online', async () => {
      const r = await agentStatusRow(id);
      return r?.online === 1 ? r : null;
    });
    assert.equal(row.pid, 4242);
    assert.equal(Number(row.applied_revision), 5);
    assert.equal(row.state, 'capturing');
    assert.equal(row.last_error, null);
    assert.deepEqual(
      [row.captured, row.kernel_drops, row.batches_uploaded, row.spooled, row.spool_dropped].map(Number),
      [100, 3, 7, 1, 0],
    );
    assert.ok(row.last_seen instanceof Date);

    await listenerZk.setData(`/fleetcap/agents/${id}/live`, live(6, 250));
    row = await waitFor('new status', async () => {
      const r = await agentStatusRow(id);
      return Number(r?.applied_revision) === 6 ? r : null;
    });
    assert.equal(Number(row.captured), 250);

    await listenerZk.close();
    row = await waitFor('agent offline', async () => {
      const r = await agentStatusRow(id);
      return r?.online === 0 ? r : null;
    });
    assert.equal(row.pid, null);
    assert.equal(Number(row.applied_revision), 6, 'the last known status stays readable');
  });
});

describe('stale status', () => {
  test('an agent that agent_status shows online without a live node is set offline', async () => {
    const id = agent('ghost');
    mariadbCli(`INSERT INTO agent_status (agent_id, online, pid, state) VALUES ('${id}', 1, 99, 'capturing')`);
    const row = await waitFor(
      'ghost offline',
      async () => {
        const r = await agentStatusRow(id);
        return r?.online === 0 ? r : null;
      },
      15000,
    );
    assert.equal(row.pid, null);
  });
});

describe('crash and restart', () => {
  test('config-sync killed (SIGKILL) in the middle of a stream and restarted loses nothing', async () => {
    await app?.stop();
    const crashGroup = `${group}-crash`;
    const env = { ...baseEnv, FLEETCAP_CONFIG_SYNC_GROUP: crashGroup, FLEETCAP_CONFIG_SYNC_RECONCILE: 'false' };
    app = await startApp('config-sync', env, 30000);
    const ids = [agent('crash-a'), agent('crash-b'), agent('crash-c')];
    for (const id of ids) insert(id, 'port 0');
    await Promise.all(ids.map((id) => waitForRevision(id, 1)));
    // 60 updates per agent, interleaved, in the background; kill config-sync while they stream in.
    const statements = Array.from({ length: 60 }, (_, i) =>
      ids.map((id) => `UPDATE sniffer_config SET bpf_filter='port ${i + 1}' WHERE agent_id='${id}';`).join('\n'),
    );
    const writer = (async () => {
      for (let i = 0; i < statements.length; i += 10) {
        mariadbCli(statements.slice(i, i + 10).join('\n'));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor(
      'some updates applied',
      async () => Number((await zkGet(configPath(ids[0] as string)))?.json.revision) >= 5,
    );
    app.child.kill('SIGKILL');
    await new Promise((r) => app?.child.once('exit', r));
    const atKill = await Promise.all(ids.map(async (id) => (await zkGet(configPath(id)))?.json.revision));
    await writer;
    app = await startApp('config-sync', env, 30000);
    for (const id of ids) {
      const json = await waitForRevision(id, 61, 40000);
      assert.equal(json.bpfFilter, 'port 60');
    }
    console.log(
      `# revisions in ZooKeeper at the kill: ${atKill.join(', ')}; all at 61 after the restart (reconcile off)`,
    );
  });

  test('SIGTERM in the middle of a stream: exit 0, everything applied is committed, the restart replays nothing', async () => {
    await app?.stop();
    const env = { ...baseEnv, FLEETCAP_CONFIG_SYNC_GROUP: `${group}-term`, FLEETCAP_CONFIG_SYNC_RECONCILE: 'false' };
    app = await startApp('config-sync', env, 30000);
    const id = agent('term');
    insert(id, 'port 0');
    await waitForRevision(id, 1);
    const writer = (async () => {
      for (let i = 1; i <= 40; i++) {
        mariadbCli(`UPDATE sniffer_config SET bpf_filter='port ${i}' WHERE agent_id='${id}'`);
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    await waitFor('some updates applied', async () => Number((await zkGet(configPath(id)))?.json.revision) >= 5);
    assert.equal(await app.stop(), 0, 'SIGTERM: exit 0');
    const atStop = Number((await zkGet(configPath(id)))?.json.revision);
    await writer;
    app = await startApp('config-sync', env, 30000);
    await waitForRevision(id, 41);
    const metrics = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
    const count = (outcome: string) =>
      Number(
        new RegExp(`events_total\\{outcome="${outcome}",format="debezium",app="config-sync"\\} (\\d+)`).exec(
          metrics,
        )?.[1] ?? 0,
      );
    assert.equal(
      count('unchanged') + count('stale'),
      0,
      `nothing applied before the stop was replayed (stopped at revision ${atStop})`,
    );
    assert.equal(count('updated'), 41 - atStop, 'exactly the rest was applied after the restart');
  });

  test('a restart after missed events reconciles ZooKeeper with the table', async () => {
    await app?.stop();
    const keep = agent('rec-keep');
    const edit = agent('rec-edit');
    const gone = agent('rec-gone');
    const tampered = agent('rec-tampered');
    const orphan = agent('rec-orphan');
    app = await startApp('config-sync', baseEnv, 30000);
    for (const id of [keep, edit, gone, tampered]) insert(id, 'tcp');
    await Promise.all([keep, edit, gone, tampered].map((id) => waitForRevision(id, 1)));
    assert.equal(await app.stop(), 0, 'SIGTERM: a clean exit after committing');

    // While config-sync is down: the table changes, and ZooKeeper drifts.
    mariadbCli(
      `UPDATE sniffer_config SET bpf_filter='udp' WHERE agent_id='${edit}'; DELETE FROM sniffer_config WHERE agent_id='${gone}'`,
    );
    const fresh = agent('rec-fresh');
    insert(fresh, 'icmp');
    await zk.remove(configPath(tampered));
    await zk.mkdirp(`/fleetcap/agents/${orphan}`);
    await zk.create(configPath(orphan), Buffer.from(JSON.stringify({ agentId: orphan, revision: 1 })));

    // A new consumer group that starts at the end of the topic: the events above are never delivered to it.
    app = await startApp(
      'config-sync',
      { ...baseEnv, FLEETCAP_CONFIG_SYNC_GROUP: `${group}-late`, FLEETCAP_CONFIG_SYNC_FROM_BEGINNING: 'false' },
      30000,
    );
    assert.equal((await waitForRevision(edit, 2)).bpfFilter, 'udp');
    await waitForAbsent(gone);
    assert.equal((await waitForRevision(fresh, 1)).bpfFilter, 'icmp');
    assert.equal((await waitForRevision(tampered, 1)).bpfFilter, 'tcp');
    await waitForAbsent(orphan);
    assert.equal((await zkGet(configPath(keep)))?.json.revision, 1);
  });
});

describe('Canal flat messages', () => {
  test('Canal INSERT/UPDATE/DELETE on a topic of their own are applied like Debezium events', async () => {
    await app?.stop();
    const topic = `itest-canal-${run}`;
    const kafka = new Kafka({ clientId: 'itest-canal', brokers: connections.kafkaBrokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const id = agent('canal');
    const row = (rev: number, bpf: string) => ({
      agent_id: id,
      device: 'eth0',
      bpf_filter: bpf,
      splitcap_url: 'http://127.0.0.1:8080',
      snaplen: '65535',
      batch_packets: '500',
      batch_ms: '1000',
      upload_concurrency: '2',
      enabled: '1',
      revision: String(rev),
    });
    const msg = (type: string, data: unknown[], old: unknown[] | null) => ({
      key: id,
      value: JSON.stringify({
        data,
        old,
        type,
        database: connections.mysql.database,
        table: 'sniffer_config',
        isDdl: false,
        es: Date.now(),
        ts: Date.now(),
        pkNames: ['agent_id'],
      }),
    });
    try {
      app = await startApp(
        'config-sync',
        {
          ...baseEnv,
          FLEETCAP_CONFIG_SYNC_GROUP: `${group}-canal`,
          FLEETCAP_CONFIG_SYNC_TOPIC: topic,
          FLEETCAP_CONFIG_SYNC_RECONCILE: 'false',
        },
        30000,
      );
      await producer.send({ topic, messages: [msg('INSERT', [row(1, 'tcp')], null)] });
      const json = await waitForRevision(id, 1);
      assert.equal(json.snaplen, 65535);
      assert.equal(json.batchPackets, 500);
      await producer.send({
        topic,
        messages: [
          msg('UPDATE', [row(2, 'udp')], [{ bpf_filter: 'tcp', revision: '1' }]),
          { key: id, value: '{"not": "a change event"}' },
          msg('UPDATE', [row(3, 'udp port 53')], [{ bpf_filter: 'udp', revision: '2' }]),
        ],
      });
      assert.equal(
        (await waitForRevision(id, 3)).bpfFilter,
        'udp port 53',
        'a malformed message in between is skipped',
      );
      await producer.send({ topic, messages: [msg('DELETE', [row(3, 'udp port 53')], null)] });
      await waitForAbsent(id);
      const metrics = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
      assert.match(
        metrics,
        /fleetcap_config_sync_events_total\{outcome="malformed",format="unknown",app="config-sync"\} 1/,
      );
      assert.match(
        metrics,
        /fleetcap_config_sync_events_total\{outcome="updated",format="canal",app="config-sync"\} 2/,
      );
      assert.match(
        metrics,
        /^fleetcap_process_cpu_seconds_total\{app="config-sync"\}/m,
        'default metrics prefixed too',
      );
      const health = await fetch(`http://127.0.0.1:${app.port}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { ok: true, checks: { kafka: 'ok', zookeeper: 'ok', mysql: 'ok' } });
    } finally {
      await producer.disconnect();
      // Stop the consumer first: while it is subscribed, its metadata requests would create the topic again.
      await app?.stop();
      app = undefined;
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
