// Asks forecast for the verdicts of a batch of sessions in one request.
import type { FeaturePacket } from '@fleetcap/lib/features/features';
import { storedPayload } from '@fleetcap/lib/features/stored-payload';
import { wirePacket } from '@fleetcap/lib/features/wire';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';

export interface Verdict {
  label: string;
  score: number;
  /** The model card's alert policy on this verdict (forecast decides it). */
  alert: boolean;
  /** Unlike what the model knows (under the policy's floor): never an alert. */
  unknown: boolean;
}

export interface ForecastAnswer {
  modelVersion: string;
  verdicts: Verdict[];
}

/** forecast could not answer (away, overloaded, timed out, broken answer): worth retrying. */
export class ForecastUnavailable extends Error {
  override name = 'ForecastUnavailable';
}

/**
 * forecast refused the request itself (400, 413, 422): the same request can never pass, so it is not
 * retried; the processor splits the batch or dead-letters the one session forecast cannot take.
 */
export class ForecastRejected extends Error {
  override name = 'ForecastRejected';
  constructor(
    readonly status: number,
    /** forecast's own message (the body's `error`, or the body's text), truncated. */
    readonly detail: string,
    /** The index of the offending session in the request, when forecast names one. */
    readonly session?: number,
  ) {
    super(`forecast refused the request (${status}): ${detail}`);
  }
}

/**
 * Answers that refuse the request's content. Other 4xx stay ForecastUnavailable: 408 and 429 are transient,
 * and 401/403/404/405/415 mean the worker reaches the wrong server or version (FLEETCAP_FORECAST_URL), which an
 * operator fixes without the messages having to be dropped.
 */
export const REJECTING_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

const DETAIL_CHARS = 300;

/** forecast's message in an error body {"error": "..."} (or the body's start when it is not that), one line, truncated. */
export function errorDetail(text: string): { detail: string; session?: number } {
  let detail = text;
  let session: number | undefined;
  try {
    const body = JSON.parse(text) as { error?: unknown; session?: unknown };
    if (body && typeof body.error === 'string') detail = body.error;
    if (body && typeof body.session === 'number') session = body.session;
  } catch {
    // not JSON: the text itself
  }
  detail = detail.replace(/\s+/g, ' ').trim() || '(empty body)';
  if (detail.length > DETAIL_CHARS) detail = `${detail.slice(0, DETAIL_CHARS)}…`;
  return session === undefined ? { detail } : { detail, session };
}

/** The error an answer of forecast stands for, or null for a 2xx: refused (not retried) or unavailable (retried). */
export function answerError(status: number, text: string): ForecastRejected | ForecastUnavailable | null {
  if (REJECTING_STATUSES.has(status)) {
    const { detail, session } = errorDetail(text);
    return new ForecastRejected(status, detail, session);
  }
  if (status < 200 || status > 299)
    return new ForecastUnavailable(`forecast answered ${status}: ${text.slice(0, 500)}`);
  return null;
}

/**
 * The request body of POST /v1/forecast for these sessions. Each packet with payload carries its payload's first
 * bytes from the stored frame, so forecast computes the content features from what the dataset export read from
 * the pcap; `stats.packetsWithoutPayload` counts the packets with payload whose frame gave none (not stored, or not
 * decodable), whose sessions forecast then sees without that content.
 */
export function forecastRequest(sessions: LoadedSession[], stats?: { packetsWithoutPayload: number }) {
  return {
    sessions: sessions.map((s) => ({
      proto: s.proto,
      clientPort: s.client.port,
      serverPort: s.server.port,
      packets: s.packets.map((p) => {
        const packet: FeaturePacket = {
          direction: p.direction,
          tsUs: p.tsUs,
          wireLength: p.wireLength,
          payloadLength: p.payloadLength,
          tcpFlags: p.tcpFlags,
        };
        if (p.payloadLength > 0) {
          const payload = storedPayload(p.linktype, p.frame, p.wireLength, s.proto);
          if (payload === undefined) {
            if (stats) stats.packetsWithoutPayload++;
          } else packet.payload = payload;
        }
        return wirePacket(packet);
      }),
    })),
  };
}

/** The verdicts of a 2xx answer for `expected` sessions; an answer of another shape is ForecastUnavailable. */
export function answerOf(text: string, expected: number): ForecastAnswer {
  const shapeError = () =>
    new ForecastUnavailable(`forecast answered without ${expected} results and a model version: ${text.slice(0, 200)}`);
  let body: {
    modelVersion?: string;
    results?: Array<{ label?: string; score?: number; alert?: boolean; unknown?: boolean }>;
  };
  try {
    body = JSON.parse(text);
  } catch {
    throw shapeError();
  }
  if (!body?.modelVersion || !Array.isArray(body.results) || body.results.length !== expected) throw shapeError();
  return {
    modelVersion: body.modelVersion,
    verdicts: body.results.map((r, i) => {
      if (typeof r?.label !== 'string' || typeof r.score !== 'number') {
        throw new ForecastUnavailable(`forecast result ${i} has no label or score`);
      }
      // A forecast from before alerts: retried (the messages wait) until forecast is upgraded, never guessed.
      if (typeof r.alert !== 'boolean' || typeof r.unknown !== 'boolean') {
        throw new ForecastUnavailable(
          `forecast result ${i} has no alert and unknown: forecast is older than this session-worker; upgrade forecast first`,
        );
      }
      return { label: r.label, score: r.score, alert: r.alert, unknown: r.unknown };
    }),
  };
}

export class ForecastClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    /** Told how many packets of a request had payload but no stored frame to read it from. */
    private readonly onPacketsWithoutPayload?: (packets: number) => void,
    /** forecast's bearer token (FLEETCAP_FORECAST_TOKEN_FILE), when it asks for one. */
    private readonly token?: string,
  ) {}

  async classify(sessions: LoadedSession[]): Promise<ForecastAnswer> {
    const stats = { packetsWithoutPayload: 0 };
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/v1/forecast`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
        },
        body: JSON.stringify(forecastRequest(sessions, stats)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ForecastUnavailable(`forecast at ${this.baseUrl} is unreachable (${cause})`);
    }
    if (stats.packetsWithoutPayload > 0) this.onPacketsWithoutPayload?.(stats.packetsWithoutPayload);
    const text = await res.text();
    const refused = answerError(res.status, text);
    if (refused) throw refused;
    return answerOf(text, sessions.length);
  }
}
