// Protocols recognised from their first bytes only (no fields): the greeting or first command is distinctive
// enough to name the service, and cheap to check. Each test needs more than a port or a loose prefix.
import { ascii, startsWith, u32 } from './bytes.ts';
import type { Service } from './types.ts';

export interface Openings {
  /** The first bytes of the client's and the server's streams. */
  client: Uint8Array;
  server: Uint8Array;
  /** The server sent payload before the client did (greeting protocols). */
  serverFirst: boolean;
}

function firstLine(b: Uint8Array, max = 512): string {
  let end = 0;
  while (end < b.length && end < max && b[end] !== 0x0a) end++;
  return ascii(b, 0, end).replace(/\r$/, '');
}

/** MySQL's initial handshake packet: 3-byte length, sequence 0, protocol version 10, a NUL-ended version. */
function isMysqlGreeting(b: Uint8Array): boolean {
  if (b.length < 8 || b[3] !== 0 || b[4] !== 10) return false;
  const length = b[0]! | (b[1]! << 8) | (b[2]! << 16);
  if (length < 20 || length > 1024) return false;
  let p = 5;
  while (p < b.length && p < 4 + length && b[p] !== 0) {
    if (b[p]! < 0x20 || b[p]! > 0x7e) return false;
    p++;
  }
  return p > 5 && p < b.length && b[p] === 0;
}

/** A PostgreSQL startup message (protocol 3.0, with a user), or an SSLRequest / GSSENCRequest. */
function isPostgresStartup(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const length = u32(b, 0);
  const code = u32(b, 4);
  if ((code === 80877103 || code === 80877104) && length === 8) return true;
  if (code !== 0x00030000 || length < 16 || length > 10000) return false;
  for (let i = 8; i + 5 <= Math.min(b.length, length); i++) if (startsWith(b, 'user\0', i)) return true;
  return false;
}

/** A RESP array of bulk strings: "*<n>\r\n$<len>\r\n". */
function isRedisCommand(b: Uint8Array): boolean {
  return /^\*\d{1,5}\r\n\$\d{1,9}\r\n/.test(ascii(b, 0, Math.min(b.length, 24)));
}

/**
 * Where TLS starts on each side of a MySQL or PostgreSQL session that upgraded: after the client's SSL request
 * packet (MySQL: its first packet; PostgreSQL: the 8-byte SSLRequest) and the server's greeting or its "S".
 */
export function databaseTlsStart(service: Service, o: Openings): { client: number; server: number } | undefined {
  if (service === 'mysql' && o.client.length >= 4 && o.server.length >= 4) {
    const client = 4 + (o.client[0]! | (o.client[1]! << 8) | (o.client[2]! << 16));
    const server = 4 + (o.server[0]! | (o.server[1]! << 8) | (o.server[2]! << 16));
    return { client, server };
  }
  if (service === 'postgresql' && o.client.length >= 8 && u32(o.client, 4) === 80877103 && o.server[0] === 0x53) {
    return { client: 8, server: 1 };
  }
  return undefined;
}

/** A RESP reply to a command: a simple string, error, integer, bulk string or array, then CRLF. */
function isRedisReply(b: Uint8Array): boolean {
  return /^([+-][^\r\n]{0,200}|:-?\d{1,19}|\$-?\d{1,9}|\*-?\d{1,5})\r\n/.test(ascii(b, 0, Math.min(b.length, 220)));
}

// Each test below first checks the one byte its pattern must start with, so that a binary or unknown stream (most
// of what reaches this) costs no text conversion and no regular expression.
const STAR = 0x2a;
const isLetter = (c: number | undefined) => c !== undefined && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
/** The first bytes of what isRedisReply accepts: + - : $ *. */
const isRespReplyStart = (c: number | undefined) => c === 0x2b || c === 0x2d || c === 0x3a || c === 0x24 || c === STAR;
/** The first bytes of the greetings below: "220", "+OK", "* OK". */
const isGreetingStart = (c: number | undefined) => c === 0x32 || c === 0x2b || c === STAR;

export function bannerService(o: Openings): Service | undefined {
  if (isMysqlGreeting(o.server)) return 'mysql';
  if (isPostgresStartup(o.client)) return 'postgresql';
  if (
    (o.client[0] === STAR && isRedisCommand(o.client)) ||
    (o.client.length === 0 && o.server[0] === STAR && isRedisCommand(o.server))
  ) {
    return 'redis';
  }
  // An inline command ("PING") answered in RESP: the client spoke first, so it is no POP3 greeting.
  if (
    !o.serverFirst &&
    isLetter(o.client[0]) &&
    isRespReplyStart(o.server[0]) &&
    /^[A-Za-z]{3,16}( [^\r\n]*)?\r\n/.test(ascii(o.client, 0, Math.min(o.client.length, 256)))
  ) {
    if (isRedisReply(o.server)) return 'redis';
  }
  if (!isGreetingStart(o.server[0])) return undefined;
  const greeting = firstLine(o.server);
  const command = firstLine(o.client).toUpperCase();
  // The server's stream starts with its greeting even when the client spoke first (a slow server).
  if (/^220[ -]/.test(greeting)) {
    if (/^(EHLO|HELO) /.test(command)) return 'smtp';
    if (/^(USER|AUTH|FEAT|SYST|OPTS|PASV|EPSV) ?/.test(command)) return 'ftp';
    if (/FTP/i.test(greeting)) return 'ftp';
    if (/SMTP/i.test(greeting)) return 'smtp';
    return undefined;
  }
  // "+OK" and "* OK" also answer commands (Redis): a greeting only when the server spoke first.
  if (!o.serverFirst) return undefined;
  if (/^\+OK( |$)/.test(greeting) && (command === '' || /^(USER|CAPA|APOP|AUTH|STLS|QUIT)\b/.test(command))) {
    return 'pop3';
  }
  if (/^\* (OK|PREAUTH)( |$)/.test(greeting)) return 'imap';
  return undefined;
}
