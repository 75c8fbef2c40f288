// A shared bearer credential between two of the project's processes (forecast and its session-workers): read from a
// 0600 file on both sides, compared in constant time.
import { matchesDigest, sha256 } from './credential-hash.ts';

/** Whether an Authorization header carries `Bearer <token>` (constant time: hashes of equal length are compared). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  return matchesDigest(header ?? '', sha256(`Bearer ${token}`));
}

/** Loopback addresses: listening there needs no credential (only this machine's processes reach it). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
