// A flood of spoofed sources as a sniffer would capture it: one pcap of N single-packet UDP flows (Ethernet,
// IPv4, no payload: 58 bytes a record), every flow from another source address and port. The default N makes the
// 63 MiB file of issue 19 (1,138,971 flows, under splitcap's 64 MiB body limit). Built from one template frame of
// the project's packet builder with the address and port patched in, so a million flows take well under a second.
// As a script it writes the file: node --import tsx --conditions=fleetcap-source test/helpers/flood-capture.ts OUT [N]
import { writeFileSync } from 'node:fs';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { LINKTYPE_ETHERNET } from '@fleetcap/lib/packet/decode';
import { encodePcapFileHeader } from '@fleetcap/lib/pcap/writer';

export const FLOOD_FLOWS = 1_138_971;

/** Offsets in the Ethernet + IPv4 + UDP template frame. */
const IP_SRC = 14 + 12;
const UDP_SPORT = 14 + 20;

export function floodCapture(flows = FLOOD_FLOWS, startUs = Date.now() * 1000): Buffer {
  const frame = buildPacket({ proto: 'udp', src: '10.0.0.1', dst: '192.0.2.53', sport: 1024, dport: 53 });
  const record = 16 + frame.length;
  const header = encodePcapFileHeader({ linktype: LINKTYPE_ETHERNET });
  const out = Buffer.alloc(header.length + flows * record);
  header.copy(out, 0);
  for (let i = 0; i < flows; i++) {
    const at = header.length + i * record;
    const tsUs = startUs + i;
    out.writeUInt32LE(Math.floor(tsUs / 1e6), at);
    out.writeUInt32LE(tsUs % 1e6, at + 4);
    out.writeUInt32LE(frame.length, at + 8);
    out.writeUInt32LE(frame.length, at + 12);
    frame.copy(out, at + 16);
    // Source 10.x.y.z and a port from 1024: distinct (address, port) pairs for 16.7 M × 64 K flows.
    out.writeUInt32BE((0x0a000000 | (i & 0xffffff)) >>> 0, at + 16 + IP_SRC);
    out.writeUInt16BE(1024 + ((i >>> 24) & 0x3fff), at + 16 + UDP_SPORT);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out, n] = process.argv.slice(2);
  if (!out) {
    console.error('usage: flood-capture.ts OUT.pcap [FLOWS]');
    process.exit(2);
  }
  const pcap = floodCapture(n ? Number(n) : FLOOD_FLOWS);
  writeFileSync(out, pcap);
  console.log(`${out}: ${pcap.length} bytes (${(pcap.length / 2 ** 20).toFixed(1)} MiB), ${n ?? FLOOD_FLOWS} flows`);
}
