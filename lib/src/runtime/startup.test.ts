import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, loadConnections, parseEnv } from '../config/connections.ts';
import { listenPort } from '../config/env-schema.ts';
import { createLogger } from '../telemetry/logger.ts';
import { loadEnvOrExit, refusalMessage, refuseToStart } from './startup.ts';

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
const exit = (code: number): never => {
  throw new Exited(code);
};

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { log: createLogger('unit', { destination, env: {} }), lines };
}

const appEnv = z.object({ FLEETCAP_UNIT_PORT: listenPort(8080) });
const loadUnit = (env: Record<string, string | undefined>) => parseEnv(appEnv, env, 'unit');

test('a good environment is returned, every loader on the same variables', () => {
  const { log } = capture();
  // config-sync: an app that needs no Redis or RabbitMQ secret (a unit test has no stack to read them from).
  const connectionsOf = (env: Record<string, string | undefined>) => loadConnections(env, 'config-sync');
  const { config, connections } = loadEnvOrExit(log, 'unit', { config: loadUnit, connections: connectionsOf }, {});
  assert.equal(config.FLEETCAP_UNIT_PORT, 8080);
  assert.equal(connections.redisUrl, 'redis://127.0.0.1:6379');
});

test('one message for every refused variable of every loader, then exit 2', () => {
  const { log, lines } = capture();
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((text: string) => {
    written.push(text);
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.throws(
      () =>
        loadEnvOrExit(
          log,
          'unit',
          { config: loadUnit, connections: loadConnections },
          { FLEETCAP_UNIT_PORT: 'http', FLEETCAP_MYSQL_PORT: '99999', FLEETCAP_LOG_LEVEL: 'loud' },
          exit,
        ),
      (err: unknown) => err instanceof Exited && err.code === 2,
    );
  } finally {
    process.stderr.write = write;
  }
  assert.equal(written.length, 1, 'one message');
  const text = written[0]!;
  assert.match(text, /^unit: refusing to start: invalid unit configuration in the environment:\n/);
  assert.match(
    text,
    /\n {2}FLEETCAP_UNIT_PORT="http": must be a port number 0-65535 \(0: a free port the OS picks\)\n/,
  );
  assert.match(text, /\n {2}FLEETCAP_MYSQL_PORT="99999": must be a port number 1-65535\n/);
  assert.match(
    text,
    /\n {2}FLEETCAP_LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent\n/,
  );
  assert.match(text, /\nFix these variables and start again\.\n$/);
  const fatal = lines.find((l) => l.level === 'fatal');
  assert.equal(fatal?.msg, 'refusing to start');
  assert.deepEqual(fatal?.problems, [
    { variable: 'FLEETCAP_UNIT_PORT', problem: 'must be a port number 0-65535 (0: a free port the OS picks)' },
    { variable: 'FLEETCAP_MYSQL_PORT', problem: 'must be a port number 1-65535' },
    { variable: 'FLEETCAP_LOG_LEVEL', problem: 'must be one of fatal, error, warn, info, debug, trace, silent' },
  ]);
});

test('other startup errors (a model refused) are refused the same way; bugs are thrown', () => {
  const { log, lines } = capture();
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.throws(
      () => refuseToStart(log, 'forecast', new Error('cannot read the model model.onnx: ENOENT'), exit),
      (err: unknown) => err instanceof Exited && err.code === 2,
    );
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lines[0]!.err, 'cannot read the model model.onnx: ENOENT');
  assert.equal(refusalMessage('forecast', new ConfigError('no model')), 'forecast: refusing to start: no model');
  assert.throws(
    () =>
      loadEnvOrExit(log, 'unit', {
        broken: () => {
          throw new TypeError('a bug');
        },
      }),
    TypeError,
  );
});
