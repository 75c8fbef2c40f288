// The bidirectional session key: protocol plus both endpoints in canonical order, so that both directions of a
// conversation name the same session.
//
// Text form: `tcp/10.0.0.1/51000/10.0.0.2/443`, `udp/2001:db8::1/53/2001:db8::2/40000`. The separator "/" never
// occurs in an address, a port or a protocol name, so parsing is a plain split that is safe for IPv6, and the key
// contains no "{" "}" and no whitespace, so it can sit inside a Redis key (and inside a `{…}` hash tag).
//
// Canonical order: the endpoint whose address sorts first (JavaScript string order, i.e. UTF-16 code units), then the
// lower port on equal addresses. Any total order would do; this one costs one string comparison per packet.
//
// The pipeline's sessions are one per vantage point: the agent that captured the packets is part of a session's
// identity (agentSessionKey), so two agents that see one conversation hold two sessions, and one agent's packets
// never change another agent's session.
import { agentIdPattern } from '../agent/agent-id.ts';
import type { TransportProtocol } from '../packet/decode.ts';

export interface Endpoint {
  address: string;
  port: number;
}

export interface SessionKey {
  proto: TransportProtocol;
  /** The endpoint that sorts first. */
  a: Endpoint;
  /** The endpoint that sorts second (equal to `a` for a packet sent to itself). */
  b: Endpoint;
}

/** Direction of a packet relative to the canonical order of its key. */
export const DIRECTION_A_TO_B = 0;
export const DIRECTION_B_TO_A = 1;
export type CanonicalDirection = typeof DIRECTION_A_TO_B | typeof DIRECTION_B_TO_A;

const SEPARATOR = '/';

/** True when (srcAddress, sport) is the canonical endpoint "a" of the pair, i.e. the packet travels a → b. */
export function isCanonicalOrder(srcAddress: string, sport: number, dstAddress: string, dport: number): boolean {
  if (srcAddress < dstAddress) return true;
  if (srcAddress > dstAddress) return false;
  return sport <= dport;
}

/** The key text of the session a packet belongs to, whichever way the packet travels. */
export function sessionKeyOf(
  proto: TransportProtocol,
  srcAddress: string,
  sport: number,
  dstAddress: string,
  dport: number,
): string {
  // One flat string (join), not a template's tree of concatenations: every session keeps its key.
  return isCanonicalOrder(srcAddress, sport, dstAddress, dport)
    ? [proto, srcAddress, sport, dstAddress, dport].join('/')
    : [proto, dstAddress, dport, srcAddress, sport].join('/');
}

export function encodeSessionKey(key: SessionKey): string {
  return sessionKeyOf(key.proto, key.a.address, key.a.port, key.b.address, key.b.port);
}

export class SessionKeyError extends Error {
  constructor(text: string, why: string) {
    super(`invalid session key ${JSON.stringify(text)}: ${why}`);
    this.name = 'SessionKeyError';
  }
}

function parsePort(text: string, field: string, whole: string): number {
  const port = Number(text);
  if (text === '' || !Number.isInteger(port) || port < 0 || port > 65535 || String(port) !== text) {
    throw new SessionKeyError(whole, `${field} ${JSON.stringify(text)} is not a port number`);
  }
  return port;
}

/** Parses the text form; rejects anything encodeSessionKey would not have produced. */
export function parseSessionKey(text: string): SessionKey {
  const parts = text.split(SEPARATOR);
  if (parts.length !== 5) throw new SessionKeyError(text, `expected 5 "/"-separated fields, found ${parts.length}`);
  const [proto, addressA, portA, addressB, portB] = parts as [string, string, string, string, string];
  if (proto !== 'tcp' && proto !== 'udp') throw new SessionKeyError(text, `unknown protocol ${JSON.stringify(proto)}`);
  if (addressA === '' || addressB === '') throw new SessionKeyError(text, 'empty address');
  const a = { address: addressA, port: parsePort(portA, 'port a', text) };
  const b = { address: addressB, port: parsePort(portB, 'port b', text) };
  if (!isCanonicalOrder(a.address, a.port, b.address, b.port)) {
    throw new SessionKeyError(text, 'endpoints are not in canonical order');
  }
  return { proto, a, b };
}

/** Direction of a packet from (srcAddress, sport) within the session `key`. */
export function canonicalDirection(
  srcAddress: string,
  sport: number,
  dstAddress: string,
  dport: number,
): CanonicalDirection {
  return isCanonicalOrder(srcAddress, sport, dstAddress, dport) ? DIRECTION_A_TO_B : DIRECTION_B_TO_A;
}

function badAgent(agent: string): string {
  return `agent id ${JSON.stringify(agent)} is not 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`;
}

/**
 * A session as one agent saw it: `<agent>/<key>`, e.g. `host-1/tcp/10.0.0.1/443/10.0.0.2/51000`. An agent id
 * (lib/src/agent/paths.ts) holds no "/", "{", "}" or whitespace, so the first "/" ends the agent, and the text
 * still sits inside a Redis hash tag.
 */
export function agentSessionKey(agent: string, key: string): string {
  if (!agentIdPattern.test(agent)) throw new SessionKeyError(`${agent}${SEPARATOR}${key}`, badAgent(agent));
  return `${agent}${SEPARATOR}${key}`;
}

/** The agent and the session key of an agentSessionKey text; the key is checked as parseSessionKey checks it. */
export function parseAgentSessionKey(text: string): { agent: string; key: SessionKey } {
  const at = text.indexOf(SEPARATOR);
  const agent = at < 0 ? '' : text.slice(0, at);
  if (!agentIdPattern.test(agent)) throw new SessionKeyError(text, badAgent(agent));
  return { agent, key: parseSessionKey(text.slice(at + 1)) };
}
