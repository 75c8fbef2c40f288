// redis-benchmark against the stack's Redis, which has no anonymous user: redis-benchmark takes a password only on
// its command line (-a or -u), where `ps` shows it. So it gets a login of its own for one run: a user made with a
// random password (given to redis-cli on stdin, -x), allowed only what the ZADD benchmark does on its own keys, and
// deleted right after. The stack's secrets never reach a command line.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Runs `run(user, password)` with a one-run benchmark user of the Redis at `operatorUrl` (the operator's URL). */
export function withBenchmarkLogin<T>(operatorUrl: string, run: (user: string, password: string) => T): T {
  const url = new URL(operatorUrl);
  const cli = (args: string[], input?: string) =>
    execFileSync(
      'redis-cli',
      [
        '--no-auth-warning',
        '--user',
        decodeURIComponent(url.username),
        '-h',
        url.hostname,
        '-p',
        url.port || '6379',
        ...args,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, REDISCLI_AUTH: decodeURIComponent(url.password) },
        ...(input === undefined ? {} : { input }),
      },
    );
  const user = `bench-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('hex');
  cli(
    ['-x', 'ACL', 'SETUSER', user, 'reset', 'on', 'resetkeys', '~myzset*', '~key:*', '+zadd', '+ping', '+config|get'],
    `>${password}`,
  );
  try {
    return run(user, password);
  } finally {
    cli(['ACL', 'DELUSER', user]);
  }
}
