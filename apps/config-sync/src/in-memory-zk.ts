// An in-memory ZooKeeper for the unit tests of the two mirrors (zk-mirror, status-mirror), which decide by what
// ZooKeeper answers: versioned nodes, the errors of a lost race (NODE_EXISTS, NO_NODE, BAD_VERSION, NOT_EMPTY),
// one-shot exists and children watches, and the 'session' event of a new session. set() and delete() are another
// client's writes (a listener's live node). No runtime code imports it.
import { EventEmitter } from 'node:events';
import type { Watcher, ZkWatchEvent } from '@fleetcap/lib/zookeeper/client';
import { ZkCode } from '@fleetcap/lib/zookeeper/errors';
import type { StatusZk } from './status-mirror.ts';
import type { ZkOps } from './zk-mirror.ts';

/** Rejected like node-zookeeper-client rejects: an error carrying ZooKeeper's numeric code. */
class ZkFail extends Error {
  constructor(readonly code: number) {
    super(`zk error ${code}`);
  }
}

export class InMemoryZk extends EventEmitter implements ZkOps, StatusZk {
  nodes = new Map<string, { data: Buffer; version: number }>();
  /** Called before a write, to simulate another writer getting there first. */
  beforeWrite: (() => void) | null = null;
  /** Successful create, setData and remove calls. */
  writes = 0;
  private existsWatches = new Map<string, Set<Watcher>>();
  private childWatches = new Map<string, Set<Watcher>>();

  async exists(path: string, watcher?: Watcher) {
    this.watch(this.existsWatches, path, watcher);
    const n = this.nodes.get(path);
    return n ? ({ version: n.version } as never) : null;
  }
  async getData(path: string) {
    const n = this.nodes.get(path);
    return n ? { data: n.data, stat: { version: n.version } as never } : null;
  }
  async getChildren(path: string, watcher?: Watcher) {
    if (!this.nodes.has(path)) return null;
    this.watch(this.childWatches, path, watcher);
    const prefix = `${path}/`;
    return [
      ...new Set(
        [...this.nodes.keys()]
          .filter((k) => k.startsWith(prefix))
          .map((k) => k.slice(prefix.length).split('/')[0] as string),
      ),
    ];
  }
  async mkdirp(path: string) {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (!this.nodes.has(p)) this.set(p, '');
    }
    return path;
  }
  async create(path: string, data: Buffer | null) {
    this.hook();
    if (this.nodes.has(path)) throw new ZkFail(ZkCode.NODE_EXISTS);
    this.put(path, data ?? Buffer.alloc(0));
    this.writes++;
    return path;
  }
  async setData(path: string, data: Buffer, version = -1) {
    this.hook();
    const n = this.nodes.get(path);
    if (!n) throw new ZkFail(ZkCode.NO_NODE);
    if (version !== -1 && version !== n.version) throw new ZkFail(ZkCode.BAD_VERSION);
    this.put(path, data);
    this.writes++;
    return {} as never;
  }
  async remove(path: string, version = -1) {
    this.hook();
    const n = this.nodes.get(path);
    if (!n) throw new ZkFail(ZkCode.NO_NODE);
    if (version !== -1 && version !== n.version) throw new ZkFail(ZkCode.BAD_VERSION);
    if ([...this.nodes.keys()].some((k) => k.startsWith(`${path}/`))) throw new ZkFail(ZkCode.NOT_EMPTY);
    this.delete(path);
    this.writes++;
  }

  /** Another client creates or sets the node (its parents need not exist). */
  set(path: string, data: string) {
    this.put(path, Buffer.from(data));
  }
  /** Another client removes the node and everything under it. */
  delete(path: string) {
    for (const k of [...this.nodes.keys()]) if (k === path || k.startsWith(`${path}/`)) this.nodes.delete(k);
    this.fire(this.existsWatches, path);
    this.fire(this.childWatches, parentOf(path));
  }

  /** The node's data as JSON, undefined when there is no node. */
  json(path: string) {
    const n = this.nodes.get(path);
    return n ? JSON.parse(n.data.toString()) : undefined;
  }
  /** Exists watches armed and not fired yet. */
  watchCount() {
    return [...this.existsWatches.values()].reduce((n, s) => n + s.size, 0);
  }

  private put(path: string, data: Buffer) {
    const n = this.nodes.get(path);
    this.nodes.set(path, { data, version: n ? n.version + 1 : 0 });
    this.fire(this.existsWatches, path);
    if (!n) this.fire(this.childWatches, parentOf(path));
  }
  private hook() {
    const h = this.beforeWrite;
    this.beforeWrite = null;
    h?.();
  }
  private watch(map: Map<string, Set<Watcher>>, path: string, w?: Watcher) {
    if (!w) return;
    if (!map.has(path)) map.set(path, new Set());
    map.get(path)?.add(w);
  }
  private fire(map: Map<string, Set<Watcher>>, path: string) {
    const ws = map.get(path);
    map.delete(path); // one-shot, like ZooKeeper
    for (const w of ws ?? []) w({ getPath: () => path } as unknown as ZkWatchEvent);
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
