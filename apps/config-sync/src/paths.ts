// ZooKeeper paths of the agents: <root>/agents/<agentId>/config (written by config-sync) and
// <root>/agents/<agentId>/live (ephemeral, written by the listener).
const agentIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An agent id that can be a ZooKeeper path segment (the agent config schema's own rule). */
export function isPathSafeAgentId(agentId: string): boolean {
  return agentIdPattern.test(agentId);
}

export class AgentPaths {
  readonly agents: string;
  constructor(readonly root = '/fleetcap') {
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
