import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, parseEnv } from './connections.ts';
import { durationMs, flag, listenPort, logLevel, queuePrefix, redisPrefix, telemetryPort } from './env-schema.ts';

const schema = z.object({
  API_PORT: listenPort(8080),
  METRICS_PORT: telemetryPort('off'),
  WORKER_PORT: telemetryPort(0),
  DELAY_MS: durationMs(100, 3_600_000).default(5000),
  LEVEL: logLevel,
  REDIS_PREFIX: redisPrefix,
  QUEUE_PREFIX: queuePrefix,
  SWITCH: flag.default('false'),
});

const refused = (env: Record<string, string>) => {
  try {
    parseEnv(schema, env, 'unit');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return Object.fromEntries(err.issues.map((i) => [i.variable, i.problem]));
  }
  assert.fail('accepted');
};

test('defaults: the API port, telemetry off or on a free port, info, the usual prefixes', () => {
  assert.deepEqual(parseEnv(schema, {}, 'unit'), {
    API_PORT: 8080,
    METRICS_PORT: 'off',
    WORKER_PORT: 0,
    DELAY_MS: 5000,
    LEVEL: 'info',
    REDIS_PREFIX: 'fc',
    QUEUE_PREFIX: 'fleetcap',
    SWITCH: false,
  });
});

test('ports: N, 0 for a free port, off only where the server is optional', () => {
  const c = parseEnv(schema, { API_PORT: '0', METRICS_PORT: '9100', WORKER_PORT: 'off' }, 'unit');
  assert.equal(c.API_PORT, 0);
  assert.equal(c.METRICS_PORT, 9100);
  assert.equal(c.WORKER_PORT, 'off');
  assert.equal(parseEnv(schema, { METRICS_PORT: ' 0 ' }, 'unit').METRICS_PORT, 0);
  assert.deepEqual(refused({ API_PORT: 'off', METRICS_PORT: '65536', WORKER_PORT: '-1' }), {
    API_PORT: 'must be a port number 0-65535 (0: a free port the OS picks)',
    METRICS_PORT: 'must be a port number 0-65535 (0: a free port the OS picks) or off',
    WORKER_PORT: 'must be a port number 0-65535 (0: a free port the OS picks) or off',
  });
});

test('durations, levels, prefixes and switches say what is allowed', () => {
  assert.deepEqual(refused({ DELAY_MS: '50', LEVEL: 'loud', REDIS_PREFIX: 'a b', QUEUE_PREFIX: '', SWITCH: 'maybe' }), {
    DELAY_MS: 'must be a whole number of milliseconds from 100 to 3600000',
    LEVEL: 'must be one of fatal, error, warn, info, debug, trace, silent',
    REDIS_PREFIX: 'must be 1-32 letters, digits, "_", "." or "-"',
    QUEUE_PREFIX: 'must be 1-64 letters, digits, "_", "." or "-"',
    SWITCH: 'must be true or false',
  });
  assert.deepEqual(refused({ DELAY_MS: 'soon' }), {
    DELAY_MS: 'must be a whole number of milliseconds from 100 to 3600000',
  });
  assert.equal(parseEnv(schema, { SWITCH: 'yes' }, 'unit').SWITCH, true);
});
