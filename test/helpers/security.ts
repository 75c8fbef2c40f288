// What the attacker tests (test/security) share: enrolling agents the operator's way (`fleetcap agents ...`, the
// real command against the real MariaDB), HTTPS requests that trust a given CA, a CA of an attacker's own made
// with openssl, the stack's CA and splitcap certificate (made by `stack up`), and reading a metric from /metrics.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
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

/** `fleetcap agents add|rotate <id> --secret-file` and the secret it wrote. */
export function enroll(command: 'add' | 'rotate', agentId: string, dir: string, extra: string[] = []): string {
  const file = join(dir, `${agentId}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.secret`);
  fleetcap(['agents', command, agentId, '--secret-file', file, ...extra]);
  return readFileSync(file, 'utf8').trim();
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
