// A small promise wrapper around node-zookeeper-client: one session at a time, replaced when ZooKeeper expires it
// (watches die with a session, so listeners re-arm on 'session'). Every call has a timeout, so that a caller that
// holds a Kafka partition never waits forever on a lost connection.
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';

export type ZkEvent = zookeeper.Event;
export type ZkStat = zookeeper.Stat;
export type Watcher = (event: ZkEvent) => void;

export const ZkCode = zookeeper.Exception;
export const ZkEventType = zookeeper.Event;

/** True when err is a ZooKeeper exception with that code (NO_NODE, NODE_EXISTS, BAD_VERSION, ...). */
export function isZkError(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export class ZkTimeoutError extends Error {
  override name = 'ZkTimeoutError';
}

export interface ZkOptions {
  connect: string;
  sessionTimeoutMs?: number;
  opTimeoutMs?: number;
}

export interface ZkLogger {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

/**
 * Emits 'session' every time a new session is established (first connect and after expiry), 'connected' and
 * 'disconnected' as the connection comes and goes.
 */
export class Zk extends EventEmitter {
  private client: zookeeper.Client;
  private closed = false;
  private connectedNow = false;
  private readonly opTimeoutMs: number;

  constructor(
    private readonly options: ZkOptions,
    private readonly log?: ZkLogger,
  ) {
    super();
    this.opTimeoutMs = options.opTimeoutMs ?? 10_000;
    this.client = this.newClient();
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  private newClient(): zookeeper.Client {
    const client = zookeeper.createClient(this.options.connect, {
      sessionTimeout: this.options.sessionTimeoutMs ?? 15_000,
      spinDelay: 500,
      retries: 2,
    });
    let first = true;
    client.on('connected', () => {
      this.connectedNow = true;
      this.emit('connected');
      if (first) {
        first = false;
        this.log?.info({ connect: this.options.connect }, 'ZooKeeper session established');
        this.emit('session');
      }
    });
    client.on('disconnected', () => {
      this.connectedNow = false;
      this.emit('disconnected');
    });
    client.on('expired', () => {
      this.connectedNow = false;
      if (this.closed) return;
      this.log?.warn({}, 'ZooKeeper session expired; opening a new one');
      client.close();
      this.client = this.newClient();
      this.client.connect();
    });
    return client;
  }

  /** Connects and waits for the first session (or rejects after timeoutMs). */
  async start(timeoutMs = 15_000): Promise<void> {
    this.client.connect();
    if (this.connectedNow) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('session', done);
        reject(new Error(`no ZooKeeper session with ${this.options.connect} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('session', done);
    });
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }

  private call<T>(
    what: string,
    fn: (client: zookeeper.Client, cb: (err: unknown, value: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ZkTimeoutError(`ZooKeeper ${what}: no answer within ${this.opTimeoutMs} ms`)),
        this.opTimeoutMs,
      );
      fn(this.client, (err, value) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      });
    });
  }

  /** The node's data and stat, or null when it does not exist. */
  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer | null; stat: ZkStat } | null> {
    return this.call(`getData ${path}`, (c, cb) => {
      const done = (err: unknown, data: Buffer, stat: ZkStat) => {
        if (isZkError(err, ZkCode.NO_NODE)) cb(null, null);
        else cb(err, err ? null : { data: data ?? null, stat });
      };
      if (watcher) c.getData(path, watcher, done);
      else c.getData(path, done);
    });
  }

  exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    return this.call(`exists ${path}`, (c, cb) => {
      const done = (err: unknown, stat: ZkStat) => cb(err, err ? null : (stat ?? null));
      if (watcher) c.exists(path, watcher, done);
      else c.exists(path, done);
    });
  }

  /** Children names, or null when the node does not exist. */
  getChildren(path: string, watcher?: Watcher): Promise<string[] | null> {
    return this.call(`getChildren ${path}`, (c, cb) => {
      const done = (err: unknown, children: string[]) => {
        if (isZkError(err, ZkCode.NO_NODE)) cb(null, null);
        else cb(err, err ? null : children);
      };
      if (watcher) c.getChildren(path, watcher, done);
      else c.getChildren(path, done);
    });
  }

  create(path: string, data: Buffer | null, mode: number = zookeeper.CreateMode.PERSISTENT): Promise<string> {
    return this.call(`create ${path}`, (c, cb) => c.create(path, data ?? Buffer.alloc(0), mode, cb));
  }

  setData(path: string, data: Buffer, version = -1): Promise<ZkStat> {
    return this.call(`setData ${path}`, (c, cb) => c.setData(path, data, version, cb));
  }

  remove(path: string, version = -1): Promise<void> {
    return this.call(`remove ${path}`, (c, cb) => c.remove(path, version, (err) => cb(err, undefined)));
  }

  mkdirp(path: string): Promise<string> {
    return this.call(`mkdirp ${path}`, (c, cb) => c.mkdirp(path, cb));
  }
}
