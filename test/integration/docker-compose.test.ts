// docker-compose.yml describes the same stack; no Docker engine runs here, so it is validated with
// `docker-compose config` (Debian's docker-compose) and checked for the settings the stack relies on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../helpers/stack.ts';

const compose = (...args: string[]) => execFileSync('docker-compose', args, { cwd: repoRoot, encoding: 'utf8' });

test('docker-compose.yml is valid and holds the same servers and apps', () => {
  const services = compose('--profile', 'apps', 'config', '--services').trim().split('\n').sort();
  assert.deepEqual(services, [
    'config-sync',
    'connect',
    'forecast',
    'kafka',
    'listener',
    'mariadb',
    'rabbitmq',
    'redis',
    'session-worker',
    'splitcap',
    'stack-init',
    'zookeeper',
  ]);
  const config = compose('config');
  for (const setting of ['--binlog-format=ROW', '--binlog-row-image=FULL', '--server-id=1', 'KAFKA_PROCESS_ROLES: broker,controller']) {
    assert.ok(config.includes(setting), `compose config contains ${setting}`);
  }
  assert.match(config, /image: quay\.io\/debezium\/connect:3\.0\.1\.Final/);
  assert.match(config, /image: mariadb:10\.11/);
});
