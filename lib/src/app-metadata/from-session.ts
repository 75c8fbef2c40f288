// Offline sessions (the Sessionizer of lib/src/session) as application-metadata input. The sessionizer must keep
// packets and payloads: new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT }).
import { NO_KEPT_PACKET, type Session, type Sessionizer } from '../session/sessionizer.ts';
import {
  appMetadataOf,
  isDnsDatagram,
  isDnsPortPair,
  UDP_DATAGRAMS_DECIDING,
  unrecognisedPayloadProblem,
} from './detect.ts';
import { MAX_STREAM_BYTES } from './tcp-stream.ts';
import type { AppMetadata, AppPacket, AppSession } from './types.ts';

/** Payload bytes per session and direction worth keeping: what the parsers read at most. */
export const PAYLOAD_BYTES_KEPT = MAX_STREAM_BYTES;

const EMPTY = new Uint8Array(0);

export function appSessionOf(session: Session): AppSession {
  // Read from the sessionizer's kept-packet columns: only the fields the parsers read, in objects that die young.
  const packets: AppPacket[] = [];
  const kept = session.kept;
  const tcp = session.proto === 'tcp';
  if (kept !== null) {
    for (let k = session.firstKept; k !== NO_KEPT_PACKET; k = kept.next[k]!) {
      const direction = kept.direction[k] as 0 | 1;
      const payload = kept.payloadOf(k) ?? EMPTY;
      // One literal per protocol, so that each keeps one shape (UDP has no sequence number).
      const packet: AppPacket = tcp
        ? {
            direction,
            tcpFlags: kept.tcpFlags[k]!,
            tcpSeq: kept.tcpSeq[k]!,
            payload,
            payloadLength: kept.payloadLength[k]!,
          }
        : { direction, tcpFlags: kept.tcpFlags[k]!, payload, payloadLength: kept.payloadLength[k]! };
      packets.push(packet);
    }
  }
  return {
    proto: session.proto,
    initiatorPort: session.sport,
    responderPort: session.dport,
    packets,
    morePackets: session.packets > session.packetsKept,
  };
}

export function sessionMetadata(session: Session): AppMetadata {
  return appMetadataOf(appSessionOf(session));
}

/**
 * Metadata of the sessions of a sessionizer as packets arrive, holding payloads no longer than needed: a session's
 * stored packets are final once it has one packet more than the store keeps, so its metadata is computed then and
 * its payloads are freed; the others are computed when asked for. Call `added` with what every add returned.
 * What is kept per session is its metadata's JSON text (and its problem codes when it has any), not the object:
 * one flat string per session instead of a tree of small objects that the garbage collector copies and marks for as
 * long as the sessionizer lives, which cost more than computing the metadata.
 * A UDP session is recognised as its datagrams arrive, by the rule appMetadataOf applies to its first two with
 * payload: once they are not DNS, nothing of its payload will be read, so the sessionizer (when given) keeps no more
 * of it, and its metadata is written without the parsers (what appMetadataOf gives then: no service, and the port's
 * expected protocol as the reason). Most UDP sessions of the shared captures are not DNS.
 */
export class SessionMetadataCollector {
  /** By Session.ordinal: one sessionizer's sessions. */
  private readonly json: (string | undefined)[] = [];
  private readonly problems: (readonly string[] | undefined)[] = [];
  /** By Session.ordinal, UDP only: UDP_UNDECIDED, UDP_DNS or UDP_NOT_DNS, and the datagrams with payload seen. */
  private udpState = new Uint8Array(1024);
  private udpLooked = new Uint8Array(1024);

  constructor(
    private readonly maxPacketsKept: number,
    /** The sessions' sessionizer: told to keep no more payload of a session whose payload nothing will read. */
    private readonly sessionizer?: Sessionizer,
  ) {}

  added(session: Session | null): void {
    if (session === null) return;
    // While every packet is kept, the one just added is the session's last kept packet.
    if (session.proto === 'udp' && session.packets <= this.maxPacketsKept) this.recogniseUdp(session);
    else if (session.packets === this.maxPacketsKept + 1) this.compute(session, true);
  }

  private recogniseUdp(session: Session): void {
    const i = session.ordinal;
    if (i >= this.udpState.length) {
      const size = Math.max(i + 1, this.udpState.length * 2);
      const state = new Uint8Array(size);
      state.set(this.udpState);
      this.udpState = state;
      const looked = new Uint8Array(size);
      looked.set(this.udpLooked);
      this.udpLooked = looked;
    }
    if (this.udpState[i] !== UDP_UNDECIDED || session.kept === null) return;
    const payload = session.kept.payloadOf(session.lastKept);
    if (payload === undefined || payload.length === 0) return;
    if (isDnsDatagram(payload, isDnsPortPair(session.dport, session.sport))) {
      this.udpState[i] = UDP_DNS;
    } else if (++this.udpLooked[i]! === UDP_DATAGRAMS_DECIDING) {
      this.udpState[i] = UDP_NOT_DNS;
      this.sessionizer?.stopKeepingPayloads(session);
    }
  }

  /** The session's metadata as JSON (what JSON.stringify gives for metadataOf). */
  jsonOf(session: Session): string {
    return this.json[session.ordinal] ?? this.compute(session, false);
  }

  /** The session's problem codes, in the metadata's order. */
  problemsOf(session: Session): readonly string[] {
    if (this.json[session.ordinal] === undefined) this.compute(session, false);
    return this.problems[session.ordinal] ?? NO_PROBLEMS;
  }

  metadataOf(session: Session): AppMetadata {
    return JSON.parse(this.jsonOf(session)) as AppMetadata;
  }

  /**
   * `free`: drop the session's payloads now (while packets are still being read). A session asked for once the
   * sessionizer is done keeps them until the sessionizer goes, which costs no memory for longer than that.
   */
  private compute(session: Session, free: boolean): string {
    // Grown in order (sessions finish in any order), so that the arrays never turn sparse.
    while (this.json.length <= session.ordinal) {
      this.json.push(undefined);
      this.problems.push(undefined);
    }
    let json: string;
    if (session.proto === 'udp' && this.udpState[session.ordinal] === UDP_NOT_DNS) {
      json = this.notDnsJson(session);
    } else if (!carriesPayload(session)) {
      // Nothing for a parser to read (a scan, a handshake alone): what appMetadataOf gives for no payload, without
      // building the parsers' input or the metadata object. About one session in twelve of the shared captures.
      json = session.packets > session.packetsKept ? NEEDS_SERVICE_JSON : NOTHING_JSON;
    } else {
      const metadata = sessionMetadata(session);
      json = isEmpty(metadata) ? NOTHING_JSON : JSON.stringify(metadata);
      if (metadata.problems.length > 0) this.problems[session.ordinal] = metadata.problems;
    }
    this.json[session.ordinal] = json;
    if (free) session.dropPayloads();
    return json;
  }

  /** What appMetadataOf gives for a UDP session that is not DNS: explainUnrecognised alone. */
  private notDnsJson(session: Session): string {
    let hasPayload = false;
    const kept = session.kept!;
    for (let k = session.firstKept; k !== NO_KEPT_PACKET && !hasPayload; k = kept.next[k]!) {
      hasPayload = kept.payloadLength[k]! > 0;
    }
    if (!hasPayload) return session.packets > session.packetsKept ? NEEDS_SERVICE_JSON : NOTHING_JSON;
    const problem = unrecognisedPayloadProblem(session.dport, session.sport);
    if (problem === undefined) return NOTHING_JSON;
    this.problems[session.ordinal] = [problem];
    return `{"problems":[${JSON.stringify(problem)}],"needsMorePackets":[]}`;
  }
}

const UDP_UNDECIDED = 0;
const UDP_DNS = 1;
const UDP_NOT_DNS = 2;
const NO_PROBLEMS: readonly string[] = Object.freeze([]);
/** JSON.stringify of the metadata of a session with nothing recognised and nothing to report, and of one whose
 * stored packets carry no payload but whose later packets might (appMetadataOf's `needs('service')`). */
const NOTHING_JSON = '{"problems":[],"needsMorePackets":[]}';
const NEEDS_SERVICE_JSON = '{"problems":[],"needsMorePackets":["service"]}';

function isEmpty(m: AppMetadata): boolean {
  return (
    m.service === undefined &&
    m.problems.length === 0 &&
    m.needsMorePackets.length === 0 &&
    m.http === undefined &&
    m.tls === undefined &&
    m.dns === undefined &&
    m.ssh === undefined
  );
}

/** Whether any stored packet of the session had payload on the wire or in the capture (the parsers' "data"). */
function carriesPayload(session: Session): boolean {
  const kept = session.kept;
  if (kept === null) return false;
  for (let k = session.firstKept; k !== NO_KEPT_PACKET; k = kept.next[k]!) {
    if (kept.payloadLength[k]! > 0 || kept.chunkOf[k]! >= 0) return true;
  }
  return false;
}
