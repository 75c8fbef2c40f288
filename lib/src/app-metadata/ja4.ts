// JA4, FoxIO's TLS client fingerprint, from a parsed ClientHello, as its public specification defines it
// (technical_details/JA4.md of FoxIO-LLC/ja4): "t13d1516h2_8daaf6152771_b186095e22b6" =
//   a: protocol (t TCP, q QUIC, d DTLS), version, d/i (SNI present or not), cipher count, extension count, ALPN chars
//   b: sha256 of the sorted cipher list, 12 hex digits
//   c: sha256 of the sorted extension list without SNI and ALPN, "_", the signature algorithms in wire order
// GREASE values are ignored everywhere.
import { hex4, sha256Hex } from './bytes.ts';
import type { ClientHello } from './tls.ts';

const EMPTY_HASH = '000000000000';

/** GREASE values (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);
}

/** The highest non-GREASE version a client offers. */
export function clientMaxVersion(hello: ClientHello): number {
  const offered = (hello.supportedVersions ?? []).filter((v) => !isGrease(v));
  return offered.length > 0 ? Math.max(...offered) : hello.version;
}

function versionCode(version: number): string {
  switch (version) {
    case 0x0304:
      return '13';
    case 0x0303:
      return '12';
    case 0x0302:
      return '11';
    case 0x0301:
      return '10';
    case 0x0300:
      return 's3';
    case 0x0002:
      return 's2';
    case 0xfeff:
      return 'd1';
    case 0xfefd:
      return 'd2';
    case 0xfefc:
      return 'd3';
    default:
      return '00';
  }
}

function count(n: number): string {
  return String(Math.min(n, 99)).padStart(2, '0');
}

function isAlphanumeric(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

/** First and last character of the first ALPN value; its hex form's when either byte is not alphanumeric. */
function alpnCode(first: Uint8Array | undefined): string {
  if (!first || first.length === 0) return '00';
  const a = first[0]!;
  const z = first[first.length - 1]!;
  if (isAlphanumeric(a) && isAlphanumeric(z)) return String.fromCharCode(a, z);
  return a.toString(16).padStart(2, '0')[0]! + z.toString(16).padStart(2, '0')[1]!;
}

function truncatedHash(list: string): string {
  return sha256Hex(list).slice(0, 12);
}

/** The raw parts JA4 hashes (JA4_r without its "a" part), exported for tests against published vectors. */
export function ja4Lists(hello: ClientHello): { ciphers: string; extensions: string; signatureAlgorithms: string } {
  const ciphers = hello.ciphers.filter((c) => !isGrease(c)).map(hex4);
  const extensions = hello.extensions.filter((e) => !isGrease(e) && e !== 0x0000 && e !== 0x0010).map(hex4);
  const signatureAlgorithms = hello.signatureAlgorithms.filter((s) => !isGrease(s)).map(hex4);
  return {
    ciphers: ciphers.sort().join(','),
    extensions: extensions.sort().join(','),
    signatureAlgorithms: signatureAlgorithms.join(','),
  };
}

export function ja4Fingerprint(hello: ClientHello, transport: 't' | 'q' | 'd'): string {
  const cipherCount = hello.ciphers.filter((c) => !isGrease(c)).length;
  const extensionCount = hello.extensions.filter((e) => !isGrease(e)).length;
  const sni = hello.extensions.includes(0x0000) ? 'd' : 'i';
  const a =
    transport +
    versionCode(clientMaxVersion(hello)) +
    sni +
    count(cipherCount) +
    count(extensionCount) +
    alpnCode(hello.firstAlpn);
  const lists = ja4Lists(hello);
  const b = lists.ciphers === '' ? EMPTY_HASH : truncatedHash(lists.ciphers);
  const c =
    lists.extensions === ''
      ? EMPTY_HASH
      : truncatedHash(
          lists.signatureAlgorithms === '' ? lists.extensions : `${lists.extensions}_${lists.signatureAlgorithms}`,
        );
  return `${a}_${b}_${c}`;
}
