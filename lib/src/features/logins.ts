// Login features (feature version 4): credential submissions and the failures answered to them, in every protocol
// of one table. A brute force is many attempts answered by failures; a user's login is one attempt answered by a
// success. Version 3's login counts (content.ts) match any protocol's reply anywhere in the session and leave HTTP
// out; these pair each failure with an attempt of the same protocol, and count HTTP logins too (Authorization
// headers and password fields answered by 401/403 or by a page that says the login failed), so that a brute force
// against a web login reads the same as one against FTP or IMAP. The version 3 columns are left as they were, so
// that a version 3 model is still served with its first columns (OLDEST_PREFIX_FEATURE_VERSION).
//
// Like the other content features they read only the first CONTENT_BYTES_PER_PACKET bytes of each packet.
import { looksLikeHttpRequest, looksLikeHttpResponse } from '../app-metadata/http.ts';
import { CONTENT_BYTES_PER_PACKET } from './content.ts';
import type { FeaturePacket } from './features.ts';

export const LOGIN_FEATURE_NAMES = [
  'login_attempts', // credentials the client sent: FTP PASS, SMTP/POP3 AUTH, POP3 PASS/APOP, IMAP LOGIN, HTTP, ...
  'login_failures', // failure replies to them (each consumes one pending attempt of its protocol)
  'login_successes', // success replies to them
  'login_failure_share', // failures / attempts; -1 without attempts
] as const;

export type LoginFeatureName = (typeof LOGIN_FEATURE_NAMES)[number];

/**
 * One protocol's login exchange as text lines: what a client line submitting credentials looks like, and the
 * server's failure and success replies. A reply counts only while an attempt of its protocol waits for one.
 */
interface TextLoginDialect {
  protocol: string;
  attempt: RegExp;
  failure: RegExp;
  success: RegExp;
}

/** The table: one row per protocol. USER lines are no attempt (the password follows; the reply to USER is 331). */
export const TEXT_LOGIN_DIALECTS: readonly TextLoginDialect[] = [
  { protocol: 'ftp', attempt: /^pass(\s|$)/i, failure: /^530[ -]/, success: /^230[ -]/ },
  { protocol: 'smtp', attempt: /^auth\s/i, failure: /^(535|534|454)[ -]/, success: /^235[ -]/ },
  { protocol: 'pop3', attempt: /^(pass|apop|auth)\s/i, failure: /^-err\b/i, success: /^\+ok\b/i },
  {
    protocol: 'imap',
    attempt: /^[a-z0-9.]+\s+(login|authenticate)\s/i,
    failure: /^[a-z0-9.]+\s+no\b/i,
    success: /^[a-z0-9.]+\s+ok\b/i,
  },
  // Redis: inline "AUTH pw" or the RESP array's "AUTH" bulk string line.
  {
    protocol: 'redis',
    attempt: /^auth(\s|$)/i,
    failure: /^-(wrongpass|noauth|err invalid (password|username))/i,
    success: /^\+ok\b/i,
  },
];

/** A page telling the user the login failed (what hydra's F= condition and most login forms look for). */
const HTTP_LOGIN_FAILURE_TEXT =
  /\b(invalid|incorrect|wrong|failed|failure|denied|unauthori[sz]ed|bad (user|pass|cred)\w*|try again|do not match)\b/;
const HTTP_AUTHORIZATION = /\r\n(proxy-)?authorization:/i;
const HTTP_PASSWORD_FIELD = /(^|[?&\s])(pass|passwd|password|pwd|pw|passw)=/i;

function prefixOf(p: FeaturePacket): Uint8Array | null {
  const b = p.payload;
  if (!b || p.payloadLength === 0) return null;
  const n = Math.min(b.length, p.payloadLength, CONTENT_BYTES_PER_PACKET);
  return n === b.length ? b : b.subarray(0, n);
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** %XX escapes and '+' decoded (never throwing), lowercased. */
function decoded(text: string): string {
  return text
    .replace(/\+/g, ' ')
    .replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
    .toLowerCase();
}

/** Counts of one session's login exchange. */
class LoginTally {
  attempts = 0;
  failures = 0;
  successes = 0;
  /** Attempts waiting for a reply, oldest first, each with the protocols its line could be (AUTH: SMTP, POP3, Redis). */
  private readonly pending: Array<readonly string[]> = [];

  attempt(...protocols: string[]): void {
    this.attempts++;
    this.pending.push(protocols);
  }

  /** A reply of protocol: counted (and its attempt consumed) only while one of its attempts waits. */
  reply(protocol: string, failed: boolean): boolean {
    const i = this.pending.findIndex((p) => p.includes(protocol));
    if (i < 0) return false;
    this.pending.splice(i, 1);
    if (failed) this.failures++;
    else this.successes++;
    return true;
  }

  /** A reply first counted as a success turns out to be a failure (an HTTP page whose text comes later). */
  successWasFailure(): void {
    this.successes--;
    this.failures++;
  }
}

function textLines(b: Uint8Array): string[] | null {
  // Text only: a binary payload has no lines worth matching (RESP starts with '*' or '$').
  if (b[0]! < 0x20 && b[0] !== 0x0d && b[0] !== 0x0a && b[0] !== 0x2a && b[0] !== 0x24) return null;
  return latin1(b)
    .split('\n')
    .filter((l) => l.length > 0 && l.length <= 512);
}

/** PostgreSQL PasswordMessage ('p', then its int32 length, which the payload holds). */
function postgresPassword(b: Uint8Array): boolean {
  if (b.length < 6 || b[0] !== 0x70) return false;
  const length = ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
  return length >= 5 && length < 65536;
}

/** PostgreSQL ErrorResponse with SQLSTATE 28P01 (password authentication failed) or 28000. */
function postgresFailure(b: Uint8Array): boolean {
  if (b.length < 8 || b[0] !== 0x45) return false;
  const text = latin1(b);
  return text.includes('C28P01') || text.includes('C28000');
}

/** PostgreSQL AuthenticationOk: 'R', length 8, code 0. */
function postgresSuccess(b: Uint8Array): boolean {
  return b.length >= 9 && b[0] === 0x52 && b[4] === 8 && b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0;
}

/** MySQL: the server greeting (protocol 10 in the packet of sequence 0), the client's handshake response (sequence
 * 1), and the server's ERR 1045 (access denied) or OK to it (sequence 2). */
const mysqlGreeting = (b: Uint8Array) => b.length >= 5 && b[3] === 0 && b[4] === 0x0a;
const mysqlHandshakeResponse = (b: Uint8Array) => b.length >= 36 && b[3] === 1;
const mysqlFailure = (b: Uint8Array) => b.length >= 7 && b[4] === 0xff && b[5] === 0x15 && b[6] === 0x04;
const mysqlSuccess = (b: Uint8Array) => b.length >= 5 && b[3] === 2 && b[4] === 0x00;

/** Writes the LOGIN_FEATURE_NAMES values of the (already windowed and capped) feature packets. */
export function writeLoginFeatures(
  packets: readonly FeaturePacket[],
  f: (name: LoginFeatureName, value: number) => void,
): void {
  const tally = new LoginTally();
  let isHttp = false;
  let mysql = false;
  // HTTP: a POST whose body may come in the next client packets, and the last response to a credentialed request
  // that was counted a success while its page (which may say the login failed) is still being read.
  let bodyPending = false;
  let pageOfSuccess = false;
  for (const p of packets) {
    const b = prefixOf(p);
    if (!b) continue;
    const fromServer = p.direction === 1;
    if (!fromServer) {
      if (looksLikeHttpRequest(b)) {
        isHttp = true;
        pageOfSuccess = false;
        const text = latin1(b);
        const headersEnd = text.indexOf('\r\n\r\n');
        const head = headersEnd >= 0 ? text.slice(0, headersEnd + 2) : text;
        const lineEnd = text.indexOf('\r\n');
        const requestLine = decoded(lineEnd >= 0 ? text.slice(0, lineEnd) : text);
        const body = headersEnd >= 0 ? decoded(text.slice(headersEnd + 4)) : '';
        const credentials =
          HTTP_AUTHORIZATION.test(head) || HTTP_PASSWORD_FIELD.test(requestLine) || HTTP_PASSWORD_FIELD.test(body);
        if (credentials) tally.attempt('http');
        bodyPending = !credentials && text.startsWith('POST ') && body.length === 0;
        continue;
      }
      if (isHttp) {
        if (bodyPending && HTTP_PASSWORD_FIELD.test(decoded(latin1(b)))) tally.attempt('http');
        bodyPending = false;
        continue;
      }
      if (postgresPassword(b)) tally.attempt('postgresql');
      else if (mysql && mysqlHandshakeResponse(b)) tally.attempt('mysql');
      const lines = textLines(b);
      if (!lines) continue;
      for (const line of lines) {
        const protocols = TEXT_LOGIN_DIALECTS.filter((d) => d.attempt.test(line)).map((d) => d.protocol);
        if (protocols.length > 0) tally.attempt(...protocols);
      }
      continue;
    }
    // From the server.
    if (isHttp) {
      if (looksLikeHttpResponse(b)) {
        const text = latin1(b);
        const code = Number(text.slice(9, 12));
        const failed = code === 401 || code === 403 || code === 407 || HTTP_LOGIN_FAILURE_TEXT.test(text.toLowerCase());
        pageOfSuccess = tally.reply('http', failed) && !failed;
      } else if (pageOfSuccess && HTTP_LOGIN_FAILURE_TEXT.test(latin1(b).toLowerCase())) {
        tally.successWasFailure();
        pageOfSuccess = false;
      }
      continue;
    }
    if (mysqlGreeting(b)) mysql = true;
    if (postgresFailure(b)) tally.reply('postgresql', true);
    else if (postgresSuccess(b)) tally.reply('postgresql', false);
    else if (mysql && mysqlFailure(b)) tally.reply('mysql', true);
    else if (mysql && mysqlSuccess(b)) tally.reply('mysql', false);
    const lines = textLines(b);
    if (!lines) continue;
    // A reply line answers one attempt, of the first protocol whose reply it is.
    for (const line of lines)
      TEXT_LOGIN_DIALECTS.some(
        (d) =>
          (d.failure.test(line) && tally.reply(d.protocol, true)) ||
          (d.success.test(line) && tally.reply(d.protocol, false)),
      );
  }
  f('login_attempts', tally.attempts);
  f('login_failures', tally.failures);
  f('login_successes', tally.successes);
  f('login_failure_share', tally.attempts > 0 ? tally.failures / tally.attempts : -1);
}
