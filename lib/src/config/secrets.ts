// Where a process finds a secret (a database, Redis, RabbitMQ or Kafka Connect password): never a built-in default.
// In this order: the variable itself (FLEETCAP_X_PASSWORD, for deployments that inject it; discouraged), the file its
// _FILE variable names (FLEETCAP_X_PASSWORD_FILE, as Docker and Kubernetes secrets are mounted), else the file
// `bash stack/stack.sh up` generated under the stack's home (.stack/secrets/<name>, mode 0600), so that `fleetcap run`
// and the tests need no configuration. A secret found nowhere stops the process with what to set.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSecretFile } from '../auth/secret-file.ts';
import { ConfigError, describeEnvProblem, type Env, type EnvIssue } from './connections.ts';

/** lib/src/config (sources) and lib/dist/config (compiled) are both three levels below the repository. */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The stack's home (FLEETCAP_STACK_HOME, else .stack/ of this repository), as stack/env.sh sets it. */
export function stackHome(env: Env = process.env): string {
  return env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
}

/** The folder of the secrets `stack up` generates (mode 0700, each file 0600). */
export function stackSecretsDir(env: Env = process.env): string {
  return join(stackHome(env), 'secrets');
}

/** Shorter secrets are refused: a password someone typed, not one generated. */
export const MIN_SECRET_LENGTH = 8;

/** The secret of `variable`, or the issue that says where it was looked for. */
export function findSecret(env: Env, variable: string, stackFile: string): { value: string } | { issue: EnvIssue } {
  const tooShort = `must be at least ${MIN_SECRET_LENGTH} characters long`;
  const direct = env[variable];
  if (direct !== undefined && direct !== '') {
    return direct.length >= MIN_SECRET_LENGTH
      ? { value: direct }
      : { issue: { variable, value: direct, problem: tooShort } };
  }
  const fileVariable = `${variable}_FILE`;
  const named = env[fileVariable];
  const generated = join(stackSecretsDir(env), stackFile);
  const path = named ?? (existsSync(generated) ? generated : undefined);
  if (path === undefined) {
    return {
      issue: {
        variable: fileVariable,
        value: undefined,
        problem: `no secret: set it to a file holding the password (mode 0600), or run 'bash stack/stack.sh up', which generates ${generated}`,
      },
    };
  }
  try {
    const value = readSecretFile(path, fileVariable);
    if (value.length < MIN_SECRET_LENGTH) return { issue: { variable: fileVariable, value: path, problem: tooShort } };
    return { value };
  } catch (err) {
    return { issue: { variable: fileVariable, value: path, problem: (err as Error).message } };
  }
}

/** Resolves several secrets at once; every one missing is reported in one ConfigError. */
export function resolveSecrets<K extends string>(
  env: Env,
  wanted: Record<K, { variable: string; stackFile: string }>,
  what: string,
): Record<K, string> {
  const out = {} as Record<K, string>;
  const issues: EnvIssue[] = [];
  for (const key of Object.keys(wanted) as K[]) {
    const found = findSecret(env, wanted[key].variable, wanted[key].stackFile);
    if ('value' in found) out[key] = found.value;
    else issues.push(found.issue);
  }
  if (issues.length > 0) throw new ConfigError(describeEnvProblem(`${what} secret`, issues), issues);
  return out;
}
