// Session features for the traffic classifier. The dataset export (training) and forecast (serving) both call
// extractFeatures, so a model never sees features computed any other way (no train/serve skew).
//
// What a session looks like to the features: its transport protocol, the server port only as a coarse class, and
// its first packets (at most SESSION_MAX_PACKETS, as splitcap stores them, and only those within FEATURE_WINDOW_US
// of the first one, which is what the session-worker holds when the delayed message fires). Each packet gives its
// direction (0 from the initiator/client), capture time, wire length, payload length and TCP flags.
//
// Deliberately absent: addresses, TTLs, absolute times, raw port numbers. Those describe where and when a lab ran,
// not how a tool behaves, and a model that learns them fails on anyone else's network.
//
// Changing anything below that alters a value for some input is a new FEATURE_VERSION: a model records the version
// it was trained with and forecast refuses a model whose version or feature count differs.
import { FROM_CLIENT, FROM_SERVER } from '../session-store/layout.ts';
import { CONTENT_FEATURE_NAMES, type ContentFeatureName, writeContentFeatures } from './content.ts';
import { LOGIN_FEATURE_NAMES, type LoginFeatureName, writeLoginFeatures } from './logins.ts';
import { SESSION_MAX_PACKETS } from './session-max-packets.ts';

export { FROM_CLIENT, FROM_SERVER };

/** Bump on every change to the names, their order, or how any value is computed. */
export const FEATURE_VERSION = 4;

/**
 * The oldest feature version whose vector is a prefix of this one: version 3 only appended the content features
 * to version 2 and version 4 the login features to version 3, every older value is computed as before, so a model of
 * version 2 or 3 can still be served with the first columns (lib/src/classifier/model.ts). A change to an existing value resets this to FEATURE_VERSION.
 */
export const OLDEST_PREFIX_FEATURE_VERSION = 2;

// The session shape the features read, and so the one every model is trained on (its card records it as
// features.maxPackets and features.windowUs). splitcap's defaults are these constants, and splitcap warns at
// startup when it runs with another shape than the model card's.

export { SESSION_MAX_PACKETS };

/** Only packets within this long after the session's first packet count. */
export const FEATURE_WINDOW_US = 5_000_000;

/**
 * How long after its first packet splitcap has a session classified at the latest (FLEETCAP_SESSION_DELAY_MS
 * default): when the feature window is over, so that the features see every packet they would have in training.
 */
export const SESSION_DELAY_MS = FEATURE_WINDOW_US / 1000;

/** One packet of a session; the fields of session-store's PacketRecord that the features read. */
export interface FeaturePacket {
  /** 0 from the client (the session's initiator), 1 from the server. */
  direction: number;
  /** Capture time in µs since the epoch (only differences are used). */
  tsUs: number;
  wireLength: number;
  payloadLength: number;
  /** TCP flags byte; 0 for UDP. */
  tcpFlags: number;
  /**
   * The captured transport payload (version 3: the content features read its first CONTENT_BYTES_PER_PACKET bytes).
   * Absent or shorter than payloadLength when the capture or the store cut it; absent payloads read as no content.
   */
  payload?: Uint8Array;
}

export interface FeatureSession {
  proto: 'tcp' | 'udp';
  clientPort: number;
  serverPort: number;
  packets: readonly FeaturePacket[];
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
/** The six classic flags; ECE and CWR depend on the host's ECN settings, not on behaviour, and are ignored. */
const CLASSIC = 0x3f;

/** Server ports named as service groups: the common ports of a few services, never the raw number. */
const SSH_PORTS = new Set([22]);
const HTTP_PORTS = new Set([80, 8080]);
const HTTPS_PORTS = new Set([443, 8443]);
const DNS_PORTS = new Set([53]);

/** Feature names, in the order of the values in the vector. */
export const FEATURE_NAMES = [
  // protocol and coarse ports
  'proto_tcp',
  'proto_udp',
  'server_port_well_known', // < 1024
  'server_port_registered', // 1024..49151
  'server_port_dynamic', // >= 49152
  'server_service_ssh', // 22
  'server_service_http', // 80, 8080
  'server_service_https', // 443, 8443
  'server_service_dns', // 53
  'client_port_well_known', // client port < 1024 (unusual for a real client)
  // counts
  'packets',
  'packets_fwd',
  'packets_bwd',
  'fwd_packet_ratio',
  'reached_max_packets',
  // bytes
  'wire_bytes_fwd',
  'wire_bytes_bwd',
  'payload_bytes_fwd',
  'payload_bytes_bwd',
  'payload_packets_fwd',
  'payload_packets_bwd',
  'payload_packet_ratio',
  'bwd_payload_byte_ratio',
  // packet sizes
  'wire_fwd_mean',
  'wire_fwd_std',
  'wire_fwd_min',
  'wire_fwd_max',
  'wire_bwd_mean',
  'wire_bwd_std',
  'wire_bwd_min',
  'wire_bwd_max',
  'payload_fwd_mean',
  'payload_fwd_max',
  'payload_bwd_mean',
  'payload_bwd_max',
  'first_wire_length',
  'first_payload_length',
  'header_bytes_first', // wire - payload of the first packet: link + IP + transport headers (options)
  // timing (seconds)
  'duration',
  'iat_mean',
  'iat_std',
  'iat_min',
  'iat_max',
  'iat_fwd_mean',
  'iat_fwd_max',
  'iat_bwd_mean',
  'first_response_time', // first packet to the first server packet; -1 without one
  'first_payload_time', // first packet to the first packet with payload; -1 without one
  'max_iat_share', // largest gap / duration; 0 for a single packet
  'packets_per_second',
  // conversation shape
  'direction_changes',
  'direction_change_ratio',
  'first_bwd_index', // index of the first server packet, -1 without one
  // TCP flags
  'syn_only_fwd',
  'syn_only_bwd',
  'syn_ack_fwd',
  'syn_ack_bwd',
  'rst_fwd',
  'rst_bwd',
  'fin_fwd',
  'fin_bwd',
  'psh_fwd',
  'psh_bwd',
  'ack_only_fwd',
  'ack_only_bwd',
  'urg_packets',
  'no_flag_packets', // TCP packets with none of the classic flags (NULL scans)
  'first_is_syn_only',
  'handshake_complete', // SYN from the client, SYN+ACK from the server, then an ACK from the client
  'reset_before_payload', // a RST with no payload exchanged before it
  'closed_by_client', // the first FIN or RST came from the client
  // who spoke last (version 2): a request left unanswered, or a client still trickling data, is behaviour
  'last_payload_from_client', // the last packet with payload came from the client; 0 without payload
  'fwd_payload_after_bwd', // client payload packets after the server's last payload packet (all of them without one)
  'small_fwd_payload_packets', // client packets with 1..64 bytes of payload (header lines, keystrokes)
  'bwd_payload_packet_ratio', // server payload packets / client payload packets; -1 without client payload
  // what the payloads say (version 3, lib/src/features/content.ts)
  ...CONTENT_FEATURE_NAMES,
  // logins paired with their replies, in every protocol of one table (version 4, lib/src/features/logins.ts)
  ...LOGIN_FEATURE_NAMES,
] as const;

export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;

const INDEX: Readonly<Record<FeatureName, number>> = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, i])) as Record<
  FeatureName,
  number
>;

/** Position of a feature in the vector. */
export function featureIndex(name: FeatureName): number {
  return INDEX[name];
}

/**
 * The packets the features look at: sorted by capture time (stable), the first SESSION_MAX_PACKETS, and of those
 * the ones within FEATURE_WINDOW_US of the first.
 */
export function featurePackets(packets: readonly FeaturePacket[]): readonly FeaturePacket[] {
  let sorted = true;
  for (let i = 1; i < packets.length; i++) {
    if (packets[i]!.tsUs < packets[i - 1]!.tsUs) {
      sorted = false;
      break;
    }
  }
  const ordered = sorted
    ? packets
    : packets
        .map((p, i) => ({ p, i }))
        .sort((a, b) => a.p.tsUs - b.p.tsUs || a.i - b.i)
        .map((x) => x.p);
  const capped = ordered.length > SESSION_MAX_PACKETS ? ordered.slice(0, SESSION_MAX_PACKETS) : ordered;
  if (capped.length === 0) return capped;
  const limit = capped[0]!.tsUs + FEATURE_WINDOW_US;
  let n = capped.length;
  while (n > 0 && capped[n - 1]!.tsUs > limit) n--;
  return n === capped.length ? capped : capped.slice(0, n);
}

interface Stats {
  n: number;
  sum: number;
  sumSq: number;
  min: number;
  max: number;
}

function stats(): Stats {
  return { n: 0, sum: 0, sumSq: 0, min: 0, max: 0 };
}

function addStat(s: Stats, v: number): void {
  if (s.n === 0 || v < s.min) s.min = v;
  if (s.n === 0 || v > s.max) s.max = v;
  s.n++;
  s.sum += v;
  s.sumSq += v * v;
}

function mean(s: Stats): number {
  return s.n === 0 ? 0 : s.sum / s.n;
}

/** Population standard deviation; 0 for fewer than two values. */
function std(s: Stats): number {
  if (s.n < 2) return 0;
  const m = s.sum / s.n;
  return Math.sqrt(Math.max(0, s.sumSq / s.n - m * m));
}

/**
 * Writes the FEATURE_COUNT features of `session` into `out` starting at `offset` (so a batch fills one tensor
 * without copies) and returns `out`. Never throws for well-typed input: validation is the caller's job.
 */
export function extractFeatures(
  session: FeatureSession,
  out: Float32Array = new Float32Array(FEATURE_COUNT),
  offset = 0,
): Float32Array {
  const f = (name: FeatureName, value: number) => {
    out[offset + INDEX[name]] = value;
  };
  out.fill(0, offset, offset + FEATURE_COUNT);
  const tcp = session.proto === 'tcp';
  f('proto_tcp', tcp ? 1 : 0);
  f('proto_udp', tcp ? 0 : 1);
  const sp = session.serverPort;
  f('server_port_well_known', sp < 1024 ? 1 : 0);
  f('server_port_registered', sp >= 1024 && sp < 49152 ? 1 : 0);
  f('server_port_dynamic', sp >= 49152 ? 1 : 0);
  f('server_service_ssh', SSH_PORTS.has(sp) ? 1 : 0);
  f('server_service_http', HTTP_PORTS.has(sp) ? 1 : 0);
  f('server_service_https', HTTPS_PORTS.has(sp) ? 1 : 0);
  f('server_service_dns', DNS_PORTS.has(sp) ? 1 : 0);
  f('client_port_well_known', session.clientPort < 1024 ? 1 : 0);

  const packets = featurePackets(session.packets);
  const n = packets.length;
  f('packets', n);
  f('reached_max_packets', n >= SESSION_MAX_PACKETS ? 1 : 0);
  f('first_response_time', -1);
  f('bwd_payload_packet_ratio', -1);
  f('first_payload_time', -1);
  f('first_bwd_index', -1);
  f('printable_share_fwd', -1);
  f('printable_share_bwd', -1);
  f('login_failure_share', -1);
  if (n === 0) return out;

  const wire = [stats(), stats()];
  const payload = [stats(), stats()];
  const iat = stats();
  const iatDir = [stats(), stats()];
  const lastTs = [-1, -1];
  const payloadPackets = [0, 0];
  const synOnly = [0, 0];
  const synAck = [0, 0];
  const rst = [0, 0];
  const fin = [0, 0];
  const psh = [0, 0];
  const ackOnly = [0, 0];
  let urg = 0;
  let noFlags = 0;
  let directionChanges = 0;
  let firstBwd = -1;
  let firstPayload = -1;
  // Handshake: 0 nothing, 1 client SYN seen, 2 server SYN+ACK seen, 3 client ACK seen.
  let handshake = 0;
  let payloadSeen = false;
  let resetBeforePayload = 0;
  let closedBy = -1;
  let lastPayloadDir = -1;
  let fwdPayloadSinceBwd = 0;
  let smallFwd = 0;

  const t0 = packets[0]!.tsUs;
  let prevTs = t0;
  let prevDir = -1;
  for (let i = 0; i < n; i++) {
    const p = packets[i]!;
    const d = p.direction === FROM_SERVER ? 1 : 0;
    const ts = p.tsUs;
    addStat(wire[d]!, p.wireLength);
    addStat(payload[d]!, p.payloadLength);
    if (p.payloadLength > 0) {
      payloadPackets[d]!++;
      if (firstPayload < 0) firstPayload = ts - t0;
    }
    if (i > 0) {
      addStat(iat, (ts - prevTs) / 1e6);
      if (d !== prevDir) directionChanges++;
    }
    if (lastTs[d]! >= 0) addStat(iatDir[d]!, (ts - lastTs[d]!) / 1e6);
    lastTs[d] = ts;
    if (d === 1 && firstBwd < 0) firstBwd = i;
    prevTs = ts;
    prevDir = d;

    if (tcp) {
      const fl = p.tcpFlags & CLASSIC;
      if ((fl & (SYN | ACK)) === SYN) synOnly[d]!++;
      if ((fl & (SYN | ACK)) === (SYN | ACK)) synAck[d]!++;
      if (fl & RST) rst[d]!++;
      if (fl & FIN) fin[d]!++;
      if (fl & PSH) psh[d]!++;
      if (fl === ACK && p.payloadLength === 0) ackOnly[d]!++;
      if (fl & URG) urg++;
      if (fl === 0) noFlags++;
      if (handshake === 0 && d === 0 && (fl & (SYN | ACK)) === SYN) handshake = 1;
      else if (handshake === 1 && d === 1 && (fl & (SYN | ACK)) === (SYN | ACK)) handshake = 2;
      else if (handshake === 2 && d === 0 && (fl & (SYN | ACK | RST)) === ACK) handshake = 3;
      if (fl & RST && !payloadSeen) resetBeforePayload = 1;
      if (closedBy < 0 && fl & (FIN | RST)) closedBy = d;
    }
    if (p.payloadLength > 0) {
      payloadSeen = true;
      lastPayloadDir = d;
      if (d === 1) fwdPayloadSinceBwd = 0;
      else {
        fwdPayloadSinceBwd++;
        if (p.payloadLength <= 64) smallFwd++;
      }
    }
  }

  const duration = (packets[n - 1]!.tsUs - t0) / 1e6;
  const [wf, wb] = wire as [Stats, Stats];
  const [pf, pb] = payload as [Stats, Stats];
  f('packets_fwd', wf.n);
  f('packets_bwd', wb.n);
  f('fwd_packet_ratio', wf.n / n);
  f('wire_bytes_fwd', wf.sum);
  f('wire_bytes_bwd', wb.sum);
  f('payload_bytes_fwd', pf.sum);
  f('payload_bytes_bwd', pb.sum);
  f('payload_packets_fwd', payloadPackets[0]!);
  f('payload_packets_bwd', payloadPackets[1]!);
  f('payload_packet_ratio', (payloadPackets[0]! + payloadPackets[1]!) / n);
  f('bwd_payload_byte_ratio', pf.sum + pb.sum > 0 ? pb.sum / (pf.sum + pb.sum) : 0);
  f('wire_fwd_mean', mean(wf));
  f('wire_fwd_std', std(wf));
  f('wire_fwd_min', wf.min);
  f('wire_fwd_max', wf.max);
  f('wire_bwd_mean', mean(wb));
  f('wire_bwd_std', std(wb));
  f('wire_bwd_min', wb.min);
  f('wire_bwd_max', wb.max);
  f('payload_fwd_mean', mean(pf));
  f('payload_fwd_max', pf.max);
  f('payload_bwd_mean', mean(pb));
  f('payload_bwd_max', pb.max);
  const first = packets[0]!;
  f('first_wire_length', first.wireLength);
  f('first_payload_length', first.payloadLength);
  f('header_bytes_first', Math.max(0, first.wireLength - first.payloadLength));
  f('duration', duration);
  f('iat_mean', mean(iat));
  f('iat_std', std(iat));
  f('iat_min', iat.min);
  f('iat_max', iat.max);
  f('iat_fwd_mean', mean(iatDir[0]!));
  f('iat_fwd_max', iatDir[0]!.max);
  f('iat_bwd_mean', mean(iatDir[1]!));
  f('first_response_time', firstBwd < 0 ? -1 : (packets[firstBwd]!.tsUs - t0) / 1e6);
  f('first_payload_time', firstPayload < 0 ? -1 : firstPayload / 1e6);
  f('max_iat_share', duration > 0 ? iat.max / duration : 0);
  f('packets_per_second', n / Math.max(duration, 0.001));
  f('direction_changes', directionChanges);
  f('direction_change_ratio', n > 1 ? directionChanges / (n - 1) : 0);
  f('first_bwd_index', firstBwd);
  f('syn_only_fwd', synOnly[0]!);
  f('syn_only_bwd', synOnly[1]!);
  f('syn_ack_fwd', synAck[0]!);
  f('syn_ack_bwd', synAck[1]!);
  f('rst_fwd', rst[0]!);
  f('rst_bwd', rst[1]!);
  f('fin_fwd', fin[0]!);
  f('fin_bwd', fin[1]!);
  f('psh_fwd', psh[0]!);
  f('psh_bwd', psh[1]!);
  f('ack_only_fwd', ackOnly[0]!);
  f('ack_only_bwd', ackOnly[1]!);
  f('urg_packets', urg);
  f('no_flag_packets', noFlags);
  f('first_is_syn_only', tcp && first.direction !== FROM_SERVER && (first.tcpFlags & (SYN | ACK)) === SYN ? 1 : 0);
  f('handshake_complete', handshake === 3 ? 1 : 0);
  f('reset_before_payload', resetBeforePayload);
  f('closed_by_client', closedBy === 0 ? 1 : 0);
  f('last_payload_from_client', lastPayloadDir === 0 ? 1 : 0);
  f('fwd_payload_after_bwd', fwdPayloadSinceBwd);
  f('small_fwd_payload_packets', smallFwd);
  f('bwd_payload_packet_ratio', payloadPackets[0]! > 0 ? payloadPackets[1]! / payloadPackets[0]! : -1);
  writeContentFeatures(session, packets, f as (name: ContentFeatureName, value: number) => void);
  writeLoginFeatures(packets, f as (name: LoginFeatureName, value: number) => void);
  return out;
}

/** Features of many sessions in one row-major [sessions.length, FEATURE_COUNT] tensor buffer. */
export function extractFeatureBatch(sessions: readonly FeatureSession[]): Float32Array {
  const out = new Float32Array(sessions.length * FEATURE_COUNT);
  for (let i = 0; i < sessions.length; i++) extractFeatures(sessions[i]!, out, i * FEATURE_COUNT);
  return out;
}
