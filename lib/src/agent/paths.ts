// ZooKeeper paths of the agents, under a root (FLEETCAP_ZK_ROOT, default /fleetcap) that config-sync and every
// listener must agree on: <root>/agents/<agentId>/config (written by config-sync, watched by the listener) and
// <root>/agents/<agentId>/live (ephemeral, written by the listener, mirrored into agent_status by config-sync).
import { z } from 'zod';
import { agentIdPattern } from './agent-id.ts';

export { agentIdPattern };

export function isPathSafeAgentId(agentId: string): boolean {
  return agentIdPattern.test(agentId);
}

export const defaultZkRoot = '/fleetcap';
const zkRootPattern = /^(\/[A-Za-z0-9._-]+)+$/;

/** FLEETCAP_ZK_ROOT, read the same way by config-sync and the listener. */
export const zkRootSetting = z
  .string()
  .regex(zkRootPattern, 'must be an absolute ZooKeeper path such as /fleetcap')
  .default(defaultZkRoot);

export class AgentPaths {
  readonly agents: string;
  constructor(readonly root = defaultZkRoot) {
    if (!zkRootPattern.test(root))
      throw new Error(`ZooKeeper root ${JSON.stringify(root)}: must be an absolute ZooKeeper path such as /fleetcap`);
    this.agents = `${root}/agents`;
  }
  agent(agentId: string): string {
    return `${this.agents}/${agentId}`;
  }
  config(agentId: string): string {
    return `${this.agents}/${agentId}/config`;
  }
  live(agentId: string): string {
    return `${this.agents}/${agentId}/live`;
  }
}
