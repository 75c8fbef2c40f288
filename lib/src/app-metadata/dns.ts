// DNS over UDP (one message per datagram) and TCP (messages with a 2-byte length prefix): the first question
// (name, type, class), the first response's code and answer count. Names are decompressed with loop protection:
// a bounded number of pointer jumps and the 255-byte limit on a name.
import { u16 } from './bytes.ts';
import { streamEndedEarly } from './short-stream.ts';
import type { DirectionStream } from './tcp-stream.ts';
import type { DnsMetadata, Findings } from './types.ts';

const HEADER_LENGTH = 12;
/** More jumps than labels a name can have means a loop (or a name built to waste time). */
const MAX_POINTER_JUMPS = 128;
const MAX_NAME_LENGTH = 255;
/** Records walked per message, to bound work on a message that claims 65535 of each. */
const MAX_RECORDS = 512;

export type DnsProblem =
  | 'dns.truncated_message'
  | 'dns.compression_loop'
  | 'dns.bad_label_type'
  | 'dns.name_too_long'
  | 'dns.no_question';

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  rcode: number;
  questions: number;
  answers: number;
  authorities: number;
  additionals: number;
  question?: DnsQuestion;
  /** The records after the question parse and end exactly at the message's end. */
  wellFormed: boolean;
  /** Why the message is not well formed. */
  problem?: DnsProblem;
}

/** One label's text: printable ASCII as it is, anything else (and "." or "\" inside a label) escaped as \DDD. */
function labelText(b: Uint8Array, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) out += String.fromCharCode(c);
    else out += `\\${String(c).padStart(3, '0')}`;
  }
  return out;
}

type NameResult = { name: string; next: number } | DnsProblem;

/**
 * The name at `at`; `next` is where the data after it starts (after the first pointer, if any). With `text` false
 * the name is checked the same way but not spelt out (its `name` is empty): the records after the question are
 * only walked, and spelling every label of a large response cost more than the rest of its session's metadata.
 */
export function readName(b: Uint8Array, at: number, end = b.length, text = true): NameResult {
  const labels: string[] = [];
  let p = at;
  let next = -1;
  let jumps = 0;
  let length = 1;
  for (;;) {
    if (p >= end) return 'dns.truncated_message';
    const byte = b[p]!;
    if (byte === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    const kind = byte & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end) return 'dns.truncated_message';
      if (next < 0) next = p + 2;
      if (++jumps > MAX_POINTER_JUMPS) return 'dns.compression_loop';
      const target = ((byte & 0x3f) << 8) | b[p + 1]!;
      // A pointer to itself or forward into data not yet a name is how loops are built; RFC 1035 pointers point back.
      if (target >= p) return 'dns.compression_loop';
      p = target;
      continue;
    }
    if (kind !== 0) return 'dns.bad_label_type';
    if (p + 1 + byte > end) return 'dns.truncated_message';
    length += byte + 1;
    if (length > MAX_NAME_LENGTH) return 'dns.name_too_long';
    if (text) labels.push(labelText(b, p + 1, p + 1 + byte));
    p += 1 + byte;
  }
  if (!text) return { name: '', next };
  return { name: labels.length === 0 ? '.' : labels.join('.'), next };
}

/** Parses one DNS message; null when it is shorter than a header. */
export function parseDnsMessage(b: Uint8Array): DnsMessage | null {
  if (b.length < HEADER_LENGTH) return null;
  const flags = u16(b, 2);
  const message: DnsMessage = {
    id: u16(b, 0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    rcode: flags & 0x0f,
    questions: u16(b, 4),
    answers: u16(b, 6),
    authorities: u16(b, 8),
    additionals: u16(b, 10),
    wellFormed: false,
  };
  let p = HEADER_LENGTH;
  for (let q = 0; q < message.questions; q++) {
    if (q >= MAX_RECORDS) return message;
    const name = readName(b, p, b.length, q === 0);
    if (typeof name === 'string') {
      message.problem = name;
      return message;
    }
    if (name.next + 4 > b.length) {
      message.problem = 'dns.truncated_message';
      return message;
    }
    if (q === 0) message.question = { name: name.name, type: u16(b, name.next), class: u16(b, name.next + 2) };
    p = name.next + 4;
  }
  const records = message.answers + message.authorities + message.additionals;
  for (let r = 0; r < records; r++) {
    if (r >= MAX_RECORDS) return message;
    const name = readName(b, p, b.length, false);
    if (typeof name === 'string') {
      message.problem = name;
      return message;
    }
    if (name.next + 10 > b.length) {
      message.problem = 'dns.truncated_message';
      return message;
    }
    p = name.next + 10 + u16(b, name.next + 8);
    if (p > b.length) {
      message.problem = 'dns.truncated_message';
      return message;
    }
  }
  message.wellFormed = p === b.length;
  if (!message.wellFormed) message.problem = 'dns.truncated_message';
  return message;
}

/**
 * True when `b` is a DNS message beyond reasonable doubt: a standard opcode, a question (or, for a response such as
 * mDNS announcements, answers), and every record parsing to exactly the message's end.
 */
export function looksLikeDns(b: Uint8Array): boolean {
  // The header's verdict first: most datagrams that are not DNS fail it, and then need no walk of their records.
  if (b.length < HEADER_LENGTH) return false;
  const opcode = (b[2]! >> 3) & 0x0f;
  const questions = u16(b, 4);
  if (opcode > 6 || opcode === 3 || questions > 16) return false;
  if (questions === 0 && ((b[2]! & 0x80) === 0 || u16(b, 6) === 0)) return false;
  const m = parseDnsMessage(b);
  if (!m?.wellFormed || m.opcode > 6 || m.opcode === 3) return false;
  if (m.questions === 0) return m.response && m.answers > 0;
  return m.questions <= 16;
}

/** A DNS header with a standard opcode and a question or two: enough on a port where DNS is expected. */
export function looksLikeDnsHeader(b: Uint8Array): boolean {
  if (b.length < HEADER_LENGTH) return false;
  const opcode = (b[2]! >> 3) & 0x0f;
  const questions = u16(b, 4);
  return opcode <= 6 && opcode !== 3 && questions >= 1 && questions <= 16;
}

/** The messages of a TCP side: 2-byte length, message, …; `short` when the stream ends inside one. */
export function tcpDnsMessages(b: Uint8Array): { messages: Uint8Array[]; short: boolean } {
  const messages: Uint8Array[] = [];
  let p = 0;
  while (p + 2 <= b.length && messages.length < MAX_RECORDS) {
    const length = u16(b, p);
    if (p + 2 + length > b.length) return { messages, short: true };
    messages.push(b.subarray(p + 2, p + 2 + length));
    p += 2 + length;
  }
  return { messages, short: p < b.length };
}

/** The first bytes of a TCP stream are a length-prefixed DNS message. */
export function looksLikeTcpDns(b: Uint8Array): boolean {
  if (b.length < 2 + HEADER_LENGTH) return false;
  const length = u16(b, 0);
  return length >= HEADER_LENGTH && 2 + length <= b.length && looksLikeDns(b.subarray(2, 2 + length));
}

/** Metadata from the messages of a session, in arrival order (both directions). */
export function parseDnsMessages(messages: readonly Uint8Array[], findings: Findings): DnsMetadata {
  const dns: DnsMetadata = { queries: 0, responses: 0 };
  let firstQueryId: number | undefined;
  let answered = false;
  for (const bytes of messages) {
    const m = parseDnsMessage(bytes);
    if (!m) {
      findings.problem('dns.truncated_message');
      continue;
    }
    if (m.problem) findings.problem(m.problem);
    if (m.response) dns.responses++;
    else dns.queries++;
    if (dns.queryName === undefined && m.question) {
      dns.queryName = m.question.name;
      dns.queryType = m.question.type;
      dns.queryClass = m.question.class;
    }
    if (!m.response && firstQueryId === undefined) firstQueryId = m.id;
    if (m.response && !answered && (firstQueryId === undefined || m.id === firstQueryId)) {
      answered = true;
      dns.rcode = m.rcode;
      dns.answers = m.answers;
    }
  }
  // No response to the first query's id: take the first response there is.
  if (!answered) {
    for (const bytes of messages) {
      const m = parseDnsMessage(bytes);
      if (m?.response) {
        dns.rcode = m.rcode;
        dns.answers = m.answers;
        break;
      }
    }
  }
  return dns;
}

/** The messages of a TCP session's two sides, the client's first (the order within a side is kept). */
export function parseTcpDns(
  client: DirectionStream,
  server: DirectionStream,
  morePackets: boolean,
  findings: Findings,
): DnsMetadata {
  const fromClient = tcpDnsMessages(client.bytes);
  const fromServer = tcpDnsMessages(server.bytes);
  if (fromClient.short) streamEndedEarly(findings, client, morePackets, ['dns.queryName'], 'dns.truncated_message');
  if (fromServer.short) streamEndedEarly(findings, server, morePackets, ['dns.rcode'], 'dns.truncated_message');
  const dns = parseDnsMessages([...fromClient.messages, ...fromServer.messages], findings);
  if (dns.rcode === undefined && dns.queries > 0 && morePackets && !fromServer.short) findings.needs('dns.rcode');
  return dns;
}
