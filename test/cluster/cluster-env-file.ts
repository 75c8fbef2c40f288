// The cluster stack's settings file (.stack/run/cluster.env, written by `bash stack/stack.sh up --cluster`), read
// without touching this process's environment (bench/cluster/run.ts gives it to some children only).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackHome } from '@fleetcap/lib/config/secrets';

export const clusterEnvFile = join(stackHome(), 'run', 'cluster.env');

/** The file's NAME=value lines (comments and blank lines left out). */
export function parseClusterEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The settings, or {} when the cluster stack is not up. */
export function readClusterEnv(): Record<string, string> {
  return existsSync(clusterEnvFile) ? parseClusterEnv(readFileSync(clusterEnvFile, 'utf8')) : {};
}

/** The variables that point an app at the clusters: set to '' they make it use the single servers again. */
export const CLUSTER_VARIABLES = ['FLEETCAP_REDIS_CLUSTER_NODES', 'FLEETCAP_AMQP_CLUSTER_NODES', 'FLEETCAP_ZK_CONNECT'];
