// TLS over TCP: the first ClientHello (versions, SNI, ALPN, JA4) and the first ServerHello (the chosen version and
// cipher), read from the handshake records at the start of each side's stream, handshake messages reassembled
// across records. SSLv2-format hellos give versions only.
import { hex4, text, u16, u24 } from './bytes.ts';
import { clientMaxVersion, ja4Fingerprint } from './ja4.ts';
import { streamEndedEarly } from './short-stream.ts';
import type { DirectionStream } from './tcp-stream.ts';
import type { Findings, TlsMetadata } from './types.ts';

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_SERVER_HELLO = 2;
/** 2^14 plus the expansion RFC 5246 allows a compressed or protected record. */
const MAX_RECORD_LENGTH = 16384 + 2048;
/** A hello is small; a longer one is refused rather than buffered. */
const MAX_HELLO_LENGTH = 64 * 1024;

const EXT_SERVER_NAME = 0x0000;
const EXT_SIGNATURE_ALGORITHMS = 0x000d;
const EXT_ALPN = 0x0010;
const EXT_SUPPORTED_VERSIONS = 0x002b;

/** Zeek's names for protocol versions (ssl.log `version`). */
export function tlsVersionName(version: number): string {
  switch (version) {
    case 0x0002:
      return 'SSLv2';
    case 0x0300:
      return 'SSLv3';
    case 0x0301:
      return 'TLSv10';
    case 0x0302:
      return 'TLSv11';
    case 0x0303:
      return 'TLSv12';
    case 0x0304:
      return 'TLSv13';
    case 0xfeff:
      return 'DTLSv10';
    case 0xfefd:
      return 'DTLSv12';
    case 0xfefc:
      return 'DTLSv13';
    default:
      if (version >> 8 === 0x7f) return `TLSv13-draft${version & 0xff}`;
      return `unknown-0x${hex4(version)}`;
  }
}

/** A stream that starts like a TLS handshake record of `handshakeType`, or an SSLv2 hello. */
export function looksLikeTls(b: Uint8Array, handshakeType: number): boolean {
  if (b.length >= 6 && b[0] === CONTENT_HANDSHAKE && b[1] === 3 && b[2]! <= 4) return b[5] === handshakeType;
  return sslv2HelloVersion(b, handshakeType === HANDSHAKE_CLIENT_HELLO ? 1 : 4) !== undefined;
}

/** The version in an SSLv2 CLIENT-HELLO (message type 1) or SERVER-HELLO (4) with a 2-byte record header. */
function sslv2HelloVersion(b: Uint8Array, messageType: 1 | 4): number | undefined {
  if (b.length < 7 || (b[0]! & 0x80) === 0 || b[2] !== messageType) return undefined;
  const version = messageType === 1 ? u16(b, 3) : u16(b, 5);
  const known = version === 0x0002 || (version >= 0x0300 && version <= 0x0304);
  return known ? version : undefined;
}

interface Hello {
  recordVersion: number;
  body: Uint8Array;
}

type HelloResult = Hello | 'truncated' | 'malformed' | 'record_too_long' | 'not_a_hello';

/** The first handshake message of the stream when it is of `type`, joined across records. */
function firstHandshakeMessage(b: Uint8Array, type: number): HelloResult {
  const chunks: Uint8Array[] = [];
  let collected = 0;
  let needed = -1;
  let recordVersion = -1;
  let at = 0;
  // A server may send an alert (or a change-cipher-spec) before its hello: skip a few such records.
  for (
    let skipped = 0;
    skipped < 4 && at + 5 <= b.length && (b[at] === 20 || b[at] === 21) && b[at + 1] === 3;
    skipped++
  ) {
    at += 5 + u16(b, at + 3);
  }
  while (needed < 0 || collected < needed) {
    if (at + 5 > b.length) return 'truncated';
    if (b[at] !== CONTENT_HANDSHAKE || b[at + 1] !== 3) return collected === 0 ? 'not_a_hello' : 'malformed';
    const length = u16(b, at + 3);
    if (length > MAX_RECORD_LENGTH) return 'record_too_long';
    if (recordVersion < 0) recordVersion = u16(b, at + 1);
    const body = b.subarray(at + 5, Math.min(b.length, at + 5 + length));
    chunks.push(body);
    collected += body.length;
    at += 5 + length;
    if (needed < 0 && collected >= 4) {
      const head = chunks.length === 1 ? chunks[0]! : concat(chunks, 4);
      if (head[0] !== type) return 'not_a_hello';
      needed = 4 + u24(head, 1);
      if (needed > MAX_HELLO_LENGTH) return 'malformed';
    }
    if (body.length < length && (needed < 0 || collected < needed)) return 'truncated';
  }
  return { recordVersion, body: concat(chunks, needed).subarray(4) };
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    if (at >= length) break;
    const take = Math.min(c.length, length - at);
    out.set(c.subarray(0, take), at);
    at += take;
  }
  return out;
}

export interface ClientHello {
  version: number;
  ciphers: number[];
  /** Extension types in wire order. */
  extensions: number[];
  sni?: string;
  /** ALPN protocol names, and the first one's raw bytes (JA4 reads them). */
  alpn: string[];
  firstAlpn?: Uint8Array;
  supportedVersions?: number[];
  signatureAlgorithms: number[];
}

/** Parses a ClientHello body (after the 4-byte handshake header); null when its structure does not hold. */
export function parseClientHello(b: Uint8Array): ClientHello | null {
  if (b.length < 35) return null;
  const hello: ClientHello = { version: u16(b, 0), ciphers: [], extensions: [], alpn: [], signatureAlgorithms: [] };
  let p = 34;
  const sessionIdLength = b[p]!;
  if (sessionIdLength > 32) return null;
  p += 1 + sessionIdLength;
  if (p + 2 > b.length) return null;
  const ciphersLength = u16(b, p);
  p += 2;
  if (ciphersLength % 2 !== 0 || p + ciphersLength > b.length) return null;
  for (let i = 0; i < ciphersLength; i += 2) hello.ciphers.push(u16(b, p + i));
  p += ciphersLength;
  if (p + 1 > b.length) return null;
  p += 1 + b[p]!;
  if (p > b.length) return null;
  if (p === b.length) return hello;
  if (p + 2 > b.length) return null;
  const extensionsEnd = p + 2 + u16(b, p);
  if (extensionsEnd > b.length) return null;
  p += 2;
  while (p < extensionsEnd) {
    if (p + 4 > extensionsEnd) return null;
    const type = u16(b, p);
    const length = u16(b, p + 2);
    const data = p + 4;
    if (data + length > extensionsEnd) return null;
    hello.extensions.push(type);
    if (!readExtension(hello, type, b.subarray(data, data + length))) return null;
    p = data + length;
  }
  return hello;
}

function readExtension(hello: ClientHello, type: number, d: Uint8Array): boolean {
  switch (type) {
    case EXT_SERVER_NAME: {
      // An empty extension is what a server echoes; a client's carries a list.
      if (d.length === 0) return true;
      if (d.length < 2 || 2 + u16(d, 0) > d.length) return false;
      for (let q = 2; q + 3 <= d.length; ) {
        const nameLength = u16(d, q + 1);
        if (q + 3 + nameLength > d.length) return false;
        if (d[q] === 0 && hello.sni === undefined) hello.sni = text(d, q + 3, q + 3 + nameLength);
        q += 3 + nameLength;
      }
      return true;
    }
    case EXT_ALPN: {
      if (d.length < 2 || 2 + u16(d, 0) > d.length) return false;
      const end = 2 + u16(d, 0);
      for (let q = 2; q < end; ) {
        const length = d[q]!;
        if (q + 1 + length > end) return false;
        if (hello.alpn.length === 0) hello.firstAlpn = d.subarray(q + 1, q + 1 + length);
        if (hello.alpn.length < 32) hello.alpn.push(text(d, q + 1, q + 1 + length));
        q += 1 + length;
      }
      return true;
    }
    case EXT_SUPPORTED_VERSIONS: {
      if (d.length < 1 || 1 + d[0]! > d.length || d[0]! % 2 !== 0) return false;
      hello.supportedVersions = [];
      for (let q = 1; q + 1 < 1 + d[0]!; q += 2) hello.supportedVersions.push(u16(d, q));
      return true;
    }
    case EXT_SIGNATURE_ALGORITHMS: {
      if (d.length < 2 || 2 + u16(d, 0) > d.length || u16(d, 0) % 2 !== 0) return false;
      for (let q = 2; q < 2 + u16(d, 0); q += 2) hello.signatureAlgorithms.push(u16(d, q));
      return true;
    }
    default:
      return true;
  }
}

interface ServerHello {
  version: number;
  cipher: number;
  selectedVersion?: number;
}

function parseServerHello(b: Uint8Array): ServerHello | null {
  if (b.length < 35) return null;
  // TLS 1.3 drafts before 22 had no session id and no compression method in the ServerHello.
  if (b[0] === 0x7f) return { version: u16(b, 0), cipher: u16(b, 34) };
  const sessionIdLength = b[34]!;
  if (sessionIdLength > 32) return null;
  let p = 35 + sessionIdLength;
  if (p + 3 > b.length) return null;
  const hello: ServerHello = { version: u16(b, 0), cipher: u16(b, p) };
  p += 3;
  if (p === b.length) return hello;
  if (p + 2 > b.length) return null;
  const extensionsEnd = p + 2 + u16(b, p);
  if (extensionsEnd > b.length) return null;
  for (p += 2; p < extensionsEnd; ) {
    if (p + 4 > extensionsEnd) return null;
    const type = u16(b, p);
    const length = u16(b, p + 2);
    if (p + 4 + length > extensionsEnd) return null;
    if (type === EXT_SUPPORTED_VERSIONS) {
      if (length !== 2) return null;
      hello.selectedVersion = u16(b, p + 4);
    }
    p += 4 + length;
  }
  return hello;
}

/** Metadata from the two sides' streams; `client` is the side that sent (or would send) the ClientHello. */
export function parseTls(
  client: DirectionStream,
  server: DirectionStream,
  morePackets: boolean,
  findings: Findings,
): TlsMetadata {
  const tls: TlsMetadata = {};
  const c = client.bytes;
  const v2Client = sslv2HelloVersion(c, 1);
  if (v2Client !== undefined) {
    tls.recordVersion = 'SSLv2';
    tls.clientVersion = tlsVersionName(v2Client);
    tls.clientMaxVersion = tls.clientVersion;
  } else if (c.length > 0) {
    const result = firstHandshakeMessage(c, HANDSHAKE_CLIENT_HELLO);
    if (typeof result === 'string') {
      if (c.length >= 3 && c[0] === CONTENT_HANDSHAKE) tls.recordVersion = tlsVersionName(u16(c, 1));
      if (result === 'truncated') {
        streamEndedEarly(findings, client, morePackets, ['tls.sni', 'tls.ja4'], 'tls.truncated_client_hello');
      } else findings.problem(`tls.${result === 'not_a_hello' ? 'no_client_hello' : `${result}_client_hello`}`);
    } else {
      tls.recordVersion = tlsVersionName(result.recordVersion);
      const hello = parseClientHello(result.body);
      if (!hello) findings.problem('tls.malformed_client_hello');
      else {
        tls.clientVersion = tlsVersionName(hello.version);
        tls.clientMaxVersion = tlsVersionName(clientMaxVersion(hello));
        if (hello.sni !== undefined) tls.sni = hello.sni;
        if (hello.alpn.length > 0) tls.alpn = hello.alpn;
        tls.ja4 = ja4Fingerprint(hello, 't');
      }
    }
  }
  readServerHello(tls, server, morePackets, findings);
  return tls;
}

function readServerHello(tls: TlsMetadata, server: DirectionStream, morePackets: boolean, findings: Findings): void {
  const s = server.bytes;
  const v2Server = sslv2HelloVersion(s, 4);
  if (v2Server !== undefined) {
    tls.serverVersion = tlsVersionName(v2Server);
    return;
  }
  if (s.length === 0) {
    if (server.ends === 'end' && morePackets && tls.ja4 !== undefined) findings.needs('tls.serverVersion');
    return;
  }
  const result = firstHandshakeMessage(s, HANDSHAKE_SERVER_HELLO);
  if (typeof result === 'string') {
    if (result === 'truncated') {
      streamEndedEarly(findings, server, morePackets, ['tls.serverVersion'], 'tls.truncated_server_hello');
    } else if (result !== 'not_a_hello') findings.problem(`tls.${result}_server_hello`);
    // A server that answers with an alert or plain text: no ServerHello, nothing malformed.
    return;
  }
  const hello = parseServerHello(result.body);
  if (!hello) {
    findings.problem('tls.malformed_server_hello');
    return;
  }
  tls.serverVersion = tlsVersionName(hello.selectedVersion ?? hello.version);
  tls.serverCipher = hex4(hello.cipher);
}
