// One HTTP POST with node:http(s), for the uploads.
//
// Not fetch: with Node 20's bundled undici, a fetch whose connection the peer closes while the request body is
// being written (a TCP relay in front of a stopped splitcap does exactly that) can stay pending forever with no
// socket left: no error, no response (seen in test/integration/agent-sniffer.test.ts; a plain `node -e fetch(...)`
// against such a relay exits with the promise unsettled). An upload that never settles would hold a spool entry
// and an upload slot for good. node:http reports every such case as an error on the request.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/** An HTTPS agent that trusts this CA (PEM) only, for uploads to a splitcap whose certificate it signed. */
export function httpsAgentFor(ca: Buffer): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, maxSockets: 64, ca });
}

/** POSTs body to url; rejects on any network error, on timeoutMs, or when signal aborts. */
export function httpPost(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
  tlsAgent: HttpsAgent = httpsAgent,
): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    let settled = false;
    const finish = (err: Error | null, result?: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err !== null) reject(err);
      else resolve(result!);
    };
    const req = (https ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: https ? tlsAgent : httpAgent,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // An answer is a short status text; keep at most 4 KiB of it.
          if (size < 4096) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          finish(null, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (err) => finish(err));
        res.on('aborted', () => finish(new Error('response aborted')));
      },
    );
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
      finish(err);
    }, timeoutMs);
    const onAbort = () => {
      const err = new Error(String(signal?.reason ?? 'aborted'));
      err.name = 'AbortError';
      req.destroy(err);
      finish(err);
    };
    // The error listener first: destroying a request with no listener throws from an event (it killed the sniffer
    // when its stop aborted an attempt that was just starting: found by the fault run).
    req.on('error', (err) => finish(err));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => {
      if (!settled && !req.destroyed) finish(new Error('connection closed before an answer'));
    });
    req.end(body);
  });
}
