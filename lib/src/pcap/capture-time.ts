// The window of capture times the pipeline and the offline tools accept. A packet whose time is outside it is
// skipped and counted (skip reason 'time-out-of-range'), never stored, wrapped or clamped: a pcapng timestamp of
// 0xffffffff00000000 µs, or an if_tsoffset of 2^62 s, used to come out as plausible but wrong dates (2101, 2035,
// 2025) because µs past 2^53 lose digits and later steps wrap them.
//
// Why this window: from 1990-01-01, so that every real capture still in use reads (the DARPA 1998/99 intrusion
// sets are the oldest widely used) while a zero or tiny time (a writer that left it empty, a host clock that never
// got set, a fuzzed file) does not; up to one day after the reader's clock, which covers any timezone mistake of a
// sniffer's clock (±14 h) and clock skew, while a time from the future cannot start an occurrence that later
// packets would never reach. Every time inside it is exact as an integer of µs in a double (< 2^53) and fits
// MariaDB's DATETIME(6). Relative to "now" rather than to the batch, because a batch's own times are what is in
// question; one bad packet must not move the window of the others.
import type { SkipReason } from '../packet/decode.ts';

export interface CaptureTimeWindow {
  /** Earliest accepted capture time, whole seconds since the epoch. */
  minSec: number;
  /** Latest accepted capture time (this second included). */
  maxSec: number;
}

/** 1990-01-01T00:00:00Z. */
export const EARLIEST_CAPTURE_SEC = 631_152_000;
/** How far past the reader's clock a capture time may be. */
export const CAPTURE_TIME_AHEAD_SEC = 86_400;

export const TIME_OUT_OF_RANGE: SkipReason = 'time-out-of-range';

/** The window as of `nowMs` (the reader's clock). */
export function captureTimeWindow(nowMs: number = Date.now()): CaptureTimeWindow {
  return { minSec: EARLIEST_CAPTURE_SEC, maxSec: Math.floor(nowMs / 1000) + CAPTURE_TIME_AHEAD_SEC };
}

/** No window: every time the reader produces (the conformance runs against tshark, which keeps them all). */
export const ANY_CAPTURE_TIME: CaptureTimeWindow = {
  minSec: Number.NEGATIVE_INFINITY,
  maxSec: Number.POSITIVE_INFINITY,
};

export function inCaptureTimeWindow(window: CaptureTimeWindow, tsSec: number): boolean {
  return tsSec >= window.minSec && tsSec <= window.maxSec;
}

/** How the window reads in messages. */
export function describeCaptureTimeWindow(window: CaptureTimeWindow): string {
  const at = (sec: number) => (Number.isFinite(sec) ? new Date(sec * 1000).toISOString() : String(sec));
  return `${at(window.minSec)} to ${at(window.maxSec)}`;
}
