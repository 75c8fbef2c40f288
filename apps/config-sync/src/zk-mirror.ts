// Applies sniffer_config changes to ZooKeeper, idempotently and revision-checked, so that a replay after a crash,
// a second config-sync instance or a reconcile never moves a node backwards:
//   insert / snapshot / update -> create the config node, or set it (conditional on the version read);
//   delete                     -> delete the config node (conditional on the version read);
//   an event older than the revision the node holds is skipped; equal revision and equal JSON is a no-op.
// A row that cannot make a valid agent config is not pushed: the reason goes to agent_status.config_error.
import { type AgentPaths, isPathSafeAgentId } from '@fleetcap/lib/agent/paths';
import {
  type AgentConfigError,
  agentConfigToJson,
  type SnifferConfigRow,
  safeAgentConfigFromRow,
} from '@fleetcap/lib/config/agent-config';
import type { ZkClient, ZkNode } from '@fleetcap/lib/zookeeper/client';
import { isNodeExists, isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';
import type { StatusStore } from './agent-status.ts';
import { type RowChange, revisionOf } from './change-event.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { ZkAclPolicy } from './zk-acl.ts';

/** The ZooKeeper calls the mirror makes (an in-memory fake implements them in the unit tests). */
export type ZkOps = Pick<ZkClient, 'getData' | 'setData' | 'create' | 'remove' | 'mkdirp' | 'getChildren'>;

export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'stale' | 'deleted' | 'absent' | 'invalid';

export interface ApplyOptions {
  /**
   * Reconcile only: the row was just read from the table, which is the truth, so a node holding a newer revision is
   * overwritten too (a row deleted and inserted again starts over at a lower revision).
   */
  overwriteNewer?: boolean;
}

/** Camel-case config fields -> sniffer_config columns, to name the column an operator has to fix. */
const columnOf: Record<string, string> = {
  agentId: 'agent_id',
  device: 'device',
  bpfFilter: 'bpf_filter',
  splitcapUrl: 'splitcap_url',
  snaplen: 'snaplen',
  batchPackets: 'batch_packets',
  batchMs: 'batch_ms',
  uploadConcurrency: 'upload_concurrency',
  enabled: 'enabled',
  revision: 'revision',
};

function shown(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * One line per problem, naming the column, the value it holds and what is allowed, e.g.
 * `batch_packets = -5: batchPackets must be at least 1`.
 */
export function describeConfigError(row: SnifferConfigRow, error: AgentConfigError): string {
  const lines = error.issues.map((issue) => {
    const field = issue.slice(0, issue.indexOf(':'));
    const column = columnOf[field];
    return column ? `${column} = ${shown(row[column])}: ${issue.slice(issue.indexOf(':') + 1).trim()}` : issue;
  });
  return `sniffer_config row not pushed to ZooKeeper (revision ${shown(row.revision)}): ${lines.join('; ')}`;
}

/** The revision a config node holds, or null when its data is not a config with a revision. */
export function heldRevision(data: Buffer | null): number | null {
  if (!data || data.length === 0) return null;
  try {
    const value = JSON.parse(data.toString('utf8')) as { revision?: unknown };
    return typeof value.revision === 'number' && Number.isSafeInteger(value.revision) ? value.revision : null;
  } catch {
    return null;
  }
}

/** A config node as this mirror last read or wrote it: its version then, and its data. */
interface KnownNode {
  version: number;
  data: string;
}

export class ZkMirror {
  private readonly lock = new KeyedLock();
  /**
   * The config nodes as this mirror last read or wrote them. A change is written with a set conditional on the
   * version known (ZooKeeper adds exactly 1 to a node's version on every set), without reading the node first: at
   * fleet scale, one UPDATE of 1,000 agents' rows, a read before each set put every read of the session behind the
   * sets before it (ZooKeeper answers a session's requests in order, a set only once committed), seconds in all. A
   * set refused (another writer since: BAD_VERSION, or no node) forgets the entry and decides again on a fresh
   * read, as every outcome other than a write does: only a write relies on the entry, and the version makes it safe.
   * forgetKnown() drops every entry (after a rebalance, when another instance may have written meanwhile).
   */
  private readonly known = new Map<string, KnownNode>();

  constructor(
    private readonly zk: ZkOps,
    private readonly paths: AgentPaths,
    private readonly status: StatusStore,
    /** With ACLs (digest): new agent and config nodes get the policy's ACLs (zk-acl.ts); without, the client's. */
    private readonly acl?: ZkAclPolicy,
  ) {}

  /** Forgets every node's known version: the next change of each reads its node first. */
  forgetKnown(): void {
    this.known.clear();
  }

  /** The revision the agent's config node holds (null: none, or no revision in it). */
  async heldRevision(agentId: string): Promise<number | null> {
    const current = await this.zk.getData(this.paths.config(agentId));
    return current ? heldRevision(current.data) : null;
  }

  /** Applies one change from the stream; resolves once ZooKeeper (and agent_status) hold its effect. */
  apply(change: RowChange): Promise<ApplyOutcome> {
    if (change.op === 'delete') return this.remove(change.agentId, change.revision);
    return this.upsert(change.agentId, change.after as SnifferConfigRow);
  }

  /** Makes the config node hold this row (create or set), unless the node already holds a newer revision. */
  upsert(agentId: string, row: SnifferConfigRow, options: ApplyOptions = {}): Promise<ApplyOutcome> {
    return this.lock.run(agentId, () => this.upsertLocked(agentId, row, options));
  }

  /** Deletes the config node, unless it holds a newer revision than the deleted row (then a newer row exists). */
  remove(agentId: string, revision: number | null): Promise<ApplyOutcome> {
    return this.lock.run(agentId, () => this.removeLocked(agentId, revision));
  }

  private async upsertLocked(agentId: string, row: SnifferConfigRow, options: ApplyOptions): Promise<ApplyOutcome> {
    const revision = revisionOf(row);
    const parsed = safeAgentConfigFromRow(row);
    if (!isPathSafeAgentId(agentId)) {
      // Not a usable path segment: nothing can exist in ZooKeeper for it; the schema says why.
      await this.status.recordConfigError(
        agentId.slice(0, 64),
        parsed.ok ? `agent_id ${shown(agentId)} cannot name a ZooKeeper node` : describeConfigError(row, parsed.error),
        revision,
      );
      return 'invalid';
    }
    const path = this.paths.config(agentId);
    for (;;) {
      const known = this.known.get(agentId);
      const current: ZkNode | null = known
        ? ({ data: Buffer.from(known.data), stat: { version: known.version } } as ZkNode)
        : await this.zk.getData(path);
      if (!known && current)
        this.known.set(agentId, { version: current.stat.version, data: String(current.data ?? '') });
      const held = current ? heldRevision(current.data) : null;
      const json = parsed.ok ? agentConfigToJson(parsed.value) : null;
      const writes = parsed.ok && !(held !== null && revision !== null && !options.overwriteNewer && held > revision);
      if (known && !(writes && current?.data?.toString('utf8') !== json)) {
        // Only a conditional set relies on the known version: any other outcome is decided on a fresh read.
        this.known.delete(agentId);
        continue;
      }
      const isStale = held !== null && revision !== null && !options.overwriteNewer && held > revision;
      if (!parsed.ok) {
        // Replayed invalid revisions that a valid one has since replaced are not reported again.
        if (held !== null && revision !== null && held >= revision && !options.overwriteNewer) return 'stale';
        await this.status.recordConfigError(agentId, describeConfigError(row, parsed.error), revision);
        return 'invalid';
      }
      if (isStale) return 'stale';
      const text = json ?? agentConfigToJson(parsed.value);
      if (current) {
        if (current.data?.toString('utf8') === text) {
          await this.status.clearConfigError(agentId, revision);
          return 'unchanged';
        }
        try {
          await this.zk.setData(path, Buffer.from(text), current.stat.version);
        } catch (err) {
          this.known.delete(agentId);
          // Someone else wrote or deleted it since we read it: read again and decide again.
          if (isZkError(err, ZkCode.BAD_VERSION) || isZkError(err, ZkCode.NO_NODE)) continue;
          throw err;
        }
        this.known.set(agentId, { version: current.stat.version + 1, data: text });
        await this.status.clearConfigError(agentId, revision);
        return 'updated';
      }
      if (this.acl) {
        // The root and <root>/agents exist (AclSync.ensureRoot); the agent's node gets its own ACL.
        await this.zk.create(this.paths.agent(agentId), null, undefined, this.acl.agent(agentId)).catch((err) => {
          if (!isNodeExists(err)) throw err;
        });
      } else await this.zk.mkdirp(this.paths.agent(agentId));
      try {
        await this.zk.create(path, Buffer.from(text), undefined, this.acl?.config(agentId));
      } catch (err) {
        if (isZkError(err, ZkCode.NODE_EXISTS)) continue;
        throw err;
      }
      this.known.set(agentId, { version: 0, data: text });
      await this.status.clearConfigError(agentId, revision);
      return 'created';
    }
  }

  private async removeLocked(agentId: string, revision: number | null): Promise<ApplyOutcome> {
    if (!isPathSafeAgentId(agentId)) return 'absent';
    this.known.delete(agentId);
    const path = this.paths.config(agentId);
    for (;;) {
      const current = await this.zk.getData(path);
      if (!current) {
        await this.status.clearConfigError(agentId, revision);
        return 'absent';
      }
      const held = heldRevision(current.data);
      if (held !== null && revision !== null && held > revision) return 'stale';
      try {
        await this.zk.remove(path, current.stat.version);
      } catch (err) {
        if (isZkError(err, ZkCode.BAD_VERSION)) continue;
        if (isZkError(err, ZkCode.NO_NODE)) continue;
        throw err;
      }
      // The agent's own node goes too unless something is still under it (the listener's live node): no empty
      // nodes pile up for agents that are gone. A listener creating its live node meanwhile just retries.
      await this.zk.remove(this.paths.agent(agentId)).catch((err: unknown) => {
        if (!isZkError(err, ZkCode.NOT_EMPTY) && !isZkError(err, ZkCode.NO_NODE)) throw err;
      });
      await this.status.clearConfigError(agentId, revision);
      return 'deleted';
    }
  }

  /** The agent ids under <root>/agents that have a config node, with the revision each holds. */
  async configNodes(): Promise<Map<string, number | null>> {
    const children = (await this.zk.getChildren(this.paths.agents)) ?? [];
    const nodes = new Map<string, number | null>();
    for (const id of children) {
      const current = await this.zk.getData(this.paths.config(id));
      if (current) nodes.set(id, heldRevision(current.data));
    }
    return nodes;
  }
}
