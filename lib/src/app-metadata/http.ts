// HTTP/1.x: the first request (method, URI, Host, User-Agent) and the first response's status, and how many
// requests and responses the stored packets hold (bodies skipped by Content-Length or chunked framing; a body that
// runs to the end of the connection ends the count).
import { ascii, indexOfLf, MAX_TEXT, text } from './bytes.ts';
import { streamEndedEarly } from './short-stream.ts';
import type { DirectionStream } from './tcp-stream.ts';
import type { Findings, HttpMetadata } from './types.ts';

/** Methods recognised in a request line without an HTTP version (HTTP/0.9) and for detection. */
const METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'QUERY',
  'PROPFIND',
  'PROPPATCH',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'SEARCH',
  'REPORT',
  'MERGE',
  'CHECKOUT',
  'MKACTIVITY',
  'M-SEARCH',
  'NOTIFY',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'RPC_IN_DATA',
  'RPC_OUT_DATA',
  'CCM_POST',
  'POLL',
  'BCOPY',
  'BDELETE',
  'BMOVE',
  'BPROPFIND',
  'BPROPPATCH',
  'ACL',
  'BIND',
  'UNBIND',
  'REBIND',
  'LABEL',
  'UPDATE',
  'VERSION-CONTROL',
  'UNCHECKOUT',
  'MKWORKSPACE',
  'BASELINE-CONTROL',
  'ORDERPATCH',
]);
const MAX_METHOD = 32;
/** Longest header block read; longer is reported, not buffered. */
const MAX_HEADER_BYTES = 32 * 1024;
const MAX_MESSAGES = 256;

/** RFC 9110 tchar, by byte value: read for every byte of a method and a header name. */
const TOKEN_CHARS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  TOKEN_CHARS[c] =
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))
      ? 1
      : 0;
}

function isTokenChar(c: number): boolean {
  return TOKEN_CHARS[c] === 1;
}

interface RequestLine {
  method: string;
  uri?: string;
  /** Absent when the line has no readable version (a malformed line of a known method). */
  version?: string;
  malformed: boolean;
  /** Index just past the line's LF. */
  next: number;
}

interface StatusLine {
  version: string;
  status: number;
  next: number;
}

/** End of the line starting at `at` (index of its LF), or -1 when it does not end within the limit. */
function lineEnd(b: Uint8Array, at: number): number {
  return indexOfLf(b, at, Math.min(b.length, at + MAX_HEADER_BYTES));
}

/** Trims a trailing CR from the line b[at, lf). */
function contentEnd(b: Uint8Array, at: number, lf: number): number {
  return lf > at && b[lf - 1] === 0x0d ? lf - 1 : lf;
}

type LineResult<T> = T | 'incomplete' | 'invalid';

/** `line` from `at` is " HTTP/d.d" to its end (what /^ HTTP\/\d\.\d$/ says of line.slice(at), without a regex). */
function isVersionSuffix(line: string, at: number): boolean {
  if (line.length - at !== 9) return false;
  const major = line.charCodeAt(at + 6);
  const minor = line.charCodeAt(at + 8);
  return major >= 0x30 && major <= 0x39 && line.charCodeAt(at + 7) === 0x2e && minor >= 0x30 && minor <= 0x39;
}

function parseRequestLine(b: Uint8Array, at: number): LineResult<RequestLine> {
  let p = at;
  while (p < b.length && p - at <= MAX_METHOD && isTokenChar(b[p]!)) p++;
  if (p === b.length) return p - at <= MAX_METHOD ? 'incomplete' : 'invalid';
  if (p === at || p - at > MAX_METHOD) return 'invalid';
  const method = ascii(b, at, p);
  if ((b[p] === 0x0d || b[p] === 0x0a) && METHODS.has(method)) {
    // A known method alone on its line: a request with nothing else readable.
    const lf = lineEnd(b, p);
    if (lf < 0) return 'incomplete';
    if (lf - p <= 1) return { method, next: lf + 1, malformed: true };
  }
  if (b[p] !== 0x20) return 'invalid';
  const lf = lineEnd(b, p);
  if (lf < 0) {
    // Still a request if what is there can start one (no control bytes in what may be the URI).
    for (let i = p + 1; i < b.length; i++) if (b[i]! < 0x20 && b[i] !== 0x0d) return 'invalid';
    return b.length - at < MAX_HEADER_BYTES ? 'incomplete' : 'invalid';
  }
  const end = contentEnd(b, p, lf);
  let asciiOnly = true;
  for (let i = p + 1; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 || c === 0x7f) return 'invalid';
    if (c >= 0x80) asciiOnly = false;
  }
  // ASCII (nearly every request line) is its own text: no UTF-8 decoder call.
  const line = asciiOnly ? ascii(b, p + 1, Math.min(end, p + 1 + MAX_TEXT)) : text(b, p + 1, end);
  const versionAt = line.lastIndexOf(' HTTP/');
  if (versionAt >= 0 && isVersionSuffix(line, versionAt)) {
    // The request-target holds no space: what a line has between it and the version is not part of it.
    const uri = line.slice(0, versionAt).trimStart().split(' ')[0]!;
    return { method, uri: uri.slice(0, MAX_TEXT), version: line.slice(versionAt + 6), next: lf + 1, malformed: false };
  }
  // HTTP/0.9: a known method and a URI with no space in it.
  if (METHODS.has(method) && line.length > 0 && !line.includes(' ')) {
    return { method, uri: line.slice(0, MAX_TEXT), version: '0.9', next: lf + 1, malformed: false };
  }
  // A known method with a broken rest ("GET / HTTP/1.", "OPTIONS" alone): read what is there, as tshark and Zeek do.
  if (METHODS.has(method)) {
    const uri = line.trimStart().split(' ')[0];
    return { method, ...(uri ? { uri: uri.slice(0, MAX_TEXT) } : {}), next: lf + 1, malformed: true };
  }
  return 'invalid';
}

/** The method and, when a space ends it, the URI of a request line the stream cuts (a known method only). */
function partialRequestLine(b: Uint8Array, at: number): { method: string; uri?: string } | undefined {
  const space = b.indexOf(0x20, at);
  if (space < 0 || space - at > MAX_METHOD) return undefined;
  const method = ascii(b, at, space);
  if (!METHODS.has(method)) return undefined;
  const end = b.indexOf(0x20, space + 1);
  return end > space + 1 ? { method, uri: text(b, space + 1, end) } : { method };
}

function parseStatusLine(b: Uint8Array, at: number): LineResult<StatusLine> {
  const prefix = 'HTTP/';
  for (let i = 0; i < prefix.length; i++) {
    if (at + i >= b.length) return 'incomplete';
    if (b[at + i] !== prefix.charCodeAt(i)) return 'invalid';
  }
  const lf = lineEnd(b, at);
  if (lf < 0) return b.length - at < MAX_HEADER_BYTES ? 'incomplete' : 'invalid';
  const line = ascii(b, at, contentEnd(b, at, lf));
  const match = /^HTTP\/(\d\.\d) (\d{3})(?:[ \t].*)?$/s.exec(line);
  if (!match) return 'invalid';
  return { version: match[1]!, status: Number(match[2]), next: lf + 1 };
}

interface Headers {
  /** Lower-case name → first value. */
  values: Map<string, string>;
  /** Index just past the blank line. */
  next: number;
}

/**
 * The headers whose values anything reads (the first request's host and user agent, every message's framing): only
 * these are decoded, a text decode per header of every message being most of what a long keep-alive session cost.
 */
const READ_HEADERS: ReadonlySet<string> = new Set(['host', 'user-agent', 'transfer-encoding', 'content-length']);

/**
 * The header block from `at` (the values of READ_HEADERS); 'incomplete' (with what complete lines gave) when the
 * blank line is not there.
 */
function parseHeaders(b: Uint8Array, at: number): { headers: Headers; complete: boolean; malformed: boolean } {
  const values = new Map<string, string>();
  let p = at;
  let malformed = false;
  let last: string | undefined;
  for (let lines = 0; p - at < MAX_HEADER_BYTES; lines++) {
    const lf = lineEnd(b, p);
    if (lf < 0) return { headers: { values, next: p }, complete: false, malformed };
    const end = contentEnd(b, p, lf);
    if (end === p) return { headers: { values, next: lf + 1 }, complete: true, malformed };
    if ((b[p] === 0x20 || b[p] === 0x09) && last !== undefined) {
      // Obsolete line folding continues the previous header.
      if (values.get(last) !== undefined && lines > 0) {
        values.set(last, `${values.get(last)} ${text(b, p, end).trim()}`.slice(0, MAX_TEXT));
      }
    } else {
      let colon = p;
      while (colon < end && b[colon] !== 0x3a) colon++;
      if (colon === end || colon === p) malformed = true;
      else {
        const name = ascii(b, p, colon).trim().toLowerCase();
        last = name;
        if (READ_HEADERS.has(name) && !values.has(name)) values.set(name, text(b, colon + 1, end).trim());
      }
    }
    p = lf + 1;
  }
  return { headers: { values, next: p }, complete: false, malformed };
}

type BodyEnd = number | 'to_close' | 'beyond' | 'malformed';

/** Where the body that starts at `at` ends, from the message's framing headers. */
function bodyEnd(b: Uint8Array, at: number, headers: Map<string, string>, hasBody: boolean): BodyEnd {
  if (!hasBody) return at;
  const encoding = headers.get('transfer-encoding');
  if (encoding !== undefined && /(^|,)\s*chunked\s*$/i.test(encoding)) return chunkedEnd(b, at);
  const length = headers.get('content-length');
  if (length !== undefined) {
    if (!/^\d{1,15}$/.test(length)) return 'malformed';
    const end = at + Number(length);
    return end <= b.length ? end : 'beyond';
  }
  return 'to_close';
}

function chunkedEnd(b: Uint8Array, at: number): BodyEnd {
  let p = at;
  for (let chunks = 0; chunks < 10_000; chunks++) {
    const lf = lineEnd(b, p);
    if (lf < 0) return 'beyond';
    const sizeText = ascii(b, p, contentEnd(b, p, lf))
      .split(';')[0]!
      .trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return 'malformed';
    const size = Number.parseInt(sizeText, 16);
    p = lf + 1;
    if (size === 0) {
      // Trailer fields, then the blank line.
      const trailer = parseHeaders(b, p);
      return trailer.complete ? trailer.headers.next : 'beyond';
    }
    p += size;
    if (p + 1 > b.length) return 'beyond';
    if (b[p] === 0x0d) p++;
    if (b[p] !== 0x0a) return p >= b.length ? 'beyond' : 'malformed';
    p++;
  }
  return 'malformed';
}

/** A stream that starts with an HTTP request line (complete or not yet). */
export function looksLikeHttpRequest(b: Uint8Array): boolean {
  const line = parseRequestLine(b, 0);
  if (typeof line === 'object') return true;
  if (line === 'invalid') return false;
  // An incomplete line: only a known method counts, so that any short token-and-space is not taken for HTTP.
  const space = b.indexOf(0x20);
  return space > 0 && METHODS.has(ascii(b, 0, space));
}

export function looksLikeHttpResponse(b: Uint8Array): boolean {
  return b.length >= 8 && typeof parseStatusLine(b, 0) === 'object';
}

/** Where each side's bytes after an accepted CONNECT start (the tunnelled protocol, often TLS). */
export interface HttpTunnel {
  client: number;
  server: number;
}

/** `client` is the side whose stream starts with a request (or would), `server` the other. */
export function parseHttp(
  client: DirectionStream,
  server: DirectionStream,
  morePackets: boolean,
  findings: Findings,
): HttpMetadata {
  return parseHttpWithTunnel(client, server, morePackets, findings).http;
}

export function parseHttpWithTunnel(
  client: DirectionStream,
  server: DirectionStream,
  morePackets: boolean,
  findings: Findings,
): { http: HttpMetadata; tunnel?: HttpTunnel } {
  const http: HttpMetadata = { requests: 0, responses: 0 };
  const requests = readRequests(http, client, morePackets, findings);
  const tunnelAt = readResponses(http, server, requests.methods, morePackets, findings);
  if (http.requests > 0 && http.status === undefined && server.bytes.length === 0 && morePackets) {
    findings.needs('http.status');
  }
  if (requests.connectEnd !== undefined && tunnelAt !== undefined) {
    return { http, tunnel: { client: requests.connectEnd, server: tunnelAt } };
  }
  return { http };
}

function readRequests(http: HttpMetadata, stream: DirectionStream, morePackets: boolean, findings: Findings) {
  const b = stream.bytes;
  const methods: string[] = [];
  let connectEnd: number | undefined;
  let at = 0;
  while (at < b.length && methods.length < MAX_MESSAGES) {
    const first = methods.length === 0;
    const line = parseRequestLine(b, at);
    if (line === 'incomplete') {
      if (first) {
        // What a cut line holds is still readable: the method, and the URI when a space ends it.
        const partial = partialRequestLine(b, at);
        if (partial) {
          http.requests++;
          http.method = partial.method;
          if (partial.uri !== undefined) http.uri = partial.uri;
        }
        const missing = ['http.method', 'http.uri'].filter((f) => !(f === 'http.method' ? http.method : http.uri));
        streamEndedEarly(findings, stream, morePackets, [...missing, 'http.host'], 'http.truncated_request');
      }
      break;
    }
    if (line === 'invalid') {
      if (first) findings.problem('http.malformed_request_line');
      break;
    }
    methods.push(line.method);
    http.requests++;
    const { headers, complete, malformed } = parseHeaders(b, line.next);
    if (first) {
      http.method = line.method;
      if (line.uri !== undefined) http.uri = line.uri;
      if (line.version !== undefined) http.version = line.version;
      if (line.malformed) findings.problem('http.malformed_request_line');
      const host = headers.values.get('host');
      const userAgent = headers.values.get('user-agent');
      if (host !== undefined) http.host = host;
      if (userAgent !== undefined) http.userAgent = userAgent;
      if (malformed) findings.problem('http.malformed_header');
    }
    if (line.version === '0.9') break;
    if (!complete) {
      if (first) {
        const missing = ['http.host', 'http.userAgent'].filter(
          (f) => !(f === 'http.host' ? http.host : http.userAgent),
        );
        if (headers.next - line.next >= MAX_HEADER_BYTES) findings.problem('http.too_long_headers');
        else streamEndedEarly(findings, stream, morePackets, missing, 'http.truncated_headers');
      }
      break;
    }
    if (line.method === 'CONNECT') {
      // What follows an accepted CONNECT is the tunnel, not more requests.
      if (first) connectEnd = headers.next;
      break;
    }
    const end = bodyEnd(b, headers.next, headers.values, true);
    if (end === 'to_close') at = headers.next;
    else if (typeof end === 'number') at = end;
    else {
      if (end === 'malformed') findings.problem('http.malformed_body_framing');
      break;
    }
  }
  return { methods, connectEnd };
}

/** Returns where the server's tunnel bytes start when it accepted a CONNECT. */
function readResponses(
  http: HttpMetadata,
  stream: DirectionStream,
  methods: string[],
  morePackets: boolean,
  findings: Findings,
): number | undefined {
  const b = stream.bytes;
  let at = 0;
  let answered = 0;
  while (at < b.length && http.responses < MAX_MESSAGES) {
    const first = http.responses === 0;
    const line = parseStatusLine(b, at);
    if (line === 'incomplete') {
      if (first) streamEndedEarly(findings, stream, morePackets, ['http.status'], 'http.truncated_response');
      return undefined;
    }
    if (line === 'invalid') {
      // HTTP/0.9 responses have no status line; anything else in reply to a request is malformed.
      if (first && methods.length > 0 && http.version !== '0.9') findings.problem('http.malformed_status_line');
      return undefined;
    }
    http.responses++;
    if (first) http.status = line.status;
    const { headers, complete } = parseHeaders(b, line.next);
    if (!complete) return undefined;
    const interim = line.status >= 100 && line.status < 200;
    const method = interim ? undefined : methods[answered];
    if (method === 'CONNECT') return line.status >= 200 && line.status < 300 ? headers.next : undefined;
    if (!interim) answered++;
    const hasBody = !interim && line.status !== 204 && line.status !== 304 && method !== 'HEAD';
    const end = bodyEnd(b, headers.next, headers.values, hasBody);
    if (typeof end !== 'number') {
      if (end === 'malformed') findings.problem('http.malformed_body_framing');
      return undefined;
    }
    at = end;
  }
  return undefined;
}
