// What the detectors read of one classified session: one agent's view of one conversation, with enough of its TCP
// exchange to tell a probe from a conversation. The session-worker publishes one per committed verdict
// (lib/src/detectors/verdict-event.ts), `fleetcap detections FILE...` builds them from captures.
//
// The flags and payload fields summarise the packets the pipeline keeps (the first SESSION_MAX_PACKETS of the
// session): what decides a probe (the handshake, whether data flowed) happens in those.
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/decode.ts';

export interface DetectorSession {
  agent: string;
  /** Community ID v1 of the conversation: the same for every agent that saw it. */
  communityId: string;
  proto: 'tcp' | 'udp';
  /** The initiator (sender of the first packet) and the responder. */
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** µs since the epoch: first and last packet. */
  firstUs: number;
  lastUs: number;
  packets: number;
  bytes: number;
  /** Packets the initiator sent. */
  packetsFromSrc: number;
  /** OR of the TCP flags each side sent (0 for UDP). */
  srcFlags: number;
  dstFlags: number;
  /** Transport payload bytes each side sent. */
  srcPayloadBytes: number;
  dstPayloadBytes: number;
  /** Zeek's conn_state when known (offline). Evidence only: the outcome is read from the flags, as online. */
  connState?: string;
  /**
   * Authentication attempts its payloads show, whatever the port (auth-attempts.ts); 0 or absent: none seen.
   * What the brute-force detector counts.
   */
  authAttempts?: number;
  /**
   * Fingerprints of the distinct cleartext credentials the client sent (auth-attempts.ts): password guessing is many
   * of them against one service. Absent: none seen.
   */
  credentials?: string[];
  /** The model's verdict, when the session was classified. */
  label?: string;
  score?: number;
}

/**
 * How an attempt went, from the initiator's point of view:
 * - unanswered: the responder sent nothing (Zeek S0);
 * - rejected: the responder reset without accepting (REJ), or reset an ACK probe;
 * - half-open: SYN answered by SYN-ACK, never acknowledged (a SYN scan or a SYN flood);
 * - no-data: the handshake completed and no payload flowed either way (connect scans, health checks);
 * - stealth: no SYN and no ACK from the initiator (nmap FIN, Xmas and NULL scans);
 * - data: a conversation;
 * - midstream: no SYN seen but ACKs (the capture started inside a conversation): not an attempt.
 */
export type AttemptOutcome = 'unanswered' | 'rejected' | 'half-open' | 'no-data' | 'stealth' | 'data' | 'midstream';

export function attemptOutcome(s: DetectorSession): AttemptOutcome {
  const answered = s.packets > s.packetsFromSrc;
  const payload = s.srcPayloadBytes + s.dstPayloadBytes > 0;
  if (s.proto === 'udp') return !answered ? 'unanswered' : payload ? 'data' : 'no-data';
  if ((s.srcFlags & TCP_SYN) === 0) {
    if ((s.srcFlags & TCP_ACK) === 0) return payload ? 'midstream' : 'stealth';
    if (!payload && (s.dstFlags & TCP_RST) !== 0) return 'rejected';
    return 'midstream';
  }
  if (!answered) return 'unanswered';
  if ((s.dstFlags & TCP_SYN) === 0) return (s.dstFlags & TCP_RST) !== 0 ? 'rejected' : payload ? 'data' : 'no-data';
  if ((s.srcFlags & TCP_ACK) === 0) return 'half-open';
  return payload ? 'data' : 'no-data';
}

/** Outcomes that count as a scan probe: an attempt that carried no conversation. */
export function isProbe(outcome: AttemptOutcome): boolean {
  return outcome !== 'data' && outcome !== 'midstream';
}

/** Multicast and broadcast destinations: one datagram to them reaches many hosts and is no probe of one. */
export function isGroupAddress(address: string): boolean {
  if (address.includes(':')) return address.toLowerCase().startsWith('ff');
  if (address === '255.255.255.255' || address.endsWith('.255')) return true;
  const first = Number(address.slice(0, address.indexOf('.')));
  return first >= 224 && first <= 239;
}

/** `addr:port`, IPv6 in brackets. */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
