// The cluster stack's settings (.stack/run/cluster.env, written by `bash stack/stack.sh up --cluster`) put into this
// process's environment, so that the connections loaded after this import (test/helpers/stack.ts) and every app started
// from here reach the clusters: import it before anything that loads connections.
import { CLUSTER_VARIABLES, clusterEnvFile, readClusterEnv } from './cluster-env-file.ts';

export const clusterEnv: Record<string, string> = readClusterEnv();
for (const [k, v] of Object.entries(clusterEnv)) process.env[k] = v;

/** Fails (never skips) with the command to run when the cluster stack is not up. */
export function assertClusterStack(): void {
  for (const name of CLUSTER_VARIABLES)
    if (!clusterEnv[name])
      throw new Error(
        `${clusterEnvFile} has no ${name}: the cluster stack is not up; run 'bash stack/stack.sh up --cluster' first`,
      );
}
