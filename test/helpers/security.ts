// What the attacker tests (test/security) share: enrolling agents the operator's way (`fleetcap agents ...`, the
// real command against the real MariaDB), a splitcap serving HTTPS with the stack's certificate, HTTPS requests that
// trust a given CA, a CA of an attacker's own made with openssl, the stack's CA and splitcap certificate (made by
// `stack up`), reading a metric from /metrics, the scan of /proc for secrets (command lines, environments), and
// the stack's refusal exporter.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { isAgentSecret, uploadToken, zkPassword } from '@fleetcap/lib/auth/agent-credential';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import { type RunningApp, startApp } from './processes.ts';
import { mariadbCli, repoRoot } from './stack.ts';

export const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
export const stackTls = {
  ca: join(stackHome, 'tls', 'ca.crt'),
  cert: join(stackHome, 'tls', 'splitcap.crt'),
  key: join(stackHome, 'tls', 'splitcap.key'),
};

/** Runs `fleetcap <args>` from this repository's sources; resolves with its output (throws on a non-zero exit). */
export function fleetcap(args: string[]): string {
  return execFileSync(process.execPath, [...SOURCE_EXEC_ARGV, join(repoRoot, 'cli/src/main.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `fleetcap agents add|rotate <id> --secret-file <file>` and the secret it wrote there. */
export function enrollInto(command: 'add' | 'rotate', agentId: string, file: string, extra: string[] = []): string {
  fleetcap(['agents', command, agentId, '--secret-file', file, ...extra]);
  return readFileSync(file, 'utf8').trim();
}

/** `fleetcap agents add|rotate <id>` into a new file of `dir`, and the secret it wrote. */
export function enroll(command: 'add' | 'rotate', agentId: string, dir: string, extra: string[] = []): string {
  const file = join(dir, `${agentId}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.secret`);
  return enrollInto(command, agentId, file, extra);
}

/** splitcap serving HTTPS only with the stack's certificate, under its own Redis and queue prefix, on a free port. */
export function startHttpsSplitcap(prefix: string, env: Record<string, string> = {}): Promise<RunningApp> {
  return startApp('splitcap', {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TLS_CERT: stackTls.cert,
    FLEETCAP_SPLITCAP_TLS_KEY: stackTls.key,
    FLEETCAP_SPLITCAP_PLAINTEXT: 'refuse',
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SESSION_DELAY_MS: '1000',
    ...env,
  });
}

export function removeCredentials(agentPrefix: string): void {
  mariadbCli(`DELETE FROM agent_credential WHERE agent_id LIKE '${agentPrefix}%'`);
}

export interface Answer {
  status: number;
  body: string;
}

/** POSTs over HTTPS trusting `ca` only; rejects with the TLS error when the server's certificate is not its. */
export function httpsPost(url: string, ca: Buffer, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca, headers: { ...headers, 'content-length': String(body.length) }, agent: false },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** GET over HTTPS trusting `ca`. */
export function httpsGet(url: string, ca: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { ca, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    })
      .on('error', reject)
      .end();
  });
}

/** The value of one series in Prometheus text (0 when absent): `name{a="b"}`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (want.every((w) => rest.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** A CA of the attacker's own and a certificate it signed for 127.0.0.1 (keys 0600), in dir. */
export function rogueCertificate(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const sh = (cmd: string) => execFileSync('bash', ['-c', `umask 077; ${cmd}`], { stdio: 'pipe' });
  sh(
    `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=rogue CA" -addext "basicConstraints=critical,CA:TRUE" -keyout ${f('ca.key')} -out ${f('ca.crt')}`,
  );
  sh(
    `openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=splitcap" -keyout ${f('key.pem')} -out ${f('csr.pem')}`,
  );
  sh(
    `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ${f('ext')} && openssl x509 -req -in ${f('csr.pem')} -CA ${f('ca.crt')} -CAkey ${f('ca.key')} -CAcreateserial -days 2 -extfile ${f('ext')} -out ${f('cert.pem')}`,
  );
  return { ca: f('ca.crt'), cert: f('cert.pem'), key: f('key.pem') };
}

/** The stack's refusal exporter (apps/refusal-exporter, started by `stack up` beside the servers) and its log. */
export const refusalExporter = {
  url: `http://127.0.0.1:${process.env.FLEETCAP_REFUSAL_EXPORTER_PORT ?? 8097}`,
  log: join(stackHome, 'logs', 'refusal-exporter.log'),
};

/** The sum of fleetcap_server_refusals_total over the series whose labels include `labels`. */
export async function serverRefusals(labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${refusalExporter.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('fleetcap_server_refusals_total{')) continue;
    const labelText = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const has = new Map(
      [...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, JSON.parse(`"${m[2]}"`)]),
    );
    if (Object.entries(labels).every(([k, v]) => has.get(k) === v))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Waits (up to timeoutMs) for fleetcap_server_refusals_total{labels} to reach `atLeast`; returns the value. */
export async function waitForServerRefusals(
  labels: Record<string, string>,
  atLeast: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await serverRefusals(labels);
    if (value >= atLeast) return value;
    if (Date.now() > deadline)
      throw new Error(
        `fleetcap_server_refusals_total${JSON.stringify(labels)} is ${value} after ${timeoutMs} ms, expected ≥ ${atLeast}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits for the refusal exporter's log line that has every field of `fields`; returns the whole line. */
export async function refusalLogLine(
  fields: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(refusalExporter.log) ? readFileSync(refusalExporter.log, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (Object.entries(fields).every(([k, v]) => entry[k] === v)) return entry;
    }
    if (Date.now() > deadline) throw new Error(`no line with ${JSON.stringify(fields)} in ${refusalExporter.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The scan of /proc for secrets: what is secret, which processes, what each shows.

/** Every secret of the stack and of the agents it enrolled, by where it comes from: each file `stack up` generated
 * (.stack/secrets/; an agent secret with its upload token and ZooKeeper password), a line of each TLS private key. */
export function stackSecrets(): Map<string, string> {
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
    addSecret(found, text.split('\n')[0]!.trim(), name);
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

/** Adds a secret, and for an agent secret its upload token and ZooKeeper password, to `secrets`. */
export function addSecret(secrets: Map<string, string>, secret: string, what: string): Map<string, string> {
  secrets.set(secret, what);
  if (isAgentSecret(secret)) {
    secrets.set(uploadToken(secret), `the upload token of ${what}`);
    secrets.set(zkPassword(secret), `the ZooKeeper password of ${what}`);
  }
  return secrets;
}

export function readProc(pid: number | string, file: 'cmdline' | 'environ' | 'stat'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // gone meanwhile, or another user's
  }
}

export function parentPid(pid: number | string): number {
  const stat = readProc(pid, 'stat') ?? '';
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every pid of the machine. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** The pids of a process and all its descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const ppid = parentPid(p);
    children.set(ppid, [...(children.get(ppid) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Which secret shows on the command line of which of `pids` ("pid N (program): what"), and how many were read. */
export function secretsOnCommandLines(
  secrets: Map<string, string>,
  pids: number[] = allPids(),
): { scanned: number; found: string[] } {
  let scanned = 0;
  const found: string[] = [];
  for (const pid of pids) {
    const cmdline = readProc(pid, 'cmdline');
    if (cmdline === undefined) continue;
    scanned++;
    for (const [secret, what] of secrets)
      if (cmdline.includes(secret)) found.push(`pid ${pid} (${cmdline.split('\0')[0]}): ${what}`);
  }
  return { scanned, found };
}

/** Which secret shows in the environment of which of `pids`, but those `allowed` for that pid. */
export function secretsInEnvironments(
  secrets: Map<string, string>,
  pids: number[],
  allowed: (pid: number, secret: string) => boolean = () => false,
): string[] {
  const found: string[] = [];
  for (const pid of pids) {
    const vars = readProc(pid, 'environ')?.split('\0');
    if (vars === undefined) continue;
    for (const [secret, what] of secrets) {
      if (allowed(pid, secret)) continue;
      if (vars.some((v) => v.includes(secret)))
        found.push(`pid ${pid} (${(readProc(pid, 'cmdline') ?? '').split('\0').slice(0, 3).join(' ')}): ${what}`);
    }
  }
  return found;
}

/** The sniffer's environment holds its own upload token, and no other password, secret, credential or token variable. */
export function assertSnifferEnvironment(pid: number, ownToken: string): void {
  const vars = (readProc(pid, 'environ') ?? '').split('\0');
  assert.ok(vars.includes(`FLEETCAP_AGENT_TOKEN=${ownToken}`), `the sniffer (pid ${pid}) has its own upload token`);
  assert.deepEqual(
    vars.filter((v) => /PASSWORD|SECRET|CREDENTIAL|TOKEN/.test(v.slice(0, v.indexOf('=')))),
    [`FLEETCAP_AGENT_TOKEN=${ownToken}`],
    'no other password, secret, credential or token variable in the sniffer’s environment',
  );
}
