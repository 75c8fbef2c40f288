// Sessions of each kind the detectors tell apart, for the unit tests, the benchmark and the integration test.
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/decode.ts';
import type { DetectorSession } from './detector-session.ts';

export type SessionShape = 'half-open' | 'rejected' | 'unanswered' | 'conversation' | 'udp-unanswered';

let counter = 0;

/** A session of `shape` from src to dst:dport at `atSec` (seconds), seen by `agent`. */
export function syntheticSession(
  shape: SessionShape,
  fields: Partial<DetectorSession> & { atSec?: number; seconds?: number } = {},
): DetectorSession {
  const { atSec = 1_700_000_000, seconds = 0.01, ...rest } = fields;
  const firstUs = Math.round(atSec * 1e6);
  counter++;
  const base: DetectorSession = {
    agent: 'agent-1',
    communityId: `1:synthetic${counter}=`,
    proto: 'tcp',
    src: '10.0.0.1',
    sport: 40000 + (counter % 20000),
    dst: '10.0.1.1',
    dport: 80,
    firstUs,
    lastUs: firstUs + Math.round(seconds * 1e6),
    packets: 2,
    bytes: 120,
    packetsFromSrc: 1,
    srcFlags: TCP_SYN,
    dstFlags: 0,
    srcPayloadBytes: 0,
    dstPayloadBytes: 0,
  };
  switch (shape) {
    case 'half-open':
      Object.assign(base, { packets: 3, packetsFromSrc: 2, srcFlags: TCP_SYN | TCP_RST, dstFlags: TCP_SYN | TCP_ACK });
      break;
    case 'rejected':
      Object.assign(base, { dstFlags: TCP_RST | TCP_ACK });
      break;
    case 'unanswered':
      Object.assign(base, { packets: 1 });
      break;
    case 'udp-unanswered':
      Object.assign(base, { proto: 'udp', packets: 1, srcFlags: 0, srcPayloadBytes: 40 });
      break;
    case 'conversation':
      Object.assign(base, {
        packets: 12,
        packetsFromSrc: 6,
        bytes: 1500,
        srcFlags: TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN,
        dstFlags: TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN,
        srcPayloadBytes: 120,
        dstPayloadBytes: 600,
      });
      break;
  }
  return { ...base, ...rest };
}
