// ZooKeeper ACLs of the agents' nodes (digest scheme), kept by config-sync, the only writer of config nodes:
//   <root>, <root>/agents           config-sync: all. Nobody else may read, create or delete anything there.
//   <root>/agents/<id>              config-sync: all; the agent: read, create, delete (its live node's parent).
//   <root>/agents/<id>/config       config-sync: all; the agent: read. Anonymous clients: nothing.
//   <root>/agents/<id>/live         made by the listener: the agent all, anyone read (status, as agent_status).
// The agent's ids are the ZooKeeper digests of its valid credentials (agent_credential.zk_digest, sql/008), two
// during a rotation; revoking the last one leaves the agent's nodes to config-sync alone, and config-sync deletes
// its live node (which the agent cannot create again). ZooKeeper checks ACLs on every call, so a change is in force
// for sessions already open. What the parent's DELETE allows the agent is deleting its own nodes only.
import type { AgentPaths } from '@fleetcap/lib/agent/paths';
import { withRefusalLog, type ZkAclEntry, ZkPermission } from '@fleetcap/lib/zookeeper/acl';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { isNodeExists, isNoNode } from '@fleetcap/lib/zookeeper/errors';

export const CONFIGSYNC_ZK_USER = 'fleetcap-configsync';

export interface AgentDigestRow {
  agent_id: string;
  zk_digest: string;
  not_after_ms: number | string | null;
  revoked_at: Date | string | null;
}

/** The columns config-sync reads (its account may read these of agent_credential). */
export const agentDigestColumns = [
  'agent_id',
  'zk_digest',
  'UNIX_TIMESTAMP(not_after) * 1000 AS not_after_ms',
  'revoked_at',
] as const;

/** A digest id is `user:base64(sha1)`: user `agent.<id>`, 28 base64 characters. */
const digestPattern = /^agent\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9+/]{27}=$/;

export class ZkAclPolicy {
  private rows: AgentDigestRow[] = [];
  private applied = new Map<string, string>();

  constructor(private readonly configSyncDigestId: string) {}

  private get admin(): ZkAclEntry {
    return { scheme: 'digest', id: this.configSyncDigestId, permissions: ZkPermission.ALL };
  }

  setRows(rows: readonly AgentDigestRow[]): void {
    this.rows = [...rows];
  }

  /** The digests of an agent's credentials valid at `now`, sorted. */
  digests(agentId: string, now = Date.now()): string[] {
    return this.rows
      .filter((r) => r.agent_id === agentId && r.revoked_at === null && digestPattern.test(r.zk_digest))
      .filter((r) => r.not_after_ms === null || Number(r.not_after_ms) > now)
      .map((r) => r.zk_digest)
      .sort();
  }

  /** Agents whose valid digests differ from what was last marked applied (new rows, revocations, expiries). */
  changedAgents(now = Date.now()): string[] {
    const agents = new Set([...this.rows.map((r) => r.agent_id), ...this.applied.keys()]);
    return [...agents].filter((a) => (this.applied.get(a) ?? '') !== this.digests(a, now).join(','));
  }

  markApplied(agentId: string, now = Date.now()): void {
    const d = this.digests(agentId, now).join(',');
    if (d === '') this.applied.delete(agentId);
    else this.applied.set(agentId, d);
  }

  // Each ACL ends with the refusal log's entry: the stack's ZooKeeper logs every refusal (withRefusalLog).
  root(): ZkAclEntry[] {
    return withRefusalLog([this.admin]);
  }

  agent(agentId: string): ZkAclEntry[] {
    const perms = ZkPermission.READ | ZkPermission.CREATE | ZkPermission.DELETE;
    return withRefusalLog([
      this.admin,
      ...this.digests(agentId).map((id) => ({ scheme: 'digest', id, permissions: perms })),
    ]);
  }

  config(agentId: string): ZkAclEntry[] {
    return withRefusalLog([
      this.admin,
      ...this.digests(agentId).map((id) => ({ scheme: 'digest', id, permissions: ZkPermission.READ })),
    ]);
  }
}

export type AclZk = Pick<ZkClient, 'create' | 'setAcl' | 'getChildren' | 'exists' | 'remove'>;

export interface AclSyncEvents {
  updated: (node: 'root' | 'agent' | 'config' | 'live-removed', agentId?: string) => void;
}

/** Applies the policy to the nodes that exist; the mirror creates new nodes with it. */
export class AclSync {
  constructor(
    private readonly zk: AclZk,
    private readonly paths: AgentPaths,
    private readonly policy: ZkAclPolicy,
    private readonly events: AclSyncEvents,
  ) {}

  private async createOrSet(path: string, acl: ZkAclEntry[]): Promise<void> {
    try {
      await this.zk.create(path, null, undefined, acl);
    } catch (err) {
      if (!isNodeExists(err)) throw err;
      await this.zk.setAcl(path, acl);
    }
  }

  /** The root and <root>/agents: config-sync's alone (also repairs the open ACLs of an earlier version). */
  async ensureRoot(): Promise<void> {
    const parts = this.paths.root.split('/').filter(Boolean);
    // The nodes above the root are not ours; create them if missing, leave their ACLs alone.
    for (let i = 1; i < parts.length; i++) {
      const above = `/${parts.slice(0, i).join('/')}`;
      await this.zk.create(above, null, undefined, this.policy.root()).catch((err: unknown) => {
        if (!isNodeExists(err)) throw err;
      });
    }
    await this.createOrSet(this.paths.root, this.policy.root());
    await this.createOrSet(this.paths.agents, this.policy.root());
    this.events.updated('root');
  }

  /** Sets the ACLs of these agents' nodes from the policy; with no valid credential left, removes the live node. */
  async apply(agentIds: readonly string[]): Promise<void> {
    for (const agentId of agentIds) {
      const agentAcl = this.policy.agent(agentId);
      if (await this.setIfExists(this.paths.agent(agentId), agentAcl)) this.events.updated('agent', agentId);
      if (await this.setIfExists(this.paths.config(agentId), this.policy.config(agentId)))
        this.events.updated('config', agentId);
      if (this.policy.digests(agentId).length === 0) {
        const removed = await this.zk.remove(this.paths.live(agentId)).then(
          () => true,
          (err: unknown) => {
            if (isNoNode(err)) return false;
            throw err;
          },
        );
        if (removed) this.events.updated('live-removed', agentId);
      }
      this.policy.markApplied(agentId);
    }
  }

  /** Every agent node under the root (at startup: nodes made before ACLs, or while config-sync was away). */
  async applyAll(): Promise<void> {
    const children = (await this.zk.getChildren(this.paths.agents)) ?? [];
    await this.apply([...new Set([...children, ...this.policy.changedAgents()])]);
  }

  private async setIfExists(path: string, acl: ZkAclEntry[]): Promise<boolean> {
    try {
      await this.zk.setAcl(path, acl);
      return true;
    } catch (err) {
      if (isNoNode(err)) return false;
      throw err;
    }
  }
}
