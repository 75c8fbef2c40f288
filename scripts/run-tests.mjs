#!/usr/bin/env node
// Runs the project's tests with node's own test runner (through tsx, so tests are TypeScript), on the sources: the
// fleetcap-source condition resolves every @fleetcap/* import to src/*.ts (no build needed).
//   unit:        *.test.ts under lib/, cli/, apps/, scripts/  (pure logic, no servers)
//   integration: test/**/*.test.ts                  (real servers, started by stack/; test/security included)
//   security:    test/security/*.test.ts            (the attacker tests alone)
//   cluster:     test/cluster/*.test.ts             (the cluster scripts' servers: stack/*-cluster.sh, zookeeper-ensemble.sh)
//   all:         both, unit first
// Integration files run one at a time: they share the stack's servers.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const kind = process.argv[2] ?? 'all';
const extra = process.argv.slice(3);

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const unit = ['lib', 'cli', 'apps', 'scripts'].flatMap((d) => find(join(root, d))).sort();
const integration = find(join(root, 'test')).sort();
const security = integration.filter((f) => f.startsWith('test/security/'));
const cluster = integration.filter((f) => f.startsWith('test/cluster/'));
const filter = (files) => (extra.length ? files.filter((f) => extra.some((e) => f.includes(e))) : files);

const files =
  kind === 'unit'
    ? filter(unit)
    : kind === 'integration'
      ? filter(integration)
      : kind === 'security'
        ? filter(security)
        : kind === 'cluster'
          ? filter(cluster)
          : [...filter(unit), ...filter(integration)];
if (files.length === 0) {
  console.error(`run-tests: no ${kind} test files matched`);
  process.exit(1);
}
const args = [
  '--import',
  'tsx',
  '--conditions=fleetcap-source',
  '--test',
  '--test-concurrency=1',
  // Per test file; the fuzz's long mode (npm run fuzz) runs far longer than any CI test.
  `--test-timeout=${process.env.FLEETCAP_TEST_TIMEOUT_MS || 600000}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts/summary-reporter.mjs')}`,
  '--test-reporter-destination=stdout',
  ...files,
];
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
