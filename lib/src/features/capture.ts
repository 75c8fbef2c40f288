// Sessionizes one capture file the way production sees sessions: the project's reader and Sessionizer,
// keeping the first SESSION_MAX_PACKETS packets of each session (splitcap's cap). Used by the dataset export
// and by `fleetcap classify`, so both see exactly what forecast sees.
import { createReadStream } from 'node:fs';
import { PAYLOAD_BYTES_KEPT } from '../app-metadata/from-session.ts';
import { type CaptureTimeWindow, captureTimeWindow } from '../pcap/capture-time.ts';
import { CaptureParser, forEachCapturedPacket, type ReaderCounters } from '../pcap/reader.ts';
import { type Session, Sessionizer } from '../session/sessionizer.ts';
import { SessionRecords } from '../session-record/session-records.ts';
import { SESSION_MAX_PACKETS } from './features.ts';

export interface SessionizedCapture {
  sessions: Session[];
  sessionizer: Sessionizer;
  /** Community ID and Zeek-style record of each session, from all its packets. */
  records: SessionRecords;
  reader: ReaderCounters;
  /** Why the file could not be read to its end; the sessions up to there are still returned. */
  error?: string;
}

/** `captureTimes`: the capture times accepted, by default splitcap's window (lib/src/pcap/capture-time.ts). */
export async function sessionizeCapture(
  file: string,
  captureTimes: CaptureTimeWindow = captureTimeWindow(),
): Promise<SessionizedCapture> {
  const parser = new CaptureParser();
  // Payloads for the content features: 64 KB per session and direction holds the 24 kept packets of an MTU-sized
  // link whole, and the features read only the first CONTENT_BYTES_PER_PACKET of each.
  const sessionizer = new Sessionizer({
    maxPacketsKept: SESSION_MAX_PACKETS,
    payloadBytesKept: PAYLOAD_BYTES_KEPT,
    captureTimes,
  });
  const records = new SessionRecords();
  let error: string | undefined;
  try {
    await forEachCapturedPacket(
      createReadStream(file, { highWaterMark: 1 << 20 }),
      (packet) => {
        const session = sessionizer.add(packet);
        if (session)
          records.add(
            session,
            sessionizer.lastDecoded,
            sessionizer.lastFromInitiator,
            packet.tsSec * 1_000_000 + Math.floor(packet.tsNsec / 1000),
          );
      },
      parser,
    );
  } catch (cause) {
    error = cause instanceof Error ? cause.message : String(cause);
  }
  const result: SessionizedCapture = {
    sessions: [...sessionizer.sessions.values()],
    sessionizer,
    records,
    reader: parser.counters,
  };
  if (error !== undefined) result.error = error;
  return result;
}
