// What the config-sync integration tests share: the agent_status row as the dashboards read it, waiting for an
// effect with the apps' output in the failure, removing the Kafka consumer groups their instances joined, and, for
// the tests with a real listener, its sniffer_config row and the listener in a network namespace; and one config-sync
// with a ZooKeeper client of the test's own, started and cleaned up as every such test does (startConfigSync).
import { join } from 'node:path';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { RowDataPacket } from 'mysql2/promise';
import { type AgentProcess, createVethPair, destroy, relayZooKeeper, startAgentApp, type VethPair } from './netns.ts';
import { type RunningApp, startApp } from './processes.ts';
import { connections, mariadbCli, mysqlAs, removeZkTree, repoRoot, zkConnect } from './stack.ts';

/** The agent_status row of an agent, read as fleetcap_report (the account that only reads it); undefined if none. */
export async function agentStatusRow(agentId: string): Promise<RowDataPacket | undefined> {
  const db = await mysqlAs('report');
  try {
    const [rows] = await db.query<RowDataPacket[]>('SELECT * FROM agent_status WHERE agent_id = ?', [agentId]);
    return rows[0];
  } finally {
    await db.end();
  }
}

export type WaitFor = <T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs?: number,
) => Promise<T>;

/**
 * A waitFor(what, fn, timeoutMs = defaultTimeoutMs) that polls fn every 100 ms until it returns anything but null,
 * undefined or false, and resolves with that. An error thrown by fn counts as not yet (what the servers answer
 * mid-change is not the test's verdict); when the time is up it fails naming `what`, the last error and
 * appOutput(): the recent output of the apps under test, which says why the effect never came.
 */
export function waiterFor(appOutput: () => string, defaultTimeoutMs: number): WaitFor {
  return async (what, fn, timeoutMs = defaultTimeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined && v !== null && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}\n${appOutput()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  };
}

/**
 * Deletes consumer groups, given by id or by the prefix a test gave all of its own; they are empty once every
 * config-sync instance of the test stopped. A group that is not there is fine.
 */
export async function deleteConsumerGroups(groups: string[] | { startingWith: string }): Promise<void> {
  const admin = new Kafka({
    clientId: 'itest-cleanup',
    brokers: connections.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const ids = Array.isArray(groups)
      ? groups
      : (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(groups.startingWith));
    await admin.deleteGroups(ids).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

/**
 * The sniffer_config row the listener tests start from: capture bpfFilter on device in batches of 200 ms, uploads
 * to a port where nothing listens (these tests read agent_status, not what arrives).
 */
export function insertCaptureConfig(agentId: string, device: string, bpfFilter: string): void {
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url, batch_ms) VALUES ('${agentId}', '${device}', '${bpfFilter}', 'http://127.0.0.1:9', 200)`,
  );
}

/** Removes the agent's rows of sniffer_config and agent_status. */
export function deleteAgentRows(agentId: string): void {
  mariadbCli(
    `DELETE FROM sniffer_config WHERE agent_id='${agentId}'; DELETE FROM agent_status WHERE agent_id='${agentId}'`,
  );
}

/**
 * An agent's host: namespace A of a veth pair, with the stack's ZooKeeper relayed to 127.0.0.1:2181 inside it
 * (relayZooKeeper), where a real listener runs and its sniffer captures on devA; traffic comes from namespace B.
 */
export class ListenerHost {
  listener: AgentProcess | undefined;

  private constructor(readonly pair: VethPair) {}

  static async create(): Promise<ListenerHost> {
    const pair = createVethPair();
    try {
      await relayZooKeeper(pair, pair.nsA);
    } catch (err) {
      destroy(pair);
      throw err;
    }
    return new ListenerHost(pair);
  }

  /** Starts the listener of agentId, refreshing its live node every 300 ms and its counters every 200 ms; env adds to that. */
  startListener(agentId: string, env: Record<string, string> = {}): AgentProcess {
    this.listener = startAgentApp(this.pair, this.pair.nsA, 'listener', repoRoot, {
      FLEETCAP_AGENT_ID: agentId,
      FLEETCAP_ZK_CONNECT: '127.0.0.1:2181',
      FLEETCAP_LOG_LEVEL: 'warn',
      FLEETCAP_LIVE_REFRESH_MS: '300',
      FLEETCAP_DRAIN_MS: '500',
      FLEETCAP_STATS_INTERVAL_MS: '200',
      FLEETCAP_SPOOL_DIR: join(this.pair.dir, 'spool'),
      ...env,
    });
    return this.listener;
  }

  /** The listener's output so far (the sniffer's included), '' before it started. */
  output(): string {
    return this.listener?.output() ?? '';
  }

  /** Stops the listener (if it still runs) and removes the namespaces. */
  async close(): Promise<void> {
    await this.listener?.stop().catch(() => null);
    destroy(this.pair);
  }
}

/** For waitFor: the agent_status row once it shows `revision` applied and capturing (and the agent online, if asked). */
export function capturingAt(
  agentId: string,
  revision: number,
  { online = false } = {},
): () => Promise<RowDataPacket | null> {
  return async () => {
    const r = await agentStatusRow(agentId);
    return (!online || r?.online === 1) && Number(r?.applied_revision) === revision && r?.state === 'capturing'
      ? r
      : null;
  };
}

/**
 * The settings of config-sync instances that share one consumer group, as the group tests run them: a short session
 * (a killed instance's partitions move within seconds), only changes made from now on, and the stream alone (no
 * reconcile fills a gap, so what arrives must come from the committed offsets). `extra` adds to them (the brokers).
 */
export function configSyncGroupEnv(group: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FLEETCAP_CONFIG_SYNC_PORT: '0',
    FLEETCAP_CONFIG_SYNC_GROUP: group,
    FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: '6000',
    FLEETCAP_CONFIG_SYNC_FROM_BEGINNING: 'false',
    FLEETCAP_CONFIG_SYNC_RECONCILE: 'false',
    ...extra,
  };
}

/** The sniffer_config partition (of `partitions`) Debezium's record of an agent goes to. */
export function snifferConfigPartition(agentId: string, partitions = 3): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  // Debezium's JsonConverter key, hashed like Kafka's Java default partitioner (murmur2).
  return Partitioners.DefaultPartitioner()({
    topic: 't',
    partitionMetadata,
    message: { key: JSON.stringify({ agent_id: agentId }), value: null },
  });
}

/** Agent ids `${run}-N`, `perPartition` of them on each of the topic's `partitions`: every instance gets some. */
export function agentsOnEveryPartition(run: string, perPartition = 2, partitions = 3): string[] {
  const agents: string[] = [];
  for (let i = 0; agents.length < perPartition * partitions; i++) {
    const id = `${run}-${i}`;
    const p = snifferConfigPartition(id, partitions);
    if (agents.filter((a) => snifferConfigPartition(a, partitions) === p).length < perPartition) agents.push(id);
  }
  return agents;
}

/** One config-sync of a test's own consumer group, with the test's ZooKeeper client (startConfigSync). */
export interface ConfigSyncUnderTest {
  app: RunningApp;
  zk: ZkClient;
  /**
   * Stops config-sync, removes the agents' rows and the ZooKeeper trees given (with their nodes), closes the ZooKeeper
   * client and deletes the consumer group. Safe to call from an `after` whose `before` failed half-way.
   */
  close(cleanup: { agents?: string[]; zkTrees?: string[] }): Promise<void>;
}

/**
 * Connects a ZooKeeper client and starts config-sync in consumer group `group` (its port chosen by the system); `env`
 * adds to or overrides that (FLEETCAP_ZK_ROOT, the session timeout, reconcile off...).
 */
export async function startConfigSync(
  group: string,
  env: Record<string, string> = {},
  readyTimeoutMs = 30_000,
): Promise<ConfigSyncUnderTest> {
  const zk = await zkConnect();
  let app: RunningApp;
  try {
    app = await startApp(
      'config-sync',
      { FLEETCAP_CONFIG_SYNC_PORT: '0', FLEETCAP_CONFIG_SYNC_GROUP: group, ...env },
      readyTimeoutMs,
    );
  } catch (err) {
    await zk.close();
    throw err;
  }
  return {
    app,
    zk,
    async close({ agents = [], zkTrees = [] }) {
      await app.stop();
      for (const agent of agents) deleteAgentRows(agent);
      for (const tree of zkTrees) await removeZkTree(zk, tree).catch(() => {});
      await zk.close();
      await deleteConsumerGroups([group]).catch(() => {});
    },
  };
}
