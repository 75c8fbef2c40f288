// SSH: each side's identification string ("SSH-2.0-OpenSSH_9.6") and its first KEXINIT, from which Salesforce's
// HASSH (client: kex;enc c→s;mac c→s;compression c→s) and HASSHServer (the s→c lists) are the MD5 hex digests.
import { ascii, indexOfLf, md5Hex, startsWith, u32 } from './bytes.ts';
import { streamEndedEarly } from './short-stream.ts';
import type { DirectionStream } from './tcp-stream.ts';
import type { Findings, SshMetadata } from './types.ts';

/** RFC 4253 4.2: the identification line is at most 255 bytes; servers may send other lines before it. */
const MAX_IDENTIFICATION = 255;
const MAX_LINES_BEFORE = 32;
const MAX_BYTES_BEFORE = 8192;
/** RFC 4253 6.1 requires 35000 to be accepted; more than 256 KiB is not a real packet. */
const MAX_PACKET_LENGTH = 256 * 1024;
/** KEXINIT comes first; tolerate a few packets before it (an ignore, a debug message). */
const MAX_PACKETS_BEFORE_KEXINIT = 4;
const SSH_MSG_KEXINIT = 20;
const NAME_LISTS = 10;

const LF_SSH = Buffer.from('\nSSH-', 'latin1');

type Identification = { text: string; next: number } | 'incomplete' | 'malformed' | 'absent';

function isVersionLine(b: Uint8Array, at: number): boolean {
  // "SSH-" protoversion "-": protoversion is digits and dots.
  if (!startsWith(b, 'SSH-', at)) return false;
  let p = at + 4;
  if (p >= b.length) return true;
  if (b[p]! < 0x30 || b[p]! > 0x39) return false;
  while (p < b.length && ((b[p]! >= 0x30 && b[p]! <= 0x39) || b[p] === 0x2e)) p++;
  return p >= b.length || b[p] === 0x2d;
}

/** The identification line of a side's stream, after the other lines a server may send before it. */
function identification(b: Uint8Array, linesBefore: boolean): Identification {
  let at = 0;
  for (let lines = 0; lines <= (linesBefore ? MAX_LINES_BEFORE : 0) && at <= MAX_BYTES_BEFORE; lines++) {
    if (at >= b.length) return lines === 0 ? 'absent' : 'incomplete';
    if (b.length - at < 4 && 'SSH-'.startsWith(ascii(b, at, b.length))) return 'incomplete';
    const lf = indexOfLf(b, at, Math.min(b.length, at + MAX_BYTES_BEFORE));
    if (isVersionLine(b, at)) {
      if (lf < 0) return b.length - at > MAX_IDENTIFICATION * 4 ? 'malformed' : 'incomplete';
      const end = lf > at && b[lf - 1] === 0x0d ? lf - 1 : lf;
      if (end - at > MAX_IDENTIFICATION * 4) return 'malformed';
      return { text: ascii(b, at, end), next: lf + 1 };
    }
    // Lines before the identification are text; binary data is some other protocol.
    for (let i = at; i < (lf < 0 ? b.length : lf); i++) if (b[i]! < 0x09) return 'absent';
    if (lf < 0) return lines === 0 ? 'absent' : 'incomplete';
    at = lf + 1;
  }
  return 'absent';
}

/** A stream that starts with an SSH identification line (or, for a server, has one within its first lines). */
export function looksLikeSsh(b: Uint8Array, linesBefore: boolean): boolean {
  // Every stream of a TCP session is asked this first: an identification line starts with "SSH-" at the stream's
  // start or (a server) right after a line end within MAX_BYTES_BEFORE, so a stream without those bytes is answered
  // by one native search instead of a walk of its lines.
  if (!startsWith(b, 'SSH-', 0)) {
    if (!linesBefore) return false;
    const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, MAX_BYTES_BEFORE + 5));
    if (head.indexOf(LF_SSH) < 0) return false;
  }
  const id = identification(b, linesBefore);
  return typeof id === 'object' || (id === 'incomplete' && isVersionLine(b, 0) && b.length >= 8);
}

interface KexInit {
  lists: string[];
}

type KexResult = KexInit | 'incomplete' | 'malformed' | 'absent';

/** The first SSH_MSG_KEXINIT among the binary packets from `at`. */
function kexInit(b: Uint8Array, at: number): KexResult {
  let p = at;
  for (let packets = 0; packets <= MAX_PACKETS_BEFORE_KEXINIT; packets++) {
    if (p + 6 > b.length) return 'incomplete';
    const length = u32(b, p);
    const padding = b[p + 4]!;
    if (length < 5 || length > MAX_PACKET_LENGTH || padding >= length) return 'malformed';
    if (p + 4 + length > b.length) return b[p + 5] === SSH_MSG_KEXINIT || packets === 0 ? 'incomplete' : 'absent';
    const payloadEnd = p + 4 + length - padding;
    if (b[p + 5] === SSH_MSG_KEXINIT) return nameLists(b, p + 6, payloadEnd);
    p += 4 + length;
  }
  return 'absent';
}

function nameLists(b: Uint8Array, at: number, end: number): KexInit | 'malformed' {
  let p = at + 16; // cookie
  const lists: string[] = [];
  for (let i = 0; i < NAME_LISTS; i++) {
    if (p + 4 > end) return 'malformed';
    const length = u32(b, p);
    if (p + 4 + length > end) return 'malformed';
    lists.push(ascii(b, p + 4, p + 4 + length));
    p += 4 + length;
  }
  return { lists };
}

/** Reads one side; `client` picks the c→s lists for the fingerprint. */
function readSide(
  stream: DirectionStream,
  client: boolean,
  ssh: SshMetadata,
  morePackets: boolean,
  findings: Findings,
): void {
  const role = client ? 'client' : 'server';
  const id = identification(stream.bytes, !client);
  if (id === 'absent') {
    if (stream.bytes.length === 0 && stream.ends === 'end' && morePackets) findings.needs(`ssh.${role}`);
    return;
  }
  if (id === 'malformed') {
    findings.problem('ssh.malformed_identification');
    return;
  }
  if (id === 'incomplete') {
    streamEndedEarly(findings, stream, morePackets, [`ssh.${role}`], 'ssh.truncated_identification');
    return;
  }
  ssh[role] = id.text;
  // SSH 1 has no KEXINIT ("SSH-1.99" is a server that speaks both, and speaks 1 to a client that chose it).
  if (isSsh1(id.text) || (!client && ssh.client !== undefined && isSsh1(ssh.client))) return;
  const kex = kexInit(stream.bytes, id.next);
  const field = client ? 'ssh.hassh' : 'ssh.hasshServer';
  if (kex === 'absent') return;
  if (kex === 'malformed') {
    findings.problem('ssh.malformed_kexinit');
    return;
  }
  if (kex === 'incomplete') {
    // A side that sent its line and nothing more before the stored packets end: the KEXINIT is in a later packet.
    if (stream.bytes.length === id.next && stream.ends === 'end' && !morePackets) return;
    streamEndedEarly(findings, stream, morePackets, [field], 'ssh.truncated_kexinit');
    return;
  }
  const l = kex.lists;
  const algorithms = client ? [l[0], l[2], l[4], l[6]].join(';') : [l[0], l[3], l[5], l[7]].join(';');
  if (client) {
    ssh.hasshAlgorithms = algorithms;
    ssh.hassh = md5Hex(algorithms);
  } else {
    ssh.hasshServerAlgorithms = algorithms;
    ssh.hasshServer = md5Hex(algorithms);
  }
}

function isSsh1(identificationText: string): boolean {
  return identificationText.startsWith('SSH-1.') && !identificationText.startsWith('SSH-1.99');
}

export function parseSsh(
  client: DirectionStream,
  server: DirectionStream,
  morePackets: boolean,
  findings: Findings,
): SshMetadata {
  const ssh: SshMetadata = {};
  readSide(client, true, ssh, morePackets, findings);
  readSide(server, false, ssh, morePackets, findings);
  return ssh;
}
