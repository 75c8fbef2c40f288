// What the application-metadata parsers read (the stored packets of one session) and what they give back.
// Parsers never throw on what the wire carried: a field they cannot read stays absent and a reason code says why,
// so that callers can count reasons (`tls.truncated_client_hello`, `dns.compression_loop`, …).

/** Direction relative to the session's initiator (the sender of its first packet), as the sessionizer gives it. */
export const FROM_INITIATOR = 0;
export const TO_INITIATOR = 1;

export interface AppPacket {
  direction: 0 | 1;
  /** TCP flags byte; 0 for UDP. */
  tcpFlags: number;
  /** TCP sequence number; absent when unknown (segments are then taken in arrival order). */
  tcpSeq?: number;
  /** The captured transport payload; shorter than payloadLength when the capture cut it. */
  payload: Uint8Array;
  /** Payload length on the wire. */
  payloadLength: number;
}

export interface AppSession {
  proto: 'tcp' | 'udp';
  /** Ports of the initiator and of the other end. */
  initiatorPort: number;
  responderPort: number;
  /** The stored packets, in arrival order. */
  packets: readonly AppPacket[];
  /** The session had packets beyond the stored ones (the store keeps only the first few). */
  morePackets: boolean;
}

/** Zeek's conn.log names for the protocols recognised from the payload. */
export type Service =
  | 'http'
  | 'ssl'
  | 'dns'
  | 'ssh'
  | 'smtp'
  | 'ftp'
  | 'pop3'
  | 'imap'
  | 'mysql'
  | 'postgresql'
  | 'redis';

export interface HttpMetadata {
  method?: string;
  uri?: string;
  /** HTTP version of the first request, e.g. "1.1"; "0.9" for a request line without one. */
  version?: string;
  host?: string;
  userAgent?: string;
  /** Status code of the first response. */
  status?: number;
  /** Requests and responses found in the stored packets (a body that runs past them ends the count). */
  requests: number;
  responses: number;
}

export interface TlsMetadata {
  /** Record-layer version of the first ClientHello record, in Zeek's names (TLSv10, TLSv12, SSLv2, …). */
  recordVersion?: string;
  /** The ClientHello's legacy_version. */
  clientVersion?: string;
  /** The highest version the client offers (supported_versions when present, else clientVersion). */
  clientMaxVersion?: string;
  sni?: string;
  alpn?: string[];
  ja4?: string;
  /** The version the server chose (its supported_versions extension, else the ServerHello's version). */
  serverVersion?: string;
  /** The cipher suite the server chose, 4 hex digits. */
  serverCipher?: string;
}

export interface DnsMetadata {
  /** The first question's name, dotted, without the root's trailing dot ("." for the root itself). */
  queryName?: string;
  queryType?: number;
  queryClass?: number;
  /** From the first response (to the first query's id when there is one). */
  rcode?: number;
  answers?: number;
  queries: number;
  responses: number;
}

export interface SshMetadata {
  /** Identification strings ("SSH-2.0-OpenSSH_9.6"), without the line end. */
  client?: string;
  server?: string;
  /** MD5 of the client's KEXINIT algorithm lists (Salesforce's HASSH) and the lists themselves. */
  hassh?: string;
  hasshAlgorithms?: string;
  hasshServer?: string;
  hasshServerAlgorithms?: string;
}

export interface AppMetadata {
  /** Zeek's conn.log `service`: the protocols recognised, in order, comma-joined ("http", "http,ssl", "pop3,ssl"). */
  service?: string;
  http?: HttpMetadata;
  tls?: TlsMetadata;
  dns?: DnsMetadata;
  ssh?: SshMetadata;
  /** Reason codes for data that could not be read (malformed, truncated, inconsistent). */
  problems: string[];
  /** Fields that the stored packets do not reach and a later packet of the session would give, e.g. "http.status". */
  needsMorePackets: string[];
}

/** Where a parser writes problems; bounded, so that a hostile session cannot grow the record. */
export class Findings {
  static readonly MAX = 16;
  readonly problems: string[] = [];
  readonly needsMorePackets: string[] = [];

  problem(code: string): void {
    if (this.problems.length < Findings.MAX && !this.problems.includes(code)) this.problems.push(code);
  }

  needs(field: string): void {
    if (this.needsMorePackets.length < Findings.MAX && !this.needsMorePackets.includes(field)) {
      this.needsMorePackets.push(field);
    }
  }
}
