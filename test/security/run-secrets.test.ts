// During a `fleetcap run` (the whole system on local defaults: every app, the host agent, the sample uploads), the
// command line of every process of the machine and the environment of every process of the run hold no secret; the
// sniffer's environment holds its own upload token and nothing else secret. The secrets looked for are all of them:
// each file `stack up` generated (.stack/secrets/), the TLS private keys, the agents' secrets that the run enrolled
// and what is derived from them (upload tokens, ZooKeeper passwords). Needs root (the agent's tcpdump on lo) and the
// integration lock: `fleetcap run` starts its apps on their fixed ports.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAgentSecret, uploadToken, zkPassword } from '@fleetcap/lib/auth/agent-credential';
import { stackHome } from '../helpers/security.ts';
import { assertStackUp, repoRoot } from '../helpers/stack.ts';

const skip = process.getuid?.() !== 0 ? 'SKIPPED: tcpdump needs root' : false;

/** Every secret of the stack and of the run's agents, by where it comes from. */
function knownSecrets(): Map<string, string> {
  const found = new Map<string, string>();
  const dir = join(stackHome, 'secrets');
  for (const name of readdirSync(dir)) {
    const text = readFileSync(join(dir, name), 'utf8');
    if (name.endsWith('.properties')) {
      // connect-cdc.properties: key=value lines; the values are secrets.
      for (const line of text.split('\n')) {
        const v = line.slice(line.indexOf('=') + 1).trim();
        if (line.includes('=') && v.length >= 16) found.set(v, `${name}: ${line.slice(0, line.indexOf('='))}`);
      }
      continue;
    }
    const secret = text.split('\n')[0]!.trim();
    found.set(secret, name);
    if (isAgentSecret(secret)) {
      found.set(uploadToken(secret), `the upload token of ${name}`);
      found.set(zkPassword(secret), `the ZooKeeper password of ${name}`);
    }
  }
  for (const key of ['splitcap.key', 'console.key', 'ca.key']) {
    let pem = '';
    try {
      pem = readFileSync(join(stackHome, 'tls', key), 'utf8');
    } catch {
      continue;
    }
    // One line of the key's body is enough to find it anywhere.
    const line = pem.split('\n').find((l) => l.length >= 40 && !l.startsWith('-----'));
    if (line) found.set(line, `the TLS key ${key}`);
  }
  return found;
}

/** The pids of a process and all its descendants. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

function parentOf(pid: number): number {
  const stat = readProc(pid, 'stat') ?? '';
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function readProc(pid: number | string, file: 'cmdline' | 'environ' | 'stat'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // gone meanwhile, or another user's
  }
}

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

    const secrets = knownSecrets();
    const localSecret = readFileSync(join(stackHome, 'secrets', 'local-agent.secret'), 'utf8').trim();
    const ownToken = uploadToken(localSecret);
    assert.ok(secrets.size >= 25, `${secrets.size} secrets looked for`);
    assert.ok(readFileSync(join(stackHome, 'secrets', 'sample-upload.secret'), 'utf8').trim() !== '');

    // Every command line of the machine: this run's processes and everyone else's.
    let scanned = 0;
    const onCommandLines: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      const cmdline = readProc(pid, 'cmdline');
      if (cmdline === undefined) continue;
      scanned++;
      for (const [secret, what] of secrets)
        if (cmdline.includes(secret)) onCommandLines.push(`pid ${pid} (${cmdline.split('\0')[0]}): ${what}`);
    }
    assert.deepEqual(onCommandLines, [], 'a secret on a command line');

    const pids = tree(run.pid!);
    const sniffers = pids.filter((p) => /apps\/sniffer\//.test(readProc(p, 'cmdline') ?? ''));
    assert.ok(sniffers.length >= 1, `the run's sniffer among ${pids.length} processes`);
    const inEnvironments: string[] = [];
    for (const pid of pids) {
      const environ = readProc(pid, 'environ');
      if (environ === undefined) continue;
      const vars = environ.split('\0');
      const sniffer = sniffers.includes(pid);
      // Run from its sources, the sniffer's TypeScript loader (tsx) keeps an esbuild service process that it starts
      // with the sniffer's environment before any of the sniffer's code runs: part of the sniffer's runtime, which a
      // compiled build (node apps/sniffer/dist/main.js) does not have. It may hold the sniffer's token, and no other.
      const snifferRuntime =
        sniffers.includes(parentOf(pid)) && /\/esbuild\b.*--service/.test(readProc(pid, 'cmdline') ?? '');
      for (const [secret, what] of secrets) {
        if ((sniffer || snifferRuntime) && secret === ownToken) continue;
        if (vars.some((v) => v.includes(secret)))
          inEnvironments.push(
            `pid ${pid} (${(readProc(pid, 'cmdline') ?? '').split('\0').slice(0, 3).join(' ')}): ${what}`,
          );
      }
      if (sniffer) {
        assert.ok(vars.includes(`FLEETCAP_AGENT_TOKEN=${ownToken}`), 'the sniffer has its own upload token');
        assert.deepEqual(
          vars.filter((v) => /PASSWORD|SECRET|CREDENTIAL|TOKEN/.test(v.slice(0, v.indexOf('=')))),
          [`FLEETCAP_AGENT_TOKEN=${ownToken}`],
          'no other password, secret, credential or token variable in the sniffer’s environment',
        );
      }
    }
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
