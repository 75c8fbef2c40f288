// During a `fleetcap run` (the whole system on local defaults: every app, the host agent, the sample uploads), the
// command line of every process of the machine and the environment of every process of the run hold no secret; the
// sniffer's environment holds its own upload token and nothing else secret. The secrets looked for are all of them:
// each file `stack up` generated (.stack/secrets/), the TLS private keys, the agents' secrets that the run enrolled
// and what is derived from them (upload tokens, ZooKeeper passwords). Needs root (the agent's tcpdump on lo) and the
// integration lock: `fleetcap run` starts its apps on their fixed ports.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { uploadToken } from '@fleetcap/lib/auth/agent-credential';
import {
  assertSnifferEnvironment,
  parentPid,
  processTree,
  readProc,
  secretsInEnvironments,
  secretsOnCommandLines,
  stackHome,
  stackSecrets,
} from '../helpers/security.ts';
import { assertStackUp, repoRoot } from '../helpers/stack.ts';

const skip = process.getuid?.() !== 0 ? 'SKIPPED: tcpdump needs root' : false;

test('during fleetcap run, no command line holds a secret, and the sniffer’s environment only its own upload token', {
  skip,
  timeout: 400_000,
}, async () => {
  assertStackUp();
  const run = spawn(
    'node',
    [`${repoRoot}/cli/bin/fleetcap.mjs`, 'run', '--traffic', 'loopback', '--requests', '5', '--keep'],
    {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  run.stdout.on('data', (d) => (out += d));
  run.stderr.on('data', (d) => (out += d));
  const exited = once(run, 'exit');
  try {
    const deadline = Date.now() + 300_000;
    while (!out.includes('fleetcap keeps running') && run.exitCode === null && Date.now() < deadline) await sleep(500);
    assert.ok(out.includes('fleetcap keeps running'), out);

    const secrets = stackSecrets();
    const localSecret = readFileSync(join(stackHome, 'secrets', 'local-agent.secret'), 'utf8').trim();
    const ownToken = uploadToken(localSecret);
    assert.ok(secrets.size >= 25, `${secrets.size} secrets looked for`);
    assert.ok(readFileSync(join(stackHome, 'secrets', 'sample-upload.secret'), 'utf8').trim() !== '');

    // Every command line of the machine: this run's processes and everyone else's.
    const { scanned, found: onCommandLines } = secretsOnCommandLines(secrets);
    assert.deepEqual(onCommandLines, [], 'a secret on a command line');

    const pids = processTree(run.pid!);
    const sniffers = pids.filter((p) => /apps\/sniffer\//.test(readProc(p, 'cmdline') ?? ''));
    assert.ok(sniffers.length >= 1, `the run's sniffer among ${pids.length} processes`);
    // Run from its sources, the sniffer's TypeScript loader (tsx) keeps an esbuild service process that it starts
    // with the sniffer's environment before any of the sniffer's code runs: part of the sniffer's runtime, which a
    // compiled build (node apps/sniffer/dist/main.js) does not have. It may hold the sniffer's token, and no other.
    const snifferRuntime = (pid: number) =>
      sniffers.includes(pid) ||
      (sniffers.includes(parentPid(pid)) && /\/esbuild\b.*--service/.test(readProc(pid, 'cmdline') ?? ''));
    const inEnvironments = secretsInEnvironments(
      secrets,
      pids,
      (pid, secret) => secret === ownToken && snifferRuntime(pid),
    );
    for (const sniffer of sniffers) assertSnifferEnvironment(sniffer, ownToken);
    assert.deepEqual(inEnvironments, [], 'a secret in the environment of a process of the run');
    console.log(
      `# ${secrets.size} secrets looked for on ${scanned} command lines and in the environments of the run's ${pids.length} processes (${sniffers.length} sniffer(s))`,
    );
  } finally {
    if (run.exitCode === null) process.kill(-run.pid!, 'SIGINT');
    const [code] = await exited;
    assert.equal(code, 130, out.slice(-3000));
  }
});
