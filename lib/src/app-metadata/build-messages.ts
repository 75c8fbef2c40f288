// Builds application messages byte by byte (TLS hellos, DNS messages, SSH KEXINIT packets) and sessions of
// segments from them: for the parsers' tests and for synthetic captures.
import type { AppPacket, AppSession } from './types.ts';

function u16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

function u24(value: number): number[] {
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

const ascii = (text: string) => [...Buffer.from(text, 'latin1')];

export interface ClientHelloSpec {
  version?: number;
  recordVersion?: number;
  ciphers: number[];
  /** Extensions in wire order; `sni`, `alpn`, `supportedVersions`, `signatureAlgorithms` build their bodies. */
  extensions: Array<
    | { type: 'sni'; name: string }
    | { type: 'alpn'; protocols: string[] }
    | { type: 'supportedVersions'; versions: number[] }
    | { type: 'signatureAlgorithms'; algorithms: number[] }
    | { type: number; data?: number[] }
  >;
}

function extensionBytes(e: ClientHelloSpec['extensions'][number]): number[] {
  let type: number;
  let data: number[];
  switch (e.type) {
    case 'sni': {
      type = 0;
      const name = ascii(e.name);
      data = [...u16(name.length + 3), 0, ...u16(name.length), ...name];
      break;
    }
    case 'alpn': {
      type = 16;
      const list = e.protocols.flatMap((p) => [p.length, ...ascii(p)]);
      data = [...u16(list.length), ...list];
      break;
    }
    case 'supportedVersions':
      type = 43;
      data = [e.versions.length * 2, ...e.versions.flatMap(u16)];
      break;
    case 'signatureAlgorithms':
      type = 13;
      data = [...u16(e.algorithms.length * 2), ...e.algorithms.flatMap(u16)];
      break;
    default:
      type = e.type;
      data = e.data ?? [];
  }
  return [...u16(type), ...u16(data.length), ...data];
}

/** A ClientHello handshake message (type, length, body). */
export function clientHelloMessage(spec: ClientHelloSpec): Uint8Array {
  const extensions = spec.extensions.flatMap(extensionBytes);
  const body = [
    ...u16(spec.version ?? 0x0303),
    ...new Array<number>(32).fill(7),
    32,
    ...new Array<number>(32).fill(9),
    ...u16(spec.ciphers.length * 2),
    ...spec.ciphers.flatMap(u16),
    1,
    0,
    ...u16(extensions.length),
    ...extensions,
  ];
  return Uint8Array.from([1, ...u24(body.length), ...body]);
}

export function serverHelloMessage(version: number, cipher: number, selectedVersion?: number): Uint8Array {
  const extensions = selectedVersion === undefined ? [] : [...u16(43), ...u16(2), ...u16(selectedVersion)];
  const body = [
    ...u16(version),
    ...new Array<number>(32).fill(3),
    0,
    ...u16(cipher),
    0,
    ...u16(extensions.length),
    ...extensions,
  ];
  return Uint8Array.from([2, ...u24(body.length), ...body]);
}

/** Handshake bytes in TLS records of at most `recordSize` bytes each. */
export function handshakeRecords(message: Uint8Array, recordVersion = 0x0301, recordSize = 16384): Uint8Array {
  const out: number[] = [];
  for (let at = 0; at < message.length; at += recordSize) {
    const part = message.subarray(at, at + recordSize);
    out.push(22, ...u16(recordVersion), ...u16(part.length), ...part);
  }
  return Uint8Array.from(out);
}

export interface DnsQuestionSpec {
  id?: number;
  name: string;
  type?: number;
  response?: boolean;
  rcode?: number;
  answers?: number;
}

function nameBytes(name: string): number[] {
  if (name === '.') return [0];
  return [...name.split('.').flatMap((label) => [label.length, ...ascii(label)]), 0];
}

/** A DNS message with one question and, for a response, `answers` A records pointing at the question's name. */
export function dnsMessage(spec: DnsQuestionSpec): Uint8Array {
  const answers = spec.response ? (spec.answers ?? 1) : 0;
  const flags = (spec.response ? 0x8180 : 0x0100) | (spec.rcode ?? 0);
  const records: number[] = [];
  for (let i = 0; i < answers; i++) records.push(0xc0, 12, ...u16(1), ...u16(1), ...u32(60), ...u16(4), 192, 0, 2, i);
  return Uint8Array.from([
    ...u16(spec.id ?? 0x1234),
    ...u16(flags),
    ...u16(1),
    ...u16(answers),
    ...u16(0),
    ...u16(0),
    ...nameBytes(spec.name),
    ...u16(spec.type ?? 1),
    ...u16(1),
    ...records,
  ]);
}

/** An SSH binary packet carrying SSH_MSG_KEXINIT with these ten name-lists. */
export function sshKexInitPacket(lists: string[]): Uint8Array {
  const payload = [
    20,
    ...new Array<number>(16).fill(0x42),
    ...lists.flatMap((l) => [...u32(l.length), ...ascii(l)]),
    0,
  ];
  payload.push(...u32(0));
  let padding = 8 - ((payload.length + 5) % 8);
  if (padding < 4) padding += 8;
  const length = 1 + payload.length + padding;
  return Uint8Array.from([...u32(length), padding, ...payload, ...new Array<number>(padding).fill(0)]);
}

export interface SegmentSpec {
  direction: 0 | 1;
  bytes: Uint8Array | string;
  /** Split into segments of at most this many bytes (default: one segment). */
  segmentSize?: number;
}

/**
 * A TCP session: a handshake (SYN from the initiator, SYN-ACK), then each spec's bytes as segments with sequence
 * numbers continuing per direction. `reorder` lets a test shuffle or duplicate the data packets afterwards.
 */
export function tcpSession(
  specs: SegmentSpec[],
  options: {
    initiatorPort?: number;
    responderPort?: number;
    morePackets?: boolean;
    reorder?: (p: AppPacket[]) => AppPacket[];
  } = {},
): AppSession {
  const next = [1000, 5000];
  const packets: AppPacket[] = [
    { direction: 0, tcpFlags: 0x02, tcpSeq: next[0]! - 1, payload: new Uint8Array(0), payloadLength: 0 },
    { direction: 1, tcpFlags: 0x12, tcpSeq: next[1]! - 1, payload: new Uint8Array(0), payloadLength: 0 },
  ];
  const data: AppPacket[] = [];
  for (const spec of specs) {
    const bytes = typeof spec.bytes === 'string' ? Buffer.from(spec.bytes, 'latin1') : spec.bytes;
    const size = spec.segmentSize ?? bytes.length;
    for (let at = 0; at < bytes.length; at += size) {
      const payload = Uint8Array.from(bytes.subarray(at, at + size));
      data.push({
        direction: spec.direction,
        tcpFlags: 0x18,
        tcpSeq: next[spec.direction]!,
        payload,
        payloadLength: payload.length,
      });
      next[spec.direction] = (next[spec.direction]! + payload.length) >>> 0;
    }
  }
  return {
    proto: 'tcp',
    initiatorPort: options.initiatorPort ?? 40000,
    responderPort: options.responderPort ?? 80,
    packets: [...packets, ...(options.reorder ? options.reorder(data) : data)],
    morePackets: options.morePackets ?? false,
  };
}

export function udpSession(
  datagrams: Array<{ direction: 0 | 1; bytes: Uint8Array }>,
  options: { initiatorPort?: number; responderPort?: number; morePackets?: boolean } = {},
): AppSession {
  return {
    proto: 'udp',
    initiatorPort: options.initiatorPort ?? 40000,
    responderPort: options.responderPort ?? 53,
    packets: datagrams.map((d) => ({
      direction: d.direction,
      tcpFlags: 0,
      payload: d.bytes,
      payloadLength: d.bytes.length,
    })),
    morePackets: options.morePackets ?? false,
  };
}
