// Reads Zeek's conn.log files (the TSV of btest baselines) and runs our ConnTracker over a trace, for the Zeek
// conformance tests.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { DecodedPacket, decodePacket } from '@fleetcap/lib/packet/decode';
import { CaptureParser, forEachPacketRecord } from '@fleetcap/lib/pcap/reader';
import {
  ConnTracker,
  type ConnTrackerOptions,
  type TrackedConnection,
} from '@fleetcap/lib/session-record/conn-tracker';

export interface ZeekConn {
  origH: string;
  origP: number;
  respH: string;
  respP: number;
  /** tcp, udp, icmp, unknown_transport. */
  proto: string;
  ipProto: number | undefined;
  connState: string;
  history: string;
  /** Seconds; 0 when Zeek leaves it unset ("-", a zero duration). */
  duration: number;
  origPkts: number;
  origIpBytes: number;
  respPkts: number;
  respIpBytes: number;
  line: string;
}

/** Column names of the fields we read, with the other spellings Zeek's logging tests rename them to. */
const ALIASES: Record<string, string[]> = {
  origH: ['id.orig_h', 'src', 'src_ip', 'id_orig_h'],
  origP: ['id.orig_p', 'src_port', 'id_orig_p'],
  respH: ['id.resp_h', 'dst', 'dst_ip', 'id_resp_h'],
  respP: ['id.resp_p', 'dst_port', 'id_resp_p'],
};

export function parseConnLog(text: string): ZeekConn[] {
  let fields: string[] = [];
  const rows: ZeekConn[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#fields\t')) {
      fields = line.split('\t').slice(1);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const values = line.split('\t');
    const get = (name: string) => {
      for (const alias of ALIASES[name] ?? [name]) {
        const i = fields.indexOf(alias);
        if (i >= 0) return values[i] ?? '-';
      }
      return '-';
    };
    const count = (name: string) => (get(name) === '-' ? 0 : Number(get(name)));
    rows.push({
      origH: get('origH'),
      origP: Number(get('origP')),
      respH: get('respH'),
      respP: Number(get('respP')),
      proto: get('proto'),
      ipProto: get('ip_proto') === '-' ? undefined : Number(get('ip_proto')),
      connState: get('conn_state'),
      history: get('history') === '-' ? '' : get('history'),
      duration: count('duration'),
      origPkts: count('orig_pkts'),
      origIpBytes: count('orig_ip_bytes'),
      respPkts: count('resp_pkts'),
      respIpBytes: count('resp_ip_bytes'),
      line,
    });
  }
  return rows;
}

const READ_CHUNK = 1 << 20;

function* fileChunks(file: string): Generator<Buffer> {
  const fd = openSync(file, 'r');
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(READ_CHUNK);
      const length = readSync(fd, buffer, 0, READ_CHUNK, null);
      if (length === 0) return;
      yield buffer.subarray(0, length);
    }
  } finally {
    closeSync(fd);
  }
}

export interface TraceConnections {
  connections: TrackedConnection[];
  /** Packets the decoder skipped, by reason (other-l4 ones are still tracked). */
  skipped: Record<string, number>;
  /** Packets of IP protocols 4, 41, 47 … (tunnels Zeek looks into and we do not). */
  ipProtocols: Record<number, number>;
  error?: string;
}

/** Our connections of a trace, every IP packet through the decoder and the tracker. */
export async function trackTrace(
  file: string,
  options: ConnTrackerOptions,
  keep: (packet: DecodedPacket) => boolean = () => true,
): Promise<TraceConnections> {
  const tracker = new ConnTracker(options);
  const decoded = new DecodedPacket();
  const skipped: Record<string, number> = {};
  const ipProtocols: Record<number, number> = {};
  let error: string | undefined;
  try {
    await forEachPacketRecord(
      fileChunks(file),
      (record) => {
        const start = record.dataStart;
        const skip = decodePacket(
          record.linktype,
          record.buffer,
          decoded,
          record.origLen,
          start,
          start + record.caplen,
        );
        if (skip !== null) skipped[skip] = (skipped[skip] ?? 0) + 1;
        if (skip === null || skip === 'other-l4') {
          ipProtocols[decoded.ipProtocol] = (ipProtocols[decoded.ipProtocol] ?? 0) + 1;
        }
        const timeUs = record.tsSec * 1_000_000 + Math.floor(record.tsNsec / 1000);
        if ((skip === null || skip === 'other-l4') && !keep(decoded)) return;
        tracker.add(decoded, skip, timeUs);
      },
      new CaptureParser(),
    );
  } catch (cause) {
    error = cause instanceof Error ? cause.message : String(cause);
  }
  return { connections: tracker.connections, skipped, ipProtocols, ...(error ? { error } : {}) };
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}
