// The offline path's per-packet loop, once: a capture's records through the reader, the sessionizer, the session
// record and application metadata, each phase optional. `fleetcap sessions` (and `detections`) run every phase they
// report; bench/sessionize/phases.ts runs them one at a time, through the same loop, so that what it measures is
// what the command runs.
import { PAYLOAD_BYTES_KEPT, SessionMetadataCollector } from '../app-metadata/from-session.ts';
import { SESSION_MAX_PACKETS } from '../features/session-max-packets.ts';
import type { DecodedPacket } from '../packet/decode.ts';
import type { CaptureTimeWindow } from '../pcap/capture-time.ts';
import { PcapFormatError } from '../pcap/errors.ts';
import { CaptureParser, forEachPacketRecord, type PacketRecord } from '../pcap/reader.ts';
import { SessionRecords } from '../session-record/session-records.ts';
import { type Session, Sessionizer } from './sessionizer.ts';

export interface SessionizePhases {
  /** Decode and sessionize (default true; false: the reader alone, for measuring it). */
  sessions?: boolean;
  /**
   * Keep each session's first SESSION_MAX_PACKETS packets with their payloads, as the pipeline stores them (default:
   * what `metadata` needs). Alone, it measures what keeping them costs.
   */
  keepPackets?: boolean;
  /** Community ID and Zeek-style record of each session (default true). */
  records?: boolean;
  /** Application metadata of each session, from its kept packets (default false; implies keepPackets). */
  metadata?: boolean;
  /** Packets captured outside this window are skipped and counted (default: every time is kept, ANY_CAPTURE_TIME). */
  captureTimes?: CaptureTimeWindow;
  /** Called with every packet a session got (fromInitiator: the session's src sent it). */
  onPacket?: (session: Session, decoded: DecodedPacket, fromInitiator: boolean) => void;
}

export interface SessionizedCapture {
  parser: CaptureParser;
  /** Absent when `sessions` was false. */
  sessionizer?: Sessionizer;
  records?: SessionRecords;
  metadata?: SessionMetadataCollector;
  /** Why the capture could not be read to its end; what was read before it is still in the phases' results. */
  error?: { message: string; offset?: number };
}

/**
 * Runs the phases over every record of `chunks` (parsed by `parser`, which a chunk source reusing its buffer needs to
 * know), never throwing: a read or format error is returned with what was read before it.
 */
export async function sessionizeCapture(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  phases: SessionizePhases = {},
  parser = new CaptureParser(),
): Promise<SessionizedCapture> {
  const result: SessionizedCapture = { parser };
  const sessions = phases.sessions !== false;
  const metadataOn = sessions && phases.metadata === true;
  const keep = sessions && (phases.keepPackets ?? metadataOn);
  const captureTimes = phases.captureTimes;
  // Metadata reads the packets the pipeline stores, so the same number are kept, with their payloads.
  const sessionizer = !sessions
    ? undefined
    : keep
      ? new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT, captureTimes })
      : new Sessionizer({ captureTimes });
  const records = sessions && phases.records !== false ? new SessionRecords() : undefined;
  const metadata =
    metadataOn && sessionizer ? new SessionMetadataCollector(SESSION_MAX_PACKETS, sessionizer) : undefined;
  const onPacket = phases.onPacket;
  if (sessionizer) result.sessionizer = sessionizer;
  if (records) result.records = records;
  if (metadata) result.metadata = metadata;
  const onRecord =
    sessionizer === undefined
      ? (_record: PacketRecord) => {}
      : (record: PacketRecord) => {
          const session = sessionizer.addRecord(record);
          if (session === null) return;
          records?.addCaptured(
            session,
            sessionizer.lastDecoded,
            sessionizer.lastFromInitiator,
            record.tsSec,
            record.tsNsec,
          );
          metadata?.added(session);
          onPacket?.(session, sessionizer.lastDecoded, sessionizer.lastFromInitiator);
        };
  try {
    await forEachPacketRecord(chunks, onRecord, parser);
  } catch (cause) {
    if (cause instanceof PcapFormatError) result.error = { message: cause.message, offset: cause.offset };
    else result.error = { message: cause instanceof Error ? cause.message : String(cause) };
  }
  return result;
}
