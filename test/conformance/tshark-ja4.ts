// JA4 from tshark's dissection of a ClientHello frame, written apart from lib's so that the test checks lib's
// parsing (tshark reads the ClientHello) and lib's hashing (a second implementation of the public algorithm).
import { createHash } from 'node:crypto';
import type { TsharkFrame } from './tshark-app-fields.ts';

const isGrease = (v: number) => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
const hex = (v: number) => v.toString(16).padStart(4, '0');
const hash12 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
const VERSIONS: Record<number, string> = {
  772: '13',
  771: '12',
  770: '11',
  769: '10',
  768: 's3',
  2: 's2',
};

/** Extensions whose signature scheme lists tshark writes as tls.handshake.sig_hash_alg, one length each. */
const SIGNATURE_LIST_EXTENSIONS = new Set([13, 34, 50]);

/**
 * tshark puts the lists of signature_algorithms (13), delegated_credentials (34) and signature_algorithms_cert (50)
 * in one field; their lengths, in the extensions' wire order, tell which values are signature_algorithms'.
 */
function signatureAlgorithms(frame: TsharkFrame): number[] {
  const all = (frame['tls.handshake.sig_hash_alg'] ?? []).map(Number);
  const lengths = (frame['tls.handshake.sig_hash_alg_len'] ?? []).map(Number);
  const owners = (frame['tls.handshake.extension.type'] ?? [])
    .map(Number)
    .filter((t) => SIGNATURE_LIST_EXTENSIONS.has(t));
  let at = 0;
  for (const [i, owner] of owners.entries()) {
    const count = (lengths[i] ?? 0) / 2;
    if (owner === 13) return all.slice(at, at + count);
    at += count;
  }
  return [];
}

/** undefined when the frame holds more than one handshake message (its lists would mix messages). */
export function ja4FromTsharkFrame(frame: TsharkFrame): string | undefined {
  if (frame['tls.handshake.type']?.length !== 1) return undefined;
  // An SSLv2-format hello (record version 0x0002) has no JA4: the specification defines none for it.
  if (frame['tls.record.version']?.[0] === '0x0002') return undefined;
  const numbers = (values: string[] | undefined) => (values ?? []).map((v) => Number(v)).filter((v) => !isGrease(v));
  const ciphers = numbers(frame['tls.handshake.ciphersuite']);
  const extensions = numbers(frame['tls.handshake.extension.type']);
  const signatures = signatureAlgorithms(frame).filter((v) => !isGrease(v));
  const supported = numbers(frame['tls.handshake.extensions.supported_version']);
  const legacy = Number(frame['tls.handshake.version']?.[0]);
  const version = VERSIONS[supported.length > 0 ? Math.max(...supported) : legacy] ?? '00';
  const alpn = frame['tls.handshake.extensions_alpn_str']?.[0] ?? '';
  const alnum = (c: string) => /^[0-9A-Za-z]$/.test(c);
  let alpnCode = '00';
  if (alpn.length > 0) {
    const a = alpn[0]!;
    const z = alpn[alpn.length - 1]!;
    alpnCode =
      alnum(a) && alnum(z)
        ? a + z
        : Buffer.from(alpn, 'latin1')
            .toString('hex')
            .replace(/^(.).*(.)$/, '$1$2');
  }
  const count = (n: number) => String(Math.min(n, 99)).padStart(2, '0');
  const a = `t${version}${extensions.includes(0) ? 'd' : 'i'}${count(ciphers.length)}${count(extensions.length)}${alpnCode}`;
  const sortedCiphers = ciphers.map(hex).sort().join(',');
  const sortedExtensions = extensions
    .filter((e) => e !== 0 && e !== 0x10)
    .map(hex)
    .sort()
    .join(',');
  const b = sortedCiphers === '' ? '000000000000' : hash12(sortedCiphers);
  const sigs = signatures.map(hex).join(',');
  const c =
    sortedExtensions === '' ? '000000000000' : hash12(sigs === '' ? sortedExtensions : `${sortedExtensions}_${sigs}`);
  return `${a}_${b}_${c}`;
}
