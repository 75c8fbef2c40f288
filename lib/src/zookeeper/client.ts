// The one ZooKeeper client of fleetcap (listener, config-sync, stack probe, tests), over node-zookeeper-client:
// - every call has a timeout (ZkTimeoutError), so that a caller holding a Kafka partition, or a refresh of a live
//   node, never waits forever on a lost connection;
// - one session at a time: when ZooKeeper expires it, the old client is closed (it never reconnects by itself) and a
//   new one opened. Watches and ephemeral nodes die with a session, so callers re-arm and re-create them on
//   'session' (a new session) or 'connected' (every connection, the same session or a new one);
// - the auth given is added to every session, and the ACL given applies to every node this client creates.
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';
import { openAcl, toClientAcl, type ZkAclEntry, type ZkAuth } from './acl.ts';
import { isNoNode, ZkTimeoutError } from './errors.ts';

export type ZkStat = zookeeper.Stat;
export type ZkWatchEvent = zookeeper.Event;
export type Watcher = (event: ZkWatchEvent) => void;

export const ZkEventType = zookeeper.Event;
export const CreateMode = zookeeper.CreateMode;

export interface ZkLogger {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

export interface ZkClientOptions {
  /** `host:port[,host:port...][/chroot]` */
  connect: string;
  sessionTimeoutMs?: number;
  /** Longest wait for the answer to one call. */
  opTimeoutMs?: number;
  /** Connection attempts on the server list before a pause of spinDelayMs (node-zookeeper-client's options). */
  retries?: number;
  spinDelayMs?: number;
  /** Added to every session before it connects. */
  auth?: readonly ZkAuth[];
  /** Applied to every node this client creates (default: OPEN_ACL_UNSAFE). */
  acl?: readonly ZkAclEntry[];
  /**
   * A client without a connection for this long is closed and a new one opened (a new session). node-zookeeper-client
   * can stay without a connection for good after a server restart: it waits for the answer to its connect request
   * with no deadline (its connect timeout covers only the TCP connect), so every call timed out for minutes (stop 17,
   * config-sync). The session is gone anyway once the server has been unreachable for its timeout. Default: never.
   */
  reopenAfterMs?: number;
  log?: ZkLogger;
}

export interface ZkNode {
  /** null for a node without data. */
  data: Buffer | null;
  stat: ZkStat;
}

/**
 * Events: 'session' when a new session is established (the first one, and each one after an expiry), then
 * 'connected' (newSession: boolean) on every connection; 'disconnected' when the connection drops; 'expired' when
 * ZooKeeper has expired the session (a new one is being opened); 'authenticationFailed' when the server refuses
 * the auth given.
 */
export class ZkClient extends EventEmitter {
  private client: zookeeper.Client | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private connectedNow = false;
  private readonly opTimeoutMs: number;
  private readonly acl: zookeeper.ACL[];

  constructor(private readonly options: ZkClientOptions) {
    super();
    this.opTimeoutMs = options.opTimeoutMs ?? 10_000;
    this.acl = toClientAcl(options.acl ?? openAcl);
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Starts connecting (and reconnecting) in the background. */
  connect(): void {
    if (this.client === null && !this.closed) this.newClient();
  }

  /** Connects and waits for the first session; rejects after timeoutMs (the client goes on trying). */
  async start(timeoutMs = 15_000): Promise<void> {
    this.connect();
    if (this.connectedNow) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', done);
        reject(new Error(`no ZooKeeper session with ${this.options.connect} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('connected', done);
    });
  }

  /** A connected client, or an error after timeoutMs (then closed). */
  static async open(options: ZkClientOptions, timeoutMs = 15_000): Promise<ZkClient> {
    const zk = new ZkClient(options);
    try {
      await zk.start(timeoutMs);
    } catch (err) {
      await zk.close();
      throw err;
    }
    return zk;
  }

  private newClient(): void {
    const client = zookeeper.createClient(this.options.connect, {
      sessionTimeout: this.options.sessionTimeoutMs ?? 15_000,
      spinDelay: this.options.spinDelayMs ?? 500,
      retries: this.options.retries ?? 2,
    });
    for (const a of this.options.auth ?? [])
      client.addAuthInfo(a.scheme, typeof a.credentials === 'string' ? Buffer.from(a.credentials) : a.credentials);
    this.client = client;
    const mine = () => client === this.client && !this.closed;
    const armReopen = () => {
      const after = this.options.reopenAfterMs;
      if (after === undefined || this.reopenTimer) return;
      const since = Date.now();
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = null;
        if (!mine() || this.connectedNow) return;
        this.options.log?.warn(
          { code: 'zookeeper.client-reopened', connect: this.options.connect, withoutConnectionMs: Date.now() - since },
          `no ZooKeeper connection for ${after} ms; closing this client and opening a new one (a new session)`,
        );
        client.close();
        this.newClient();
      }, after);
      this.reopenTimer.unref();
    };
    const disarmReopen = () => {
      if (this.reopenTimer) clearTimeout(this.reopenTimer);
      this.reopenTimer = null;
    };
    armReopen();
    let newSession = true;
    client.on('connected', () => {
      if (!mine()) return;
      disarmReopen();
      this.connectedNow = true;
      const first = newSession;
      newSession = false;
      if (first) {
        this.options.log?.info(
          { connect: this.options.connect, session: this.sessionId() },
          'ZooKeeper session established',
        );
        this.emit('session');
      }
      this.emit('connected', first);
    });
    client.on('disconnected', () => {
      if (!mine()) return;
      this.connectedNow = false;
      armReopen();
      this.emit('disconnected');
    });
    client.on('authenticationFailed', () => {
      if (mine()) this.emit('authenticationFailed');
    });
    client.on('expired', () => {
      if (!mine()) return;
      this.connectedNow = false;
      this.options.log?.warn({}, 'ZooKeeper session expired; opening a new one');
      this.emit('expired');
      disarmReopen();
      client.close();
      this.newClient();
    });
    client.connect();
  }

  /** This session's id in hex ('' before the first session). */
  sessionId(): string {
    return this.client?.getSessionId().toString('hex') ?? '';
  }

  /** Whether a node (from its stat) is an ephemeral node of this very session. */
  ownsEphemeral(stat: ZkStat): boolean {
    const owner = stat.ephemeralOwner.toString('hex');
    return /[^0]/.test(owner) && owner === this.sessionId();
  }

  /** Closes the session (its ephemeral nodes go at once); resolves when the server has seen it, or after 2 s. */
  close(): Promise<void> {
    const wasConnected = this.connectedNow;
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.connectedNow = false;
    const client = this.client;
    if (client === null) return Promise.resolve();
    if (!wasConnected) {
      // No server to tell: the session (if any) ends by its timeout.
      client.close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
  }

  private call<T>(
    what: string,
    fn: (client: zookeeper.Client, cb: (err: unknown, value: T) => void) => void,
  ): Promise<T> {
    this.connect();
    const client = this.client;
    if (client === null) return Promise.reject(new Error(`ZooKeeper ${what}: the client is closed`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ZkTimeoutError(`ZooKeeper ${what}: no answer within ${this.opTimeoutMs} ms`)),
        this.opTimeoutMs,
      );
      fn(client, (err, value) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      });
    });
  }

  /** The node's data and stat, or null when it does not exist (a missing node sets no watch: use exists). */
  getData(path: string, watcher?: Watcher): Promise<ZkNode | null> {
    return this.call(`getData ${path}`, (c, cb) => {
      const done = (err: unknown, data: Buffer | undefined, stat: ZkStat) => {
        if (isNoNode(err)) cb(null, null);
        else cb(err, err ? null : { data: data ?? null, stat });
      };
      if (watcher) c.getData(path, watcher, done);
      else c.getData(path, done);
    });
  }

  /** The node's stat, or null when it does not exist; a watcher fires on its creation, change or deletion. */
  exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    return this.call(`exists ${path}`, (c, cb) => {
      const done = (err: unknown, stat: ZkStat | undefined) => cb(err, err ? null : (stat ?? null));
      if (watcher) c.exists(path, watcher, done);
      else c.exists(path, done);
    });
  }

  /** Children names, or null when the node does not exist. */
  getChildren(path: string, watcher?: Watcher): Promise<string[] | null> {
    return this.call(`getChildren ${path}`, (c, cb) => {
      const done = (err: unknown, children: string[]) => {
        if (isNoNode(err)) cb(null, null);
        else cb(err, err ? null : children);
      };
      if (watcher) c.getChildren(path, watcher, done);
      else c.getChildren(path, done);
    });
  }

  /** Creates a node with this client's ACL (or the one given); rejects with NODE_EXISTS, NO_NODE (no parent), NO_AUTH. */
  create(
    path: string,
    data: Buffer | null = null,
    mode: number = CreateMode.PERSISTENT,
    acl?: readonly ZkAclEntry[],
  ): Promise<string> {
    const list = acl ? toClientAcl(acl) : this.acl;
    return this.call(`create ${path}`, (c, cb) => c.create(path, data ?? Buffer.alloc(0), list, mode, cb));
  }

  /** Replaces the node's ACL (needs ADMIN on it); rejects with NO_NODE or NO_AUTH. */
  setAcl(path: string, acl: readonly ZkAclEntry[], version = -1): Promise<ZkStat> {
    const list = toClientAcl(acl);
    return this.call(`setACL ${path}`, (c, cb) => c.setACL(path, list, version, cb));
  }

  /** The node's ACL as plain entries, or null when it does not exist. */
  getAcl(path: string): Promise<ZkAclEntry[] | null> {
    return this.call(`getACL ${path}`, (c, cb) =>
      c.getACL(path, (err, acls) => {
        if (isNoNode(err)) return cb(null, null);
        if (err) return cb(err, null);
        cb(
          null,
          acls.map((a) => ({
            scheme: a.id.scheme,
            id: a.id.id,
            permissions: (a as unknown as { permission: number }).permission,
          })),
        );
      }),
    );
  }

  /** An ephemeral node: it goes with this session. */
  createEphemeral(path: string, data: Buffer): Promise<string> {
    return this.create(path, data, CreateMode.EPHEMERAL);
  }

  /** Sets the data if the node is at that version (-1: any); rejects with BAD_VERSION or NO_NODE. */
  setData(path: string, data: Buffer, version = -1): Promise<ZkStat> {
    return this.call(`setData ${path}`, (c, cb) => c.setData(path, data, version, cb));
  }

  /** Deletes the node if it is at that version (-1: any); rejects with BAD_VERSION, NO_NODE or NOT_EMPTY. */
  remove(path: string, version = -1): Promise<void> {
    return this.call(`remove ${path}`, (c, cb) => c.remove(path, version, (err) => cb(err, undefined)));
  }

  /** Creates the node and every missing parent (with this client's ACL, or the one given); an existing node is fine. */
  mkdirp(path: string, acl?: readonly ZkAclEntry[]): Promise<string> {
    const list = acl ? toClientAcl(acl) : this.acl;
    return this.call(`mkdirp ${path}`, (c, cb) => c.mkdirp(path, list, cb));
  }
}
