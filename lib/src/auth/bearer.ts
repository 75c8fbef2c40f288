// A shared bearer credential between two of the project's processes (forecast and its session-workers): read from a
// 0600 file on both sides, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether an Authorization header carries `Bearer <token>` (constant time: hashes of equal length are compared). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = createHash('sha256')
    .update(header ?? '')
    .digest();
  const wanted = createHash('sha256').update(`Bearer ${token}`).digest();
  return timingSafeEqual(given, wanted);
}

/** Loopback addresses: listening there needs no credential (only this machine's processes reach it). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
