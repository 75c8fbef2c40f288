// The large capture of the sessionize bench, built from the shared captures: every Ethernet packet of the source
// files, file after file, in copies until the target packet count is reached. Each file is shifted in time to start
// 1 s after the previous one ended, gaps within a file kept up to an hour (one capture of plausible time rather
// than decades of jumps), and each
// copy after the first has its IP addresses changed (the second byte of IPv4, the sixth of IPv6, XOR the copy
// number, checksums updated), so that a copy adds sessions of its own instead of packets to the first copy's
// sessions: the per-session costs (Community ID, metadata) grow with the capture as in real traffic.
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DecodedPacket, decodePacket, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '@fleetcap/lib/packet/decode';
import { PcapFormatError } from '@fleetcap/lib/pcap/errors';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { encodePcapFileHeader } from '@fleetcap/lib/pcap/writer';

const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 262144;
const MAX_GAP_US = 3600e6;
const CAPTURE_NAME = /\.(pcap|pcapng|cap|trace|dump)$/i;

export interface BuiltCapture {
  path: string;
  packets: number;
  copies: number;
  sourceFiles: number;
}

/** Every capture file under `dir`, sorted (a stable capture from one corpus). */
export function captureFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (CAPTURE_NAME.test(name)) out.push(path);
    }
  };
  walk(dir);
  return out;
}

interface SourcePacket {
  tsUs: number;
  origLen: number;
  data: Buffer;
}

/** The Ethernet packets of `file` (records up to a format error count; other link types are left out). */
function ethernetPackets(file: string): SourcePacket[] {
  const out: SourcePacket[] = [];
  try {
    for (const p of readCaptureBuffer(readFileSync(file))) {
      if (p.linktype !== LINKTYPE_ETHERNET || p.caplen > SNAPLEN) continue;
      out.push({ tsUs: p.tsSec * 1e6 + Math.floor(p.tsNsec / 1000), origLen: p.origLen, data: Buffer.from(p.data) });
    }
  } catch (error) {
    if (!(error instanceof PcapFormatError)) throw error;
  }
  return out;
}

/** One's complement sum update for a 16-bit word changed from `before` to `after` (RFC 1624 eqn. 3). */
function updateChecksum(bytes: Uint8Array, at: number, before: number, after: number): void {
  const old = (bytes[at]! << 8) | bytes[at + 1]!;
  let sum = (~old & 0xffff) + (~before & 0xffff) + after;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const next = ~sum & 0xffff;
  bytes[at] = next >> 8;
  bytes[at + 1] = next & 0xff;
}

/** XORs one byte of each address with `copy` and fixes the IPv4 header and TCP/UDP/ICMPv6 checksums. */
function renumber(data: Buffer, copy: number, decoded: DecodedPacket): void {
  const skip = decodePacket(LINKTYPE_ETHERNET, data, decoded, data.length);
  if (skip !== null && skip !== 'other-l4') return;
  const v4 = decoded.ipVersion === 4;
  const byteInAddress = v4 ? 1 : 5;
  const words: Array<[number, number]> = [];
  for (const at of [decoded.srcAt, decoded.dstAt]) {
    const word = at + byteInAddress - 1;
    const before = (data[word]! << 8) | data[word + 1]!;
    data[word + 1] = data[word + 1]! ^ copy;
    words.push([before, (data[word]! << 8) | data[word + 1]!]);
  }
  if (v4) for (const [before, after] of words) updateChecksum(data, decoded.ipOffset + 10, before, after);
  const t = decoded.transportAt;
  const protocol = decoded.ipProtocol;
  const checksumAt =
    protocol === IPPROTO_TCP ? t + 16 : protocol === IPPROTO_UDP ? t + 6 : protocol === IPPROTO_ICMPV6 ? t + 2 : -1;
  if (checksumAt < 0 || checksumAt + 2 > data.length) return;
  if (protocol === IPPROTO_UDP && v4 && data[checksumAt] === 0 && data[checksumAt + 1] === 0) return;
  for (const [before, after] of words) updateChecksum(data, checksumAt, before, after);
}

/**
 * Writes the capture to `path` (classic pcap, Ethernet, microseconds) from the capture files `sources`, in copies
 * until `targetPackets` packets (at most 255 copies); without a target, one copy of every Ethernet packet.
 */
export function buildLargeCapture(
  sources: string[],
  path: string,
  targetPackets = Number.POSITIVE_INFINITY,
): BuiltCapture {
  const files = sources.map(ethernetPackets).filter((packets) => packets.length > 0);
  const perCopy = files.reduce((n, f) => n + f.length, 0);
  if (perCopy === 0) throw new Error('no Ethernet packets in the source captures');
  const copies = Number.isFinite(targetPackets) ? Math.min(255, Math.max(1, Math.ceil(targetPackets / perCopy))) : 1;
  const fd = openSync(path, 'w');
  const decoded = new DecodedPacket();
  let written = 0;
  try {
    writeSync(fd, encodePcapFileHeader({ linktype: LINKTYPE_ETHERNET, snaplen: SNAPLEN }));
    let cursorUs = 1_600_000_000 * 1e6;
    const out = Buffer.allocUnsafe(8 << 20);
    let used = 0;
    const flush = () => {
      writeSync(fd, out, 0, used);
      used = 0;
    };
    for (let copy = 0; copy < copies && written < targetPackets; copy++) {
      for (const packets of files) {
        let previousSourceUs = packets[0]!.tsUs;
        let tsUs = cursorUs;
        let lastUs = cursorUs;
        for (const p of packets) {
          if (written >= targetPackets) break;
          const data = copy === 0 ? p.data : Buffer.from(p.data);
          if (copy > 0) renumber(data, copy, decoded);
          // Gaps within a file are kept up to an hour (a few traces jump years).
          tsUs += Math.max(-MAX_GAP_US, Math.min(MAX_GAP_US, p.tsUs - previousSourceUs));
          previousSourceUs = p.tsUs;
          lastUs = Math.max(lastUs, tsUs);
          if (used + 16 + data.length > out.length) flush();
          out.writeUInt32LE(Math.floor(tsUs / 1e6), used);
          out.writeUInt32LE(tsUs % 1e6, used + 4);
          out.writeUInt32LE(data.length, used + 8);
          out.writeUInt32LE(p.origLen, used + 12);
          data.copy(out, used + 16);
          used += 16 + data.length;
          written++;
        }
        cursorUs = lastUs + 1e6;
      }
    }
    flush();
  } finally {
    closeSync(fd);
  }
  return { path, packets: written, copies, sourceFiles: files.length };
}
