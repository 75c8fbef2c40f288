// The benchmark's workloads: a fleet's mix of sessions, and a flood of distinct sources.
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { type SessionShape, syntheticSession } from '@fleetcap/lib/detectors/synthetic';

const T0 = 1_800_000_000;

const ip = (n: number, base: number) => `${base}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

/**
 * A fleet's mix, in time order over 10 minutes: 70% conversations of 5,000 clients with 500 servers, 8% horizontal
 * and 7% vertical scan probes (20 scanners), 10% half-open SYNs at 2 targets from spoofed sources, 5% brute force.
 */
export function fleetMix(n: number, run: number): DetectorSession[] {
  const sessions: DetectorSession[] = [];
  // mulberry32: an LCG's low bits repeat with a short period, which the beaconing detector rightly finds.
  let x = 12345 + run;
  const rand = () => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < n; i++) {
    const atSec = T0 + (i / n) * 600;
    const r = rand();
    const agent = `agent-${i % 8}`;
    const communityId = `1:r${run}s${i}=`;
    let shape: SessionShape = 'conversation';
    let fields: Partial<DetectorSession> = {};
    if (r < 0.7) {
      fields = { src: ip(Math.floor(rand() * 5000), 10), dst: ip(Math.floor(rand() * 500), 172), dport: 443 };
    } else if (r < 0.78) {
      shape = 'rejected';
      fields = { src: ip(Math.floor(rand() * 20), 100), dst: ip(Math.floor(rand() * 65536), 172), dport: 22 };
    } else if (r < 0.85) {
      shape = 'rejected';
      fields = {
        src: ip(Math.floor(rand() * 20), 100),
        dst: ip(Math.floor(rand() * 500), 172),
        dport: 1 + Math.floor(rand() * 1024),
      };
    } else if (r < 0.95) {
      shape = 'half-open';
      fields = { src: ip(Math.floor(rand() * 16_000_000), 198), dst: ip(Math.floor(rand() * 2), 172), dport: 80 };
    } else {
      fields = { src: ip(Math.floor(rand() * 10), 100), dst: ip(Math.floor(rand() * 5), 172), dport: 22 };
    }
    sessions.push(syntheticSession(shape, { ...fields, agent, communityId, atSec }));
  }
  return sessions;
}

/** Sources that each probed 3 destinations: every one a tracked subject of the horizontal scan detector. */
export function distinctSources(n: number, run: number): DetectorSession[] {
  const sessions: DetectorSession[] = [];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      sessions.push(
        syntheticSession('rejected', {
          src: ip(i, 100),
          dst: ip(k, 172),
          dport: 23,
          communityId: `1:m${run}s${i}k${k}=`,
          atSec: T0 + i * 0.001,
        }),
      );
    }
  }
  return sessions;
}

/** Conversations of `n` distinct client-server pairs, each seen once: every session a new beaconing subject. */
export function newPairs(n: number, run: number): DetectorSession[] {
  return Array.from({ length: n }, (_, i) =>
    syntheticSession('conversation', {
      src: ip(i, 10),
      dst: ip(i % 500, 172),
      dport: 443,
      agent: `agent-${i % 8}`,
      communityId: `1:np${run}s${i}=`,
      atSec: T0 + (i / n) * 600,
    }),
  );
}

/**
 * Conversations of 50 client-server pairs polling every 1-5 s over `n` sessions: each pair's window fills to the
 * member cap (64 starts) and is looked at for a period on every session, a period it can never hold.
 */
export function busyPairs(n: number, run: number): DetectorSession[] {
  return Array.from({ length: n }, (_, i) =>
    syntheticSession('conversation', {
      src: ip(i % 50, 10),
      dst: ip(i % 5, 172),
      dport: 443,
      agent: `agent-${i % 8}`,
      communityId: `1:bp${run}s${i}=`,
      // 50 sessions every 3 s: each pair one start per 3 s, give or take 1.5 s.
      atSec: T0 + Math.floor(i / 50) * 3 + ((i * 7919) % 300) / 100,
    }),
  );
}
