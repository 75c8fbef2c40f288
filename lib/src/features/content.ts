// Content-aware session features (feature version 3): what the payloads of the feature packets say, as counts and
// shapes, never as raw text. They are part of extractFeatures' vector, so training (the dataset export of pcaps) and
// serving (forecast, fed by the session-worker from splitcap's stored frames) compute them with this one code.
//
// Why per packet and not over the reassembled stream: the stored frames are cut (FLEETCAP_STORED_FRAME_BYTES, 2048 by
// default) and only the first SESSION_MAX_PACKETS are kept, so a stream would end at the first cut segment. Every
// reader here looks at the first CONTENT_BYTES_PER_PACKET bytes of each packet's payload only, which a stored frame
// of the default size always holds whole, so a pcap read offline and a session read from the store give the same
// values. Length-prefixed protocols (SSH binary packets, TLS records) are followed across segments by their lengths
// (the wire payload length is known even where the bytes are not).
//
// What is looked for, and why it is behaviour rather than a lab artefact:
// - HTTP requests: SQL keywords, tautologies and metacharacters, script markup and password fields in the URI and
//   the body (URL-decoded), header fragments sent on their own (slowloris), and the response status classes (401/403
//   are failed logins, 5xx with SQL error text the trace of an injection);
// - text protocols (FTP, SMTP, POP3, IMAP, Redis) and PostgreSQL/MySQL: login commands from the client and
//   authentication failures/successes from the server: a brute force is many attempts and failures;
// - SSH: encrypted after NEWKEYS, but the number and the sizes of the packets after it tell authentication attempts
//   (a client request, a small failure reply, again) from a session that goes on to a shell or a transfer;
// - TLS: the handshake and the record shape after it: how many small application-data records the client sends,
//   how far apart, and what the server sends back (a slow request over TLS gets no response);
// - DNS: the shape of the query name and the error responses.
import { looksLikeDns, looksLikeTcpDns, parseDnsMessage } from '../app-metadata/dns.ts';
import { looksLikeHttpRequest, looksLikeHttpResponse } from '../app-metadata/http.ts';
import { looksLikeTls } from '../app-metadata/tls.ts';
import type { FeaturePacket, FeatureSession } from './features.ts';

/** Bytes of each packet's payload the content features read (a stored frame of the default 2048 bytes holds them). */
export const CONTENT_BYTES_PER_PACKET = 1024;

export const CONTENT_FEATURE_NAMES = [
  // bytes in general
  'content_bytes_fwd', // payload bytes the content features could read from the client
  'content_bytes_bwd',
  'printable_share_fwd', // printable ASCII (and CR, LF, TAB) share of them; -1 without bytes
  'printable_share_bwd',
  'text_lines_fwd', // line feeds in them
  'text_lines_bwd',
  // HTTP/1.x requests (client)
  'http_requests',
  'http_post_requests',
  'http_header_ends', // "\r\n\r\n" in client payloads of an HTTP session
  'http_header_fragments', // small client packets in an HTTP session that are neither a request nor a body
  'http_uri_length_max',
  'http_uri_params',
  'http_percent_escapes',
  'http_sql_keywords', // in URI and body, URL-decoded: select, union, sleep, information_schema, ...
  'http_sql_tautologies', // "and 1=1", "or 'a'='a'", "and 5391=5391", ...
  'http_sql_metachars', // quotes, comments, semicolons, parentheses, backticks in URI and (non-JSON) body
  'http_script_markup', // <, >, script, javascript:, onerror= ... in URI and body
  'http_password_fields', // pass=, password=, pwd= in URI or body, and Authorization headers
  // HTTP/1.x responses (server)
  'http_responses',
  'http_status_2xx',
  'http_status_3xx',
  'http_status_401_403',
  'http_status_404',
  'http_status_4xx_other',
  'http_status_5xx',
  'http_sql_error_text', // server packets of an HTTP session naming an SQL error
  // logins of text and database protocols
  'login_commands_fwd', // USER, PASS, AUTH, LOGIN, APOP lines (FTP, SMTP, POP3, IMAP, Redis)
  'auth_failures_bwd', // 530, 535, -ERR, IMAP NO, Redis WRONGPASS, PostgreSQL 28P01, MySQL 1045
  'auth_successes_bwd', // 230, 235, IMAP OK ... logged in, +OK logged in
  'text_error_replies_bwd', // server lines with a 4xx/5xx reply code (FTP, SMTP)
  // SSH
  'ssh_banner',
  'ssh_newkeys_fwd', // the client's NEWKEYS seen in the feature packets
  'ssh_encrypted_packets_fwd', // client payload packets after it
  'ssh_encrypted_packets_bwd', // server payload packets after the server's NEWKEYS
  'ssh_small_encrypted_bwd', // of those, up to 100 bytes (a failure reply's size)
  'ssh_encrypted_payload_mean_fwd',
  'ssh_encrypted_payload_mean_bwd',
  // TLS
  'tls_client_hello',
  'tls_records_fwd',
  'tls_records_bwd',
  'tls_appdata_records_fwd',
  'tls_appdata_records_bwd',
  'tls_small_appdata_fwd', // client application-data records up to 64 bytes (a header line, a ping)
  'tls_appdata_bytes_bwd',
  'tls_appdata_iat_fwd_mean', // seconds between client packets with application data; 0 for fewer than two
  'tls_alerts',
  // DNS
  'dns_queries',
  'dns_responses',
  'dns_error_responses',
  'dns_name_length',
  'dns_name_labels',
  'dns_max_label_length',
] as const;

export type ContentFeatureName = (typeof CONTENT_FEATURE_NAMES)[number];

const EMPTY = new Uint8Array(0);
const SSH_NEWKEYS = 21;
const TLS_ALERT = 21;
const TLS_HANDSHAKE = 22;
const TLS_APPDATA = 23;
const TLS_CLIENT_HELLO = 1;
const MAX_SSH_PACKET = 256 * 1024;

function prefixOf(p: FeaturePacket): Uint8Array {
  const b = p.payload;
  if (!b || p.payloadLength === 0) return EMPTY;
  const n = Math.min(b.length, p.payloadLength, CONTENT_BYTES_PER_PACKET);
  return n === b.length ? b : b.subarray(0, n);
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function count(text: string, re: RegExp): number {
  re.lastIndex = 0;
  let n = 0;
  while (re.exec(text) !== null) n++;
  return n;
}

/** %XX escapes and '+' decoded (latin1, never throwing), lowercased, SQL comments as spaces. */
export function decodeForScan(text: string): string {
  const decoded = text
    .replace(/\+/g, ' ')
    .replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return decoded.toLowerCase().replace(/\/\*.*?\*\//g, ' ');
}

const SQL_KEYWORDS =
  /\b(select|union|sleep|benchmark|waitfor|pg_sleep|randomblob|information_schema|sqlite_master|sysobjects|concat|group_concat|char|chr|substr|substring|cast|convert|exec|declare|having|extractvalue|updatexml|load_file|outfile|order\s+by|group\s+by|case\s+when|iif|instr|hex|unhex|version\(\))\b/g;
const SQL_TAUTOLOGY =
  /\b(and|or|xor|rlike|like)\b\s*\(?\s*['"]?\w+['"]?\s*(=|<>|!=|<|>|\blike\b|\bbetween\b|\bin\s*\(|\bis\b)/g;
const SQL_META = /'|"|--|\/\*|;|#|\(|\)|`/g;
const SCRIPT_MARKUP = /<|>|\bscript\b|javascript:|\bon(error|load|mouseover|focus)\s*=|\balert\s*\(|document\.cookie/g;
const PASSWORD_FIELD = /(^|[?&\s])(pass|passwd|password|pwd|pw|passw)=/g;
const AUTHORIZATION = /\r\nauthorization:/gi;
const PERCENT_ESCAPE = /%[0-9a-fA-F]{2}/g;
const SQL_ERROR =
  /sql syntax|syntax error|sqlite|mysql|postgresql|ora-\d{5}|odbc|unrecognized token|sqlstate|unclosed quotation|sql error|operationalerror/;

const LOGIN_LINE = /^(?:[a-z0-9.]+\s+)?(user|pass|auth|login|apop|authenticate)(\s|$)/i;
const AUTH_FAILURE = /^(530|535|534|454)[ -]|^-err\b|^-wrongpass|^-noauth|^[a-z0-9.*]+\s+no\b/i;
const AUTH_SUCCESS = /^(230|235)[ -]|^[a-z0-9.]+\s+ok\b.*(logged in|authenticated|login completed)|^\+ok\b.*logged in/i;
const TEXT_ERROR = /^[45]\d\d[ -]/;

type Writer = (name: ContentFeatureName, value: number) => void;

/** Printable share, line feeds. */
function byteShape(b: Uint8Array): { printable: number; lines: number } {
  let printable = 0;
  let lines = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if ((c >= 0x20 && c < 0x7f) || c === 0x0d || c === 0x0a || c === 0x09) printable++;
    if (c === 0x0a) lines++;
  }
  return { printable, lines };
}

/** Writes the CONTENT_FEATURE_NAMES values of the (already windowed and capped) feature packets. */
export function writeContentFeatures(session: FeatureSession, packets: readonly FeaturePacket[], f: Writer): void {
  const tcp = session.proto === 'tcp';
  const prefixes = packets.map(prefixOf);
  const bytes = [0, 0];
  const printable = [0, 0];
  const lines = [0, 0];
  for (let i = 0; i < packets.length; i++) {
    const b = prefixes[i]!;
    if (b.length === 0) continue;
    const d = packets[i]!.direction === 1 ? 1 : 0;
    const shape = byteShape(b);
    bytes[d]! += b.length;
    printable[d]! += shape.printable;
    lines[d]! += shape.lines;
  }
  f('content_bytes_fwd', bytes[0]!);
  f('content_bytes_bwd', bytes[1]!);
  f('printable_share_fwd', bytes[0]! > 0 ? printable[0]! / bytes[0]! : -1);
  f('printable_share_bwd', bytes[1]! > 0 ? printable[1]! / bytes[1]! : -1);
  f('text_lines_fwd', lines[0]!);
  f('text_lines_bwd', lines[1]!);
  if (bytes[0]! + bytes[1]! === 0) return;

  const firstClient = prefixes.find((b, i) => b.length > 0 && packets[i]!.direction !== 1) ?? EMPTY;
  const firstServer = prefixes.find((b, i) => b.length > 0 && packets[i]!.direction === 1) ?? EMPTY;
  // HTTP headers and bodies are no login lines or replies ("User-Agent", a page's text).
  if (!http(packets, prefixes, f)) logins(packets, prefixes, f);
  if (tcp) {
    ssh(packets, prefixes, firstClient, firstServer, f);
    tls(packets, prefixes, firstClient, firstServer, f);
  }
  dns(tcp, packets, prefixes, firstClient, firstServer, f);
}

/** Returns whether the session is HTTP/1.x (a client packet starts with a request line). */
function http(packets: readonly FeaturePacket[], prefixes: Uint8Array[], f: Writer): boolean {
  let requests = 0;
  let posts = 0;
  let headerEnds = 0;
  let fragments = 0;
  let uriMax = 0;
  let params = 0;
  let escapes = 0;
  let keywords = 0;
  let tautologies = 0;
  let meta = 0;
  let markup = 0;
  let passwords = 0;
  let responses = 0;
  const status = { s2: 0, s3: 0, auth: 0, nf: 0, c4: 0, s5: 0 };
  let sqlErrors = 0;
  let isHttp = false;
  const scan = (raw: string, body: boolean) => {
    const text = decodeForScan(raw);
    keywords += count(text, SQL_KEYWORDS);
    tautologies += count(text, SQL_TAUTOLOGY);
    markup += count(text, SCRIPT_MARKUP);
    passwords += count(text, PASSWORD_FIELD);
    const trimmed = text.trimStart();
    if (!body || !(trimmed.startsWith('{') || trimmed.startsWith('['))) meta += count(text, SQL_META);
  };
  for (let i = 0; i < packets.length; i++) {
    const b = prefixes[i]!;
    if (b.length === 0) continue;
    if (packets[i]!.direction !== 1) {
      if (looksLikeHttpRequest(b)) {
        isHttp = true;
        requests++;
        const text = latin1(b);
        if (text.startsWith('POST ')) posts++;
        const firstSpace = text.indexOf(' ');
        let uriEnd = text.indexOf(' ', firstSpace + 1);
        const lineEnd = text.indexOf('\r\n');
        if (uriEnd < 0 || (lineEnd >= 0 && lineEnd < uriEnd)) uriEnd = lineEnd >= 0 ? lineEnd : text.length;
        const uri = text.slice(firstSpace + 1, uriEnd);
        uriMax = Math.max(uriMax, uri.length);
        const q = uri.indexOf('?');
        if (q >= 0) params += uri.slice(q + 1).split('&').length;
        escapes += count(uri, PERCENT_ESCAPE);
        scan(uri, false);
        const headersEnd = text.indexOf('\r\n\r\n');
        passwords += count(headersEnd >= 0 ? text.slice(0, headersEnd + 2) : text, AUTHORIZATION);
        if (headersEnd >= 0) {
          headerEnds += count(text, /\r\n\r\n/g);
          const body = text.slice(headersEnd + 4);
          if (body.length > 0) {
            escapes += count(body, PERCENT_ESCAPE);
            scan(body, true);
          }
        }
      } else if (isHttp) {
        const text = latin1(b);
        headerEnds += count(text, /\r\n\r\n/g);
        if (b.length <= 128 && /^[\w-]+:[^\r\n]*\r?\n?$|^\r?\n$/.test(text)) fragments++;
        else {
          escapes += count(text, PERCENT_ESCAPE);
          scan(text, true);
        }
      }
    } else if (looksLikeHttpResponse(b)) {
      responses++;
      const text = latin1(b);
      const code = Number(text.slice(9, 12));
      if (code >= 200 && code < 300) status.s2++;
      else if (code >= 300 && code < 400) status.s3++;
      else if (code === 401 || code === 403 || code === 407) status.auth++;
      else if (code === 404) status.nf++;
      else if (code >= 400 && code < 500) status.c4++;
      else if (code >= 500) status.s5++;
      if (SQL_ERROR.test(text.toLowerCase())) sqlErrors++;
    } else if (isHttp && SQL_ERROR.test(latin1(b).toLowerCase())) sqlErrors++;
  }
  f('http_requests', requests);
  f('http_post_requests', posts);
  f('http_header_ends', headerEnds);
  f('http_header_fragments', fragments);
  f('http_uri_length_max', uriMax);
  f('http_uri_params', params);
  f('http_percent_escapes', escapes);
  f('http_sql_keywords', keywords);
  f('http_sql_tautologies', tautologies);
  f('http_sql_metachars', meta);
  f('http_script_markup', markup);
  f('http_password_fields', passwords);
  f('http_responses', responses);
  f('http_status_2xx', status.s2);
  f('http_status_3xx', status.s3);
  f('http_status_401_403', status.auth);
  f('http_status_404', status.nf);
  f('http_status_4xx_other', status.c4);
  f('http_status_5xx', status.s5);
  f('http_sql_error_text', sqlErrors);
  return isHttp;
}

/** PostgreSQL ErrorResponse with SQLSTATE 28P01 (password authentication failed) or 28000. */
function postgresAuthFailure(b: Uint8Array): boolean {
  if (b.length < 8 || b[0] !== 0x45) return false;
  const text = latin1(b);
  return text.includes('C28P01') || text.includes('C28000');
}

/** MySQL ERR packet (0xff after the 4-byte header) with error 1045 (access denied). */
function mysqlAuthFailure(b: Uint8Array): boolean {
  return b.length >= 7 && b[4] === 0xff && b[5] === 0x15 && b[6] === 0x04;
}

function logins(packets: readonly FeaturePacket[], prefixes: Uint8Array[], f: Writer): void {
  let attempts = 0;
  let failures = 0;
  let successes = 0;
  let errors = 0;
  for (let i = 0; i < packets.length; i++) {
    const b = prefixes[i]!;
    if (b.length === 0) continue;
    const fromServer = packets[i]!.direction === 1;
    if (fromServer && (postgresAuthFailure(b) || mysqlAuthFailure(b))) {
      failures++;
      continue;
    }
    // Text lines only: a binary payload has no lines worth matching.
    if (b[0]! < 0x20 && b[0] !== 0x0d && b[0] !== 0x0a && b[0] !== 0x2a && b[0] !== 0x24) continue;
    for (const line of latin1(b).split('\n')) {
      if (line.length === 0 || line.length > 512) continue;
      if (fromServer) {
        if (AUTH_FAILURE.test(line)) failures++;
        else if (AUTH_SUCCESS.test(line)) successes++;
        if (TEXT_ERROR.test(line)) errors++;
      } else if (LOGIN_LINE.test(line)) attempts++;
    }
  }
  f('login_commands_fwd', attempts);
  f('auth_failures_bwd', failures);
  f('auth_successes_bwd', successes);
  f('text_error_replies_bwd', errors);
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function startsWithSsh(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x53 && b[1] === 0x53 && b[2] === 0x48 && b[3] === 0x2d;
}

function ssh(
  packets: readonly FeaturePacket[],
  prefixes: Uint8Array[],
  firstClient: Uint8Array,
  firstServer: Uint8Array,
  f: Writer,
): void {
  f('ssh_banner', startsWithSsh(firstClient) || startsWithSsh(firstServer) ? 1 : 0);
  f('ssh_newkeys_fwd', 0);
  if (!startsWithSsh(firstClient) && !startsWithSsh(firstServer)) return;
  // Per direction: 0 before the identification line, 1 cleartext binary packets, 2 encrypted (after NEWKEYS),
  // 3 lost (a length that cannot be followed).
  const mode = [0, 0];
  const remaining = [0, 0];
  const encrypted = [0, 0];
  const encryptedBytes = [0, 0];
  let smallBwd = 0;
  const countEncrypted = (d: number, length: number) => {
    encrypted[d]!++;
    encryptedBytes[d]! += length;
    if (d === 1 && length <= 100) smallBwd++;
  };
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    if (p.payloadLength === 0) continue;
    const d = p.direction === 1 ? 1 : 0;
    const b = prefixes[i]!;
    const length = p.payloadLength;
    if (mode[d] === 2) {
      countEncrypted(d, length);
      continue;
    }
    if (mode[d] === 3) continue;
    let at = 0;
    if (mode[d] === 0) {
      if (!startsWithSsh(b)) continue; // lines before the identification (allowed from servers)
      const lf = b.indexOf(0x0a);
      mode[d] = 1;
      if (lf < 0) {
        if (b.length < length) mode[d] = 3;
        continue;
      }
      at = lf + 1;
    }
    if (remaining[d]! >= length - at) {
      remaining[d]! -= length - at;
      continue;
    }
    at += remaining[d]!;
    remaining[d] = 0;
    while (at < length) {
      if (at + 6 > b.length) {
        mode[d] = 3;
        break;
      }
      const packetLength = u32(b, at);
      if (packetLength < 5 || packetLength > MAX_SSH_PACKET) {
        mode[d] = 3;
        break;
      }
      const total = 4 + packetLength;
      if (b[at + 5] === SSH_NEWKEYS) {
        mode[d] = 2;
        if (d === 0) f('ssh_newkeys_fwd', 1);
        if (at + total < length) countEncrypted(d, length - at - total);
        break;
      }
      if (at + total > length) {
        remaining[d] = at + total - length;
        break;
      }
      at += total;
    }
  }
  f('ssh_encrypted_packets_fwd', encrypted[0]!);
  f('ssh_encrypted_packets_bwd', encrypted[1]!);
  f('ssh_small_encrypted_bwd', smallBwd);
  f('ssh_encrypted_payload_mean_fwd', encrypted[0]! > 0 ? encryptedBytes[0]! / encrypted[0]! : 0);
  f('ssh_encrypted_payload_mean_bwd', encrypted[1]! > 0 ? encryptedBytes[1]! / encrypted[1]! : 0);
}

function tls(
  packets: readonly FeaturePacket[],
  prefixes: Uint8Array[],
  firstClient: Uint8Array,
  firstServer: Uint8Array,
  f: Writer,
): void {
  const hello = looksLikeTls(firstClient, TLS_CLIENT_HELLO);
  f('tls_client_hello', hello ? 1 : 0);
  const serverTls = firstServer.length >= 5 && firstServer[0] === TLS_HANDSHAKE && firstServer[1] === 3;
  if (!hello && !serverTls) return;
  const remaining = [0, 0];
  const lost = [false, false];
  const records = [0, 0];
  const appdata = [0, 0];
  let smallFwd = 0;
  let appdataBytesBwd = 0;
  let alerts = 0;
  let lastAppdataTs = -1;
  let gaps = 0;
  let gapSum = 0;
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    if (p.payloadLength === 0) continue;
    const d = p.direction === 1 ? 1 : 0;
    if (lost[d]) continue;
    const b = prefixes[i]!;
    const length = p.payloadLength;
    if (remaining[d]! >= length) {
      remaining[d]! -= length;
      continue;
    }
    let at = remaining[d]!;
    remaining[d] = 0;
    let sawAppdata = false;
    while (at < length) {
      if (at + 5 > b.length) {
        lost[d] = true;
        break;
      }
      const type = b[at]!;
      if (type < 20 || type > 24 || b[at + 1] !== 3) {
        lost[d] = true;
        break;
      }
      const recordLength = u16(b, at + 3);
      records[d]!++;
      if (type === TLS_APPDATA) {
        appdata[d]!++;
        sawAppdata = true;
        if (d === 0 && recordLength <= 64) smallFwd++;
        if (d === 1) appdataBytesBwd += recordLength;
      } else if (type === TLS_ALERT) alerts++;
      const total = 5 + recordLength;
      if (at + total > length) {
        remaining[d] = at + total - length;
        break;
      }
      at += total;
    }
    if (d === 0 && sawAppdata) {
      if (lastAppdataTs >= 0) {
        gaps++;
        gapSum += (p.tsUs - lastAppdataTs) / 1e6;
      }
      lastAppdataTs = p.tsUs;
    }
  }
  f('tls_records_fwd', records[0]!);
  f('tls_records_bwd', records[1]!);
  f('tls_appdata_records_fwd', appdata[0]!);
  f('tls_appdata_records_bwd', appdata[1]!);
  f('tls_small_appdata_fwd', smallFwd);
  f('tls_appdata_bytes_bwd', appdataBytesBwd);
  f('tls_appdata_iat_fwd_mean', gaps > 0 ? gapSum / gaps : 0);
  f('tls_alerts', alerts);
}

function dns(
  tcp: boolean,
  packets: readonly FeaturePacket[],
  prefixes: Uint8Array[],
  firstClient: Uint8Array,
  firstServer: Uint8Array,
  f: Writer,
): void {
  const first = firstClient.length > 0 ? firstClient : firstServer;
  if (tcp ? !looksLikeTcpDns(first) : !looksLikeDns(first)) return;
  let queries = 0;
  let responses = 0;
  let errors = 0;
  let named = false;
  for (let i = 0; i < packets.length; i++) {
    const b = prefixes[i]!;
    if (b.length === 0) continue;
    const message = parseDnsMessage(tcp ? b.subarray(2) : b);
    if (!message) continue;
    if (message.response) {
      responses++;
      if (message.rcode !== 0) errors++;
    } else queries++;
    if (!named && message.question) {
      named = true;
      const name = message.question.name === '.' ? '' : message.question.name;
      const labels = name === '' ? [] : name.split('.');
      f('dns_name_length', name.length);
      f('dns_name_labels', labels.length);
      f(
        'dns_max_label_length',
        labels.reduce((m, l) => Math.max(m, l.length), 0),
      );
    }
  }
  f('dns_queries', queries);
  f('dns_responses', responses);
  f('dns_error_responses', errors);
}
