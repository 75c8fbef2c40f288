// Promise wrappers around node-zookeeper-client, and the session lifecycle the listener needs: one client at a
// time, replaced by a new one when its session expires (the old client never reconnects by itself).
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';

export type Client = zookeeper.Client;
export type Stat = zookeeper.Stat;
export type WatchEvent = zookeeper.Event;

export const { Exception, CreateMode, Event } = zookeeper;

export function errorCode(err: unknown): number | undefined {
  const e = err as { getCode?: () => number; code?: unknown };
  if (typeof e?.getCode === 'function') return e.getCode();
  return typeof e?.code === 'number' ? e.code : undefined;
}

export function isNoNode(err: unknown): boolean {
  return errorCode(err) === Exception.NO_NODE;
}

export function isNodeExists(err: unknown): boolean {
  return errorCode(err) === Exception.NODE_EXISTS;
}

export function getData(
  client: Client,
  path: string,
  watcher?: (e: WatchEvent) => void,
): Promise<{ data: Buffer | undefined; stat: Stat }> {
  return new Promise((resolve, reject) => {
    const cb = (err: unknown, data: Buffer, stat: Stat) => (err ? reject(err) : resolve({ data, stat }));
    if (watcher) client.getData(path, watcher, cb);
    else client.getData(path, cb);
  });
}

export function exists(client: Client, path: string, watcher?: (e: WatchEvent) => void): Promise<Stat | null> {
  return new Promise((resolve, reject) => {
    const cb = (err: unknown, stat: Stat) => (err ? reject(err) : resolve(stat ?? null));
    if (watcher) client.exists(path, watcher, cb);
    else client.exists(path, cb);
  });
}

export function create(client: Client, path: string, data: Buffer, mode: number): Promise<string> {
  return new Promise((resolve, reject) =>
    client.create(path, data, mode, (err, p) => (err ? reject(err) : resolve(p))),
  );
}

export function setData(client: Client, path: string, data: Buffer, version = -1): Promise<Stat> {
  return new Promise((resolve, reject) =>
    client.setData(path, data, version, (err, stat) => (err ? reject(err) : resolve(stat))),
  );
}

export function remove(client: Client, path: string, version = -1): Promise<void> {
  return new Promise((resolve, reject) => client.remove(path, version, (err) => (err ? reject(err) : resolve())));
}

export function mkdirp(client: Client, path: string): Promise<void> {
  return new Promise((resolve, reject) => client.mkdirp(path, (err) => (err ? reject(err) : resolve())));
}

export interface SessionOptions {
  connect: string;
  sessionTimeoutMs: number;
}

/**
 * Keeps one ZooKeeper session alive: emits 'session' (client) each time a client (re)connects — a new session
 * after an expiry, or the same session after a reconnect — 'disconnected' when the connection drops, 'expired'
 * when a session is lost (a new client is created at once).
 */
export class ZkSession extends EventEmitter {
  private client: Client | null = null;
  private closed = false;
  connected = false;

  constructor(private readonly options: SessionOptions) {
    super();
  }

  start(): void {
    this.newClient();
  }

  private newClient(): void {
    if (this.closed) return;
    const client = zookeeper.createClient(this.options.connect, {
      sessionTimeout: this.options.sessionTimeoutMs,
      spinDelay: 500,
      retries: 2,
    });
    this.client = client;
    client.on('connected', () => {
      if (client !== this.client) return;
      this.connected = true;
      this.emit('session', client);
    });
    client.on('disconnected', () => {
      if (client !== this.client) return;
      this.connected = false;
      this.emit('disconnected');
    });
    client.on('expired', () => {
      if (client !== this.client) return;
      this.connected = false;
      this.emit('expired');
      client.close();
      this.newClient();
    });
    client.connect();
  }

  get current(): Client | null {
    return this.connected ? this.client : null;
  }

  sessionId(): string {
    return this.client?.getSessionId().toString('hex') ?? '';
  }

  /** Closes the session (its ephemeral nodes go at once); resolves when the server has seen it, or after 2 s. */
  close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    const client = this.client;
    this.client = null;
    if (client === null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
  }
}
