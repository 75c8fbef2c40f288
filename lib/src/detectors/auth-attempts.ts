// How many authentication attempts a session shows, read from its payloads by the content features
// (lib/src/features/content.ts), whatever its port: the brute-force detector counts attempts, not sessions, and
// finds the service by what it says, not by its port.
//
// Why: hydra (and any careful attacker) tries several passwords per connection (FTP, IMAP and SSH all allow it) and
// runs services on other ports (SSH on 2222, FTP on 2121, an HTTP login form on 80 or 5000). Counted per session and
// port, a brute force of 63 passwords was 4 FTP sessions on 2121 and never reached the threshold (the lab runs of
// /work/wt/model/.lab/runs); counted per attempt and recognised by its content, it does.
//
// What counts as an attempt, per session (at most MAX_ATTEMPTS_PER_SESSION, OpenSSH's MaxAuthTries):
// - text protocols (FTP, SMTP, POP3, IMAP, Redis) and MySQL/PostgreSQL: the server's authentication failures, or
//   one attempt for a session that sent a login command and got neither a failure nor a success (a login that
//   succeeded at once is a user, not an attempt);
// - HTTP: 401/403 responses, and POSTs with a password field answered 2xx in a session with no SQL in it and no
//   redirect (a login form answering 200 "invalid"; sqlmap's posts to the form carry SQL in the same connection);
// - SSH: the server's small encrypted replies after key exchange, less the service accept: a failed password is
//   one small USERAUTH_FAILURE reply; a session whose kept packets end before that counts once;
// A session that shows none of this is no attempt (0): an HTTP page, a TLS session, a DNS query.
//
// Attempts past the kept packets: the pipeline keeps a session's first SESSION_MAX_PACKETS packets, and a client
// that tries several passwords per connection (hydra on FTP and IMAP) goes on after them: 2 failures seen in the 24
// kept packets of a 35-packet FTP session, 1 in 24 of a 48-packet IMAP session. When the server's failures are seen,
// no success is, and the session went on past the kept packets, its further packets are taken to carry further
// attempts at the rate the kept ones did (rounded; still at most MAX_ATTEMPTS_PER_SESSION). Not for SSH, whose
// success is encrypted too: a user's session after one login would count as many attempts.
import { createHash } from 'node:crypto';
import { CONTENT_FEATURE_NAMES, type ContentFeatureName, writeContentFeatures } from '../features/content.ts';
import type { FeaturePacket } from '../features/features.ts';

export const MAX_ATTEMPTS_PER_SESSION = 6;

export interface AuthPacket {
  /** 0 from the client, 1 from the server. */
  direction: number;
  payloadLength: number;
  tcpFlags: number;
  payload?: Uint8Array;
}

const PASSWORD_FIELD = /(^|[?&\s])(pass|passwd|password|pwd|pw|passw)=/i;
const decoder = new TextDecoder('latin1');

/** The client's POST requests that carry a password field in the same packet. */
function loginFormPosts(packets: readonly AuthPacket[]): number {
  let posts = 0;
  for (const p of packets) {
    const b = p.payload;
    if (p.direction !== 0 || !b || b.length < 5) continue;
    if (b[0] !== 0x50 || b[1] !== 0x4f || b[2] !== 0x53 || b[3] !== 0x54 || b[4] !== 0x20) continue; // "POST "
    if (PASSWORD_FIELD.test(decoder.decode(b))) posts++;
  }
  return posts;
}

const FEATURE_INDEX = new Map(CONTENT_FEATURE_NAMES.map((name, i) => [name, i]));

/**
 * The attempts `packets` (the session's kept packets) show; `packetsSeen`, the session's packets in all, extends a
 * count of failed text-protocol logins over the packets that were not kept (see above).
 */
export function authAttempts(
  proto: 'tcp' | 'udp',
  clientPort: number,
  serverPort: number,
  packets: readonly AuthPacket[],
  packetsSeen: number = packets.length,
): number {
  if (proto !== 'tcp' || packets.every((p) => p.payloadLength === 0)) return 0;
  const values = new Array<number>(CONTENT_FEATURE_NAMES.length).fill(0);
  const featurePackets: FeaturePacket[] = packets.map((p) => ({
    direction: p.direction,
    tsUs: 0,
    wireLength: p.payloadLength,
    payloadLength: p.payloadLength,
    tcpFlags: p.tcpFlags,
    payload: p.payload,
  }));
  writeContentFeatures({ proto, clientPort, serverPort, packets: featurePackets }, featurePackets, (name, value) => {
    values[FEATURE_INDEX.get(name as ContentFeatureName)!] = value;
  });
  const v = (name: ContentFeatureName) => values[FEATURE_INDEX.get(name)!]!;
  let attempts = 0;
  if (v('http_requests') > 0) {
    attempts = v('http_status_401_403');
    // A login form answering 200 "invalid" (hydra's http-post-form): a POST with a password field, answered 2xx
    // and never redirected (a login that worked redirects), in a session with no sign of SQL (sqlmap posts to
    // login forms too, and its requests carry SQL in the same connection).
    const sqlSigns = v('http_sql_keywords') + v('http_sql_tautologies') + v('http_sql_metachars');
    if (sqlSigns === 0 && v('http_status_3xx') === 0) {
      attempts += Math.min(loginFormPosts(packets), v('http_status_2xx'));
    }
  } else if (v('ssh_banner') > 0) {
    // The kept packets often end inside the key exchange: an SSH session is one attempt at least.
    attempts = v('ssh_newkeys_fwd') > 0 ? Math.max(1, v('ssh_small_encrypted_bwd') - 1) : 1;
  } else if (v('auth_failures_bwd') > 0) {
    attempts = v('auth_failures_bwd');
    if (v('auth_successes_bwd') === 0 && packetsSeen > packets.length && packets.length > 0) {
      attempts += Math.round(((packetsSeen - packets.length) * attempts) / packets.length);
    }
  } else if (v('login_commands_fwd') > 0 && v('auth_successes_bwd') === 0) {
    attempts = 1;
  }
  return Math.min(attempts, MAX_ATTEMPTS_PER_SESSION);
}

/** Distinct credentials listed per session at most (as attempts: OpenSSH's MaxAuthTries). */
export const MAX_CREDENTIALS_PER_SESSION = MAX_ATTEMPTS_PER_SESSION;

/** A server's refusal of a login: as the content features' auth_failures_bwd (content.ts), and HTTP 401/403. */
const REFUSAL = /^(530|535|534|454)[ -]|^-err\b|^-wrongpass|^-noauth|^[a-z0-9.*]+\s+no\b|^http\/1\.[01] (401|403)\b/i;
const LOGIN = /^(?:([a-z0-9.]+)\s+)?(user|pass|login|auth|authorization:\s*basic)\s+(.*)$/i;
const FORM_PASSWORD = /^(pass|passwd|password|pwd|pw|passw)$/i;
const FORM_LOGIN = /^(user|username|login|email|name|uid)$/i;

function textLines(b: Uint8Array): string[] {
  return decoder
    .decode(b)
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

/** The credentials a client packet's lines send (before hashing), in order. */
function credentialsSent(lines: string[], payload: Uint8Array, user: { name: string }): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // Redis RESP: *<n>, then $<len> and the value per element: AUTH [user] password.
    if ((line === '*2' || line === '*3') && lines[i + 1] === '$4' && /^auth$/i.test(lines[i + 2] ?? '')) {
      const n = Number(line.slice(1));
      const values: string[] = [];
      for (let k = 0; k < n - 1; k++) values.push(lines[i + 4 + 2 * k] ?? '');
      out.push(`redis\0${values.join('\0')}`);
      i += 2 + 2 * (n - 1);
      continue;
    }
    const m = LOGIN.exec(line);
    if (!m) continue;
    const verb = m[2]!.toLowerCase();
    const rest = m[3]!.trim();
    if (verb === 'user' && !m[1]) user.name = rest;
    else if (verb === 'pass' && !m[1]) out.push(`userpass\0${user.name}\0${rest}`);
    else if (verb === 'login' && m[1]) out.push(`imap\0${rest}`);
    else if (verb === 'auth' && !m[1]) {
      // SMTP AUTH LOGIN: the user and the password follow on lines of their own.
      if (/^login$/i.test(rest)) out.push(`smtp\0${lines[i + 1] ?? ''}\0${lines[i + 2] ?? ''}`);
      else out.push(`auth\0${rest}`);
    } else if (verb.startsWith('authorization')) out.push(`basic\0${rest}`);
  }
  if (payload[0] === 0x50 && lines[0]?.startsWith('POST ') && PASSWORD_FIELD.test(decoder.decode(payload))) {
    const fields = [...new URLSearchParams(lines[lines.length - 1] ?? '')];
    const password = fields.find(([k]) => FORM_PASSWORD.test(k))?.[1];
    const login = fields.find(([k]) => FORM_LOGIN.test(k))?.[1] ?? '';
    if (password !== undefined) out.push(`form\0${login}\0${password}`);
  }
  return out;
}

/**
 * Fingerprints of the credentials the server refused, distinct, in order: each credential the client sent in a
 * cleartext login (Redis AUTH, FTP/POP3 USER+PASS, IMAP LOGIN, SMTP AUTH PLAIN/LOGIN, HTTP Basic, a login form's
 * user and password fields) that the server's next reply refused (530, 535, -ERR, -WRONGPASS, IMAP NO, HTTP 401/403),
 * as 4 hex digits of SHA-256.
 *
 * Why refused ones only: password guessing is many refused credentials against one service. A client with a wrong
 * password repeats one; a webmail server logging its users in to IMAP sends many credentials from one address, and
 * nearly all are accepted. Why 16 bits: enough to count a handful of distinct credentials (two of 25 collide with
 * probability 0.5%), too few to give a password back (a dictionary of 10 million words leaves about 150 candidates
 * for each fingerprint). Encrypted logins (SSH, TLS) and challenge-response ones (MySQL, PostgreSQL, APOP) show none.
 */
export function credentialFingerprints(packets: readonly AuthPacket[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const user = { name: '' };
  let pending: string[] = [];
  for (const p of packets) {
    const b = p.payload;
    if (!b || b.length === 0) continue;
    const lines = textLines(b);
    if (p.direction === 0) {
      pending.push(...credentialsSent(lines, b, user));
      continue;
    }
    if (pending.length === 0) continue;
    if (lines.some((line) => line.length <= 512 && REFUSAL.test(line))) {
      for (const credential of pending) {
        const fp = createHash('sha256').update(credential, 'latin1').digest('hex').slice(0, 4);
        if (seen.has(fp)) continue;
        seen.add(fp);
        found.push(fp);
        if (found.length >= MAX_CREDENTIALS_PER_SESSION) return found;
      }
    }
    pending = [];
  }
  return found;
}
