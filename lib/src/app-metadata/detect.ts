// Application metadata of one session from its stored packets: recognises the protocol from the payload, never
// the port (Zeek's `service`: HTTP on port 8008 is http, SSH on 2022 is ssh), and hands each side's reassembled
// stream to that protocol's parser. Ports only name the protocol a session was expected to speak when nothing was
// recognised, so that "binary bytes on port 80" is a counted reason, and let a UDP datagram on a DNS port that has a
// DNS header but does not parse be DNS with the reason (as Zeek's port-bound DNS analyzer reports it).
//
// Everything comes from the stored packets (the first SESSION_MAX_PACKETS of a session): a field that a later
// packet would give is listed in `needsMorePackets` instead of being guessed.
import { bannerService, databaseTlsStart } from './banners.ts';
import { looksLikeDns, looksLikeDnsHeader, looksLikeTcpDns, parseDnsMessages, parseTcpDns } from './dns.ts';
import { looksLikeHttpRequest, looksLikeHttpResponse, parseHttpWithTunnel } from './http.ts';
import { looksLikeSsh, parseSsh } from './ssh.ts';
import { clientDirection, type DirectionStream, MAX_STREAM_BYTES, reassemble } from './tcp-stream.ts';
import { looksLikeTls, parseTls } from './tls.ts';
import { type AppMetadata, type AppSession, Findings, type Service } from './types.ts';

/** The protocol a well-known server port suggests, for the reason code when the payload is something else. */
const EXPECTED_BY_PORT: ReadonlyMap<number, Service> = new Map([
  [80, 'http'],
  [8080, 'http'],
  [443, 'ssl'],
  [8443, 'ssl'],
  [22, 'ssh'],
  [53, 'dns'],
  [5353, 'dns'],
  [5355, 'dns'],
  [25, 'smtp'],
  [587, 'smtp'],
  [21, 'ftp'],
  [110, 'pop3'],
  [143, 'imap'],
  [3306, 'mysql'],
  [5432, 'postgresql'],
  [6379, 'redis'],
]);

export function appMetadataOf(session: AppSession): AppMetadata {
  const findings = new Findings();
  const metadata: AppMetadata = { problems: [], needsMorePackets: [] };
  try {
    if (session.proto === 'tcp') readTcp(session, metadata, findings);
    else readUdp(session, metadata, findings);
    if (metadata.service === undefined) explainUnrecognised(session, findings);
  } catch {
    // The parsers bound every read; this keeps one session's surprise from stopping a whole file or worker batch.
    findings.problem('internal.parser_error');
  }
  // The service first, the reasons last: the order a reader of the JSON wants. Assigned one by one, not spread:
  // five object spreads per session cost more than some of the parsers.
  const { service, http, tls, dns, ssh } = metadata;
  const ordered = {} as AppMetadata;
  if (service !== undefined) ordered.service = service;
  if (http) ordered.http = http;
  if (tls) ordered.tls = tls;
  if (dns) ordered.dns = dns;
  if (ssh) ordered.ssh = ssh;
  ordered.problems = findings.problems;
  ordered.needsMorePackets = findings.needsMorePackets;
  return ordered;
}

/**
 * Where each session's two streams are reassembled: no parser keeps stream bytes in what it returns, and
 * appMetadataOf never runs twice at once (it is synchronous), so one pair serves every session.
 */
const CLIENT_STREAM = new Uint8Array(MAX_STREAM_BYTES);
const SERVER_STREAM = new Uint8Array(MAX_STREAM_BYTES);

function readTcp(session: AppSession, metadata: AppMetadata, findings: Findings): void {
  const clientSide = clientDirection(session);
  const serverSide = clientSide === 0 ? 1 : 0;
  const a = reassemble(session.packets, clientSide, MAX_STREAM_BYTES, CLIENT_STREAM);
  const b = reassemble(session.packets, serverSide, MAX_STREAM_BYTES, SERVER_STREAM);
  for (const stream of [a, b]) if (stream.inconsistentOverlap) findings.problem('tcp.inconsistent_retransmission');
  const more = session.morePackets;
  // Zeek lists every protocol it recognised in a connection, in order ("http,ssl" for TLS through a proxy).
  const services: Service[] = [];
  // Roles come from the content where it tells them (a capture that missed the SYN may have them backwards).
  const recognised = recognise(a, b);
  if (recognised) {
    const { client, server } = recognised;
    services.push(recognised.service);
    if (recognised.service === 'ssl') metadata.tls = parseTls(client, server, more, findings);
    else if (recognised.service === 'ssh') metadata.ssh = parseSsh(client, server, more, findings);
    else if (recognised.service === 'dns') metadata.dns = parseTcpDns(client, server, more, findings);
    else {
      const { http, tunnel } = parseHttpWithTunnel(client, server, more, findings);
      metadata.http = http;
      // An accepted CONNECT: what goes through the proxy is read as if it were the session's own.
      if (tunnel) {
        const innerClient = after(client, tunnel.client);
        const innerServer = after(server, tunnel.server);
        if (looksLikeTls(innerClient.bytes, 1)) {
          services.push('ssl');
          metadata.tls = parseTls(innerClient, innerServer, more, findings);
        } else {
          const inner = bannerService({
            client: innerClient.bytes,
            server: innerServer.bytes,
            serverFirst: innerServer.bytes.length > 0,
          });
          if (inner) services.push(inner);
        }
      }
    }
  } else {
    const serverFirst = session.packets.find((p) => p.payloadLength > 0)?.direction === serverSide;
    const openings = { client: a.bytes, server: b.bytes, serverFirst };
    const service = bannerService(openings);
    if (service) services.push(service);
    const database = service && databaseTlsStart(service, openings);
    if (database && looksLikeTls(a.bytes.subarray(database.client), 1)) {
      metadata.tls = parseTls(
        after(a, database.client),
        after(b, Math.min(database.server, b.bytes.length)),
        more,
        findings,
      );
      services.push('ssl');
    }
    // STARTTLS (SMTP, IMAP, POP3, FTP, XMPP, IRC, …): a text negotiation, then a ClientHello.
    const clientHelloAt = metadata.tls ? -1 : tlsAfterText(a.bytes, 1);
    if (clientHelloAt >= 0) {
      const serverHelloAt = tlsAfterText(b.bytes, 2);
      const server = serverHelloAt >= 0 ? after(b, serverHelloAt) : after(b, b.bytes.length);
      metadata.tls = parseTls(after(a, clientHelloAt), server, more, findings);
      services.push('ssl');
    }
  }
  if (services.length > 0) metadata.service = services.join(',');
}

function after(stream: DirectionStream, at: number): DirectionStream {
  return { ...stream, bytes: stream.bytes.subarray(at) };
}

/** How far into a text stream TLS starts: a handshake record right after a line end or an XML tag, else -1. */
const MAX_TEXT_BEFORE_TLS = 16 * 1024;
function tlsAfterText(b: Uint8Array, handshakeType: number): number {
  const end = Math.min(b.length, MAX_TEXT_BEFORE_TLS);
  for (let i = 1; i < end; i++) {
    const c = b[i - 1]!;
    // Text only: a control byte other than tab and line ends means this is not a negotiation in text.
    if (c < 0x09 || (c > 0x0d && c < 0x20)) return -1;
    if (b[i] === 0x16 && (c === 0x0a || c === 0x3e) && looksLikeTls(b.subarray(i), handshakeType)) return i;
  }
  return -1;
}

interface Recognised {
  service: 'ssl' | 'ssh' | 'http' | 'dns';
  client: DirectionStream;
  server: DirectionStream;
}

/** The protocol of the parsers with fields, and which stream is the client's. */
function recognise(a: DirectionStream, b: DirectionStream): Recognised | undefined {
  const as = a.bytes;
  const bs = b.bytes;
  if (looksLikeTls(as, 1)) return { service: 'ssl', client: a, server: b };
  if (looksLikeTls(bs, 1)) return { service: 'ssl', client: b, server: a };
  if (looksLikeTls(bs, 2)) return { service: 'ssl', client: a, server: b };
  if (looksLikeSsh(as, false) || looksLikeSsh(bs, true)) return { service: 'ssh', client: a, server: b };
  if (looksLikeHttpRequest(as)) return { service: 'http', client: a, server: b };
  if (looksLikeHttpRequest(bs)) return { service: 'http', client: b, server: a };
  if (looksLikeHttpResponse(bs)) return { service: 'http', client: a, server: b };
  if (looksLikeHttpResponse(as)) return { service: 'http', client: b, server: a };
  if (looksLikeTcpDns(as) || looksLikeTcpDns(bs)) return { service: 'dns', client: a, server: b };
  return undefined;
}

/** Whether a UDP session's port pair is one where DNS is expected (then a DNS header alone is enough). */
export function isDnsPortPair(responderPort: number, initiatorPort: number): boolean {
  return EXPECTED_BY_PORT.get(responderPort) === 'dns' || EXPECTED_BY_PORT.get(initiatorPort) === 'dns';
}

/**
 * The rule that makes a UDP session DNS, applied to each of its first two datagrams with payload: the whole message
 * parses as DNS, or (on a DNS port) it starts with a DNS header. The offline collector applies it as datagrams
 * arrive (from-session.ts), so that a session found not to be DNS keeps no more payload.
 */
export function isDnsDatagram(payload: Uint8Array, dnsPort: boolean): boolean {
  return looksLikeDns(payload) || (dnsPort && looksLikeDnsHeader(payload));
}

/** How many datagrams with payload decide whether a UDP session is DNS. */
export const UDP_DATAGRAMS_DECIDING = 2;

function readUdp(session: AppSession, metadata: AppMetadata, findings: Findings): void {
  // Decided from the first two datagrams with payload, before any list is made: most UDP sessions are not DNS.
  const packets = session.packets;
  // On a DNS port a message that starts like DNS but does not parse is still DNS, with the reason counted.
  let dnsPort: boolean | undefined;
  let looked = 0;
  let dns = false;
  for (let i = 0; i < packets.length && looked < UDP_DATAGRAMS_DECIDING && !dns; i++) {
    const m = packets[i]!.payload;
    if (m.length === 0) continue;
    looked++;
    dnsPort ??= isDnsPortPair(session.responderPort, session.initiatorPort);
    dns = isDnsDatagram(m, dnsPort);
  }
  if (!dns) return;
  const messages: Uint8Array[] = [];
  for (const p of packets) if (p.payload.length > 0) messages.push(p.payload);
  metadata.service = 'dns';
  metadata.dns = parseDnsMessages(messages, findings);
  if (metadata.dns.rcode === undefined && metadata.dns.queries > 0 && session.morePackets) findings.needs('dns.rcode');
}

/**
 * The problem code appMetadataOf reports for a session with payload in which it recognised nothing: the protocol
 * its ports suggest, if any ("binary bytes on port 80" is `http.unrecognised_payload`).
 */
export function unrecognisedPayloadProblem(responderPort: number, initiatorPort: number): string | undefined {
  const expected = EXPECTED_BY_PORT.get(responderPort) ?? EXPECTED_BY_PORT.get(initiatorPort);
  return expected ? `${expected}.unrecognised_payload` : undefined;
}

function explainUnrecognised(session: AppSession, findings: Findings): void {
  const hasPayload = session.packets.some((p) => p.payloadLength > 0);
  if (!hasPayload) {
    if (session.morePackets) findings.needs('service');
    return;
  }
  const problem = unrecognisedPayloadProblem(session.responderPort, session.initiatorPort);
  if (problem) findings.problem(problem);
}
