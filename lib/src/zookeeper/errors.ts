// ZooKeeper's error codes, and telling them apart: node-zookeeper-client rejects with an Exception that carries a
// numeric code (NO_NODE, NODE_EXISTS, BAD_VERSION, NOT_EMPTY, NO_AUTH, ...).
import zookeeper from 'node-zookeeper-client';

export const ZkCode = zookeeper.Exception;

/** A call that got no answer within the client's call timeout (the connection is lost or the server hangs). */
export class ZkTimeoutError extends Error {
  override name = 'ZkTimeoutError';
}

/** The ZooKeeper error code of err, or undefined when err is no ZooKeeper exception. */
export function zkErrorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { getCode?: () => number; code?: unknown };
  if (typeof e.getCode === 'function') return e.getCode();
  return typeof e.code === 'number' ? e.code : undefined;
}

/** True when err is a ZooKeeper exception with that code. */
export function isZkError(err: unknown, code: number): boolean {
  return zkErrorCode(err) === code;
}

export function isNoNode(err: unknown): boolean {
  return isZkError(err, ZkCode.NO_NODE);
}

export function isNodeExists(err: unknown): boolean {
  return isZkError(err, ZkCode.NODE_EXISTS);
}
