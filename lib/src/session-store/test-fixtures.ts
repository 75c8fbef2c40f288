// A session as splitcap stores it (its message, meta hash and packet members), for the unit tests of what reads
// stored sessions: the reader here and the session-worker. No runtime code imports it.

export const storedSession = {
  message: {
    key: 'tcp/10.0.0.2/443/10.0.0.9/51000',
    reason: 'full' as const,
    occurrence: 1732451234567890,
    agent: 'a1',
    enqueuedAt: 1,
  },
  meta: {
    agent: 'a1',
    initiator: '1', // endpoint b (10.0.0.9:51000) sent the first packet
    occurrence: '1732451234567890',
    first: '1732451234567890',
    last: '1732451235000001',
    packets: '24',
    overflow: '6',
    bytes: '9000',
  },
  // Stored directions are canonical: 1 = b to a, i.e. from the initiator (side b) here.
  members: ['1:1:1732451234567890:74:0:2', '2:0:1732451234600000:74:0:18', '3:1:1732451234700000:66:0:16'],
};
