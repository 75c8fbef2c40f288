// /healthz's database checks: each account answers a ping within a second. The result is kept for 2 s, so that a
// scraper polling /healthz costs the database little.

import { type Check, check } from '@fleetcap/lib/runtime/health';
import type mysql from 'mysql2/promise';
import type { Logger } from 'pino';

export function databaseHealth(pools: Record<string, Pick<mysql.Pool, 'query'>>, log: Logger) {
  let cached: { at: number; checks: Record<string, Check> } | null = null;
  return async (): Promise<Record<string, Check>> => {
    if (cached && Date.now() - cached.at < 2000) return cached.checks;
    const checks: Record<string, Check> = {};
    await Promise.all(
      Object.entries(pools).map(async ([name, pool]) => {
        try {
          await Promise.race([
            pool.query('SELECT 1'),
            new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1000).unref()),
          ]);
          checks[`mariadb-${name}`] = check(true, '');
        } catch (err) {
          checks[`mariadb-${name}`] = check(false, (err as Error).message);
          log.warn(
            { code: 'console.db.unavailable', account: name, err: (err as Error).message },
            'MariaDB does not answer',
          );
        }
      }),
    );
    cached = { at: Date.now(), checks };
    return checks;
  };
}
