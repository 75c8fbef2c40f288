// Who may do what with the nodes a client creates, and who the client is. Plain data here (so that settings can
// carry it); the client turns it into node-zookeeper-client's ACL objects. Today every node is created with
// OPEN_ACL_UNSAFE (world:anyone, all permissions), as ZooKeeper does by default.
import { createHash } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';

export const ZkPermission = zookeeper.Permission;

/** One ACL entry: a scheme (world, auth, digest, ip, sasl, ...), an id in that scheme, and a permission mask. */
export interface ZkAclEntry {
  scheme: string;
  id: string;
  /** A sum of ZkPermission flags (READ, WRITE, CREATE, DELETE, ADMIN) or ZkPermission.ALL. */
  permissions: number;
}

/** Credentials added to every session (ZooKeeper's addAuth), e.g. `{ scheme: 'digest', credentials: 'user:password' }`. */
export interface ZkAuth {
  scheme: string;
  credentials: string | Buffer;
}

export const openAcl: readonly ZkAclEntry[] = [{ scheme: 'world', id: 'anyone', permissions: ZkPermission.ALL }];

/** The id of a digest ACL entry for this user and password, as ZooKeeper stores it: `user:base64(sha1(user:password))`. */
export function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

/**
 * Put last in every ACL fleetcap sets. ZooKeeper tries an entry only after every entry before it failed to grant the
 * permission, so it reaches this one just before it refuses with NO_AUTH: the stack's ZooKeeper then logs the refusal,
 * reads included (stack/zookeeper/AclRefusalLog.java takes the place of its "ip" scheme; ZooKeeper 3.8 logs no refused
 * read and counts no refusal). Any other ZooKeeper reads it as an ip entry that no TCP client can match.
 */
export const refusalLogEntry: Readonly<ZkAclEntry> = Object.freeze({
  scheme: 'ip',
  id: '255.255.255.255',
  permissions: ZkPermission.ALL,
});

/** The entries, then the refusal log's (see refusalLogEntry). */
export function withRefusalLog(entries: readonly ZkAclEntry[]): ZkAclEntry[] {
  return [...entries, { ...refusalLogEntry }];
}

export function toClientAcl(entries: readonly ZkAclEntry[]): zookeeper.ACL[] {
  if (entries.length === 0) throw new Error('a ZooKeeper ACL needs at least one entry');
  return entries.map((e) => new zookeeper.ACL(e.permissions, new zookeeper.Id(e.scheme, e.id)));
}
