// The traffic of `fleetcap run --traffic loopback`: benign HTTP on loopback for the agent to capture, with no root
// and no lab. The server and its clients are this process.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** With --traffic loopback the agent captures only the demo traffic on lo: the pipeline's own traffic is there too. */
export const demoPorts = { http: 18081 } as const;

/** An HTTP server on demoPorts.http and `requests` fetches of pages of varied sizes, at a varied pace. */
export async function demoTraffic(requests: number): Promise<void> {
  const server = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? 512);
    res
      .writeHead(200, { 'content-type': 'text/plain', connection: 'close' })
      .end('x'.repeat(Math.min(size, 1_000_000)));
  });
  server.listen(demoPorts.http, '127.0.0.1');
  await once(server, 'listening');
  try {
    for (let i = 0; i < requests; i++) {
      const res = await fetch(`http://127.0.0.1:${demoPorts.http}/page/${i}?size=${200 + ((i * 7919) % 60_000)}`, {
        headers: { connection: 'close' },
      });
      await res.text();
      await sleep(20 + ((i * 37) % 80));
    }
  } finally {
    server.close();
  }
}
