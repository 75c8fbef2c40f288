// The form of an agent id, apart from paths.ts so that code that only checks ids (the session key, which every
// offline command loads) does not load zod with the ZooKeeper path settings.

/** An agent id: one ZooKeeper path segment, and the agent config schema's rule. */
export const agentIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
