// The batch upload contract between an agent (sniffer, `fleetcap upload`) and splitcap, declared once.
// splitcap's HTTP handler answers by it, and every sender decides by it what to do with a batch.
//
//   POST /v1/batches
//     Authorization: Bearer <token>     the agent's own token (splitcap's FLEETCAP_SPLITCAP_TOKENS agent=token)
//     X-Fleetcap-Agent: <agent id>      whose token it is
//     X-Fleetcap-Batch: <batch id>      optional, 1-128 of A-Z a-z 0-9 . _ : -; the idempotency key. Without it the
//                                       SHA-256 of the body names the batch, so the same file sent twice is one batch.
//     Content-Type: one of ACCEPTED_CONTENT_TYPES (none means application/octet-stream)
//     body: one pcap or pcapng file; its magic number decides the format, not the content type.
//
//   202  BatchAccepted (JSON). Redis holds every packet and RabbitMQ has confirmed every message of the batch;
//        `duplicate: true` when this batch id was stored before (nothing was added).   sender: done, delete it
//   400  the body is not a capture, is malformed (the message gives the file offset), or the batch id is not of
//        the allowed characters.                                                       sender: reject, never resend
//   401  no X-Fleetcap-Agent, or not that agent's bearer token.                        sender: reject
//   403  (a proxy in front of splitcap) forbidden.                                     sender: reject
//   413  the body is over splitcap's FLEETCAP_SPLITCAP_MAX_BODY_BYTES.                 sender: reject
//   415  the content type is not one of a capture.                                     sender: reject
//   422  reason "too-many-sessions": the capture holds more sessions than splitcap's
//        FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH (a flood of spoofed sources, a big file); the same bytes would be
//        refused again. Send smaller batches (fewer packets each) or raise the limit.   sender: reject
//   503  Retry-After: <seconds>. Redis or RabbitMQ is away, the ready queue is too deep, Redis memory is near its
//        maxmemory, or splitcap has FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS in progress
//        (reason "busy"); nothing of the batch is lost by resending it with the same batch id.
//                                                                                      sender: retry, after Retry-After
//   anything else (404 from a wrong URL, 408, 429, other 5xx, a network error, no answer in time): retry.
//
// Every answer other than 202 is JSON UploadProblem: {error: "<what is wrong and what to do>", batchId?, reason?}.
// "reject" means the batch can never be taken as it is: resending it would only be refused again, so a sender
// keeps it aside for a human (the sniffer moves it to rejected/). "retry" means the same bytes with the same
// batch id may be sent again, as often as needed: splitcap stores each batch id once.
import type { SkipReason } from '../packet/decode.ts';
import type { ScheduleReason } from '../queue/session-message.ts';

export const BATCHES_PATH = '/v1/batches';

/** Header names, lower case (as node:http hands them over and as fetch accepts them). */
export const UPLOAD_HEADERS = {
  authorization: 'authorization',
  agent: 'x-fleetcap-agent',
  batch: 'x-fleetcap-batch',
  contentType: 'content-type',
  retryAfter: 'retry-after',
} as const;

/** What agents send: tcpdump's own media type. */
export const CAPTURE_CONTENT_TYPE = 'application/vnd.tcpdump.pcap';

/** tcpdump captures travel under these types; curl --data-binary sends form-urlencoded unless told otherwise. */
export const ACCEPTED_CONTENT_TYPES: readonly string[] = [
  CAPTURE_CONTENT_TYPE,
  'application/x-pcapng',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
];

export const BATCH_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Retry-After splitcap sends with a 503, in seconds. */
export const RETRY_AFTER_SECONDS = 2;

export const UploadStatus = {
  accepted: 202,
  malformed: 400,
  unauthenticated: 401,
  forbidden: 403,
  tooLarge: 413,
  unsupportedType: 415,
  unprocessable: 422,
  unavailable: 503,
} as const;

/** The 202 body. */
export interface BatchAccepted {
  batchId: string;
  /** The batch id was stored before: nothing was added, nothing scheduled again. */
  duplicate: boolean;
  packetsRead: number;
  packetsStored: number;
  sessions: number;
  /** Session messages published, by reason. */
  scheduled: Partial<Record<ScheduleReason, number>>;
  /**
   * Packets read but not stored: by decoder reason, over the session's cap, or of a session already classified;
   * 'wire-length-below-captured': records whose original (wire) length is below their captured length, which no
   * capture tool writes (splitcap refuses them before decoding).
   */
  skipped: Record<SkipReason, number> & {
    overMax: number;
    sessionDone: number;
    'wire-length-below-captured'?: number;
    'wire-length-over-max'?: number;
  };
  /**
   * With skipped['time-out-of-range'] > 0: the earliest and latest of those capture times, in seconds since the epoch
   * as read (the accepted window is 1990-01-01 to one day past splitcap's clock: lib/src/pcap/capture-time.ts).
   */
  timeOutOfRange?: { earliestSec: number; latestSec: number };
}

/** Stable names of the limits an answer can cite, for senders and dashboards (the text says the rest). */
export type UploadProblemReason = 'too-many-sessions' | 'busy';

/** Every other answer's body. */
export interface UploadProblem {
  error: string;
  batchId?: string;
  reason?: UploadProblemReason;
}

export type SenderAction = 'done' | 'reject' | 'retry';

const REJECTED_STATUSES: ReadonlySet<number> = new Set([
  UploadStatus.malformed,
  UploadStatus.unauthenticated,
  UploadStatus.forbidden,
  UploadStatus.tooLarge,
  UploadStatus.unsupportedType,
  UploadStatus.unprocessable,
]);

/** What a sender does with a batch after this HTTP status (see the contract above). */
export function senderAction(status: number): SenderAction {
  if (status >= 200 && status < 300) return 'done';
  if (REJECTED_STATUSES.has(status)) return 'reject';
  return 'retry';
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The upload URL under a splitcap base URL (which may carry a path of its own, e.g. behind a proxy). */
export function batchesUrl(splitcapUrl: string): string {
  const base = splitcapUrl.endsWith('/') ? splitcapUrl : `${splitcapUrl}/`;
  return new URL(BATCHES_PATH.slice(1), base).toString();
}

/** The request headers of one batch upload. An empty token sends no Authorization (splitcap answers 401). */
export function uploadHeaders(agent: string, token: string, batchId: string): Record<string, string> {
  const headers: Record<string, string> = {
    [UPLOAD_HEADERS.contentType]: CAPTURE_CONTENT_TYPE,
    [UPLOAD_HEADERS.agent]: agent,
    [UPLOAD_HEADERS.batch]: batchId,
  };
  if (token !== '') headers[UPLOAD_HEADERS.authorization] = `Bearer ${token}`;
  return headers;
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer (.+)$/.exec(header)?.[1];
}

/** The media type of a Content-Type header, lower case, without parameters; none means octet-stream. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
}

export function isAcceptedContentType(contentType: string | undefined): boolean {
  return ACCEPTED_CONTENT_TYPES.includes(mediaType(contentType));
}
