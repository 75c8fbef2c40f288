// docker-compose.yml as `docker-compose config` resolves it (Debian's docker-compose v1: anchors merged, ${VAR}
// defaults filled in, relative paths made absolute), parsed, for tests that hold other files to it. No engine needed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './stack.ts';

export interface ComposeService {
  image?: string;
  profiles?: string[];
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  network_mode?: string;
  extra_hosts?: string[];
  depends_on?: Record<string, { condition: string }>;
  /** Compose secrets the service gets, mounted at /run/secrets/<name>. */
  secrets?: Array<string | { source: string }>;
}

export interface ComposeConfig {
  services: Record<string, ComposeService>;
  /** Top-level secrets: the host file of each (`bash stack/stack.sh secrets` makes them). */
  secrets?: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

/** Every profile, so that the apps and the monitoring services are in. */
export const composeProfiles = ['apps', 'monitoring'];

export function compose(...args: string[]): string {
  // A variable of the caller's shell would change what compose fills in; the tests check the file's defaults.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEETCAP_')));
  return execFileSync('docker-compose', args, { cwd: repoRoot, encoding: 'utf8', env });
}

export function composeConfig(): ComposeConfig {
  return parse(compose(...composeProfiles.flatMap((p) => ['--profile', p]), 'config')) as ComposeConfig;
}

/** The service's environment as strings, as a process in its container sees it. */
export function serviceEnv(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

/** The names of the compose secrets a service is given. */
export function secretNames(service: ComposeService): string[] {
  return (service.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));
}

/**
 * The service's environment as a config loader on this machine can read it: every /run/secrets/<name> (where the
 * container finds its secret) becomes the host file of that secret. Throws for a secret the service is not given.
 */
export function serviceEnvOnHost(service: ComposeService, config: ComposeConfig): Record<string, string> {
  const given = new Set(secretNames(service));
  return Object.fromEntries(
    Object.entries(serviceEnv(service)).map(([k, v]) => {
      const m = /^\/run\/secrets\/([\w.-]+)$/.exec(v);
      if (!m) return [k, v];
      if (!given.has(m[1]!)) throw new Error(`${k}=${v}: the service is not given the secret ${m[1]}`);
      const file = config.secrets?.[m[1]!]?.file;
      if (file === undefined) throw new Error(`${k}=${v}: no top-level secret ${m[1]}`);
      return [k, file];
    }),
  );
}

export interface Mount {
  source: string;
  target: string;
  /** The source relative to the repository when it is a bind mount of a repository file or folder. */
  repoPath: string | null;
  readOnly: boolean;
}

export function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    const [source = '', target = '', mode = 'rw'] = v.split(':');
    const inRepo = source.startsWith('/') && !relative(repoRoot, source).startsWith('..');
    return {
      source,
      target,
      repoPath: inRepo ? relative(repoRoot, source) : null,
      readOnly: mode.split(',').includes('ro'),
    };
  });
}

/** The bind mount whose target is `target`; asserts (throws) that its source is a file or folder in the repo. */
export function repoMount(service: ComposeService, target: string): Mount & { repoPath: string } {
  const m = mounts(service).find((x) => x.target === target);
  if (!m || m.repoPath === null) throw new Error(`no bind mount of a repository path at ${target}`);
  if (!existsSync(m.source)) throw new Error(`${m.repoPath} (mounted at ${target}) does not exist`);
  return m as Mount & { repoPath: string };
}
