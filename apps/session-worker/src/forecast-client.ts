// Asks forecast for the verdicts of a batch of sessions in one request.
import type { LoadedSession } from './session-loader.ts';

export interface Verdict {
  label: string;
  score: number;
}

export interface ForecastAnswer {
  modelVersion: string;
  verdicts: Verdict[];
}

export class ForecastUnavailable extends Error {
  override name = 'ForecastUnavailable';
}

/** The request body of POST /v1/forecast for these sessions. */
export function forecastRequest(sessions: LoadedSession[]) {
  return {
    sessions: sessions.map((s) => ({
      proto: s.proto,
      clientPort: s.client.port,
      serverPort: s.server.port,
      packets: s.packets.map((p) => ({
        direction: p.direction,
        tsUs: p.tsUs,
        wireLength: p.wireLength,
        payloadLength: p.payloadLength,
        tcpFlags: p.tcpFlags,
      })),
    })),
  };
}

export class ForecastClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async classify(sessions: LoadedSession[]): Promise<ForecastAnswer> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/v1/forecast`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(forecastRequest(sessions)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ForecastUnavailable(`forecast at ${this.baseUrl} is unreachable (${cause})`);
    }
    const text = await res.text();
    if (!res.ok) {
      throw new ForecastUnavailable(`forecast answered ${res.status}: ${text.slice(0, 500)}`);
    }
    const body = JSON.parse(text) as { modelVersion?: string; results?: Array<{ label?: string; score?: number }> };
    if (!body.modelVersion || !Array.isArray(body.results) || body.results.length !== sessions.length) {
      throw new ForecastUnavailable(`forecast answered without ${sessions.length} results and a model version: ${text.slice(0, 200)}`);
    }
    return {
      modelVersion: body.modelVersion,
      verdicts: body.results.map((r, i) => {
        if (typeof r.label !== 'string' || typeof r.score !== 'number') {
          throw new ForecastUnavailable(`forecast result ${i} has no label or score`);
        }
        return { label: r.label, score: r.score };
      }),
    };
  }
}
