// A small real HTTP receiver that speaks splitcap's upload contract (POST /v1/batches, pcap body, bearer token,
// X-Fleetcap-Agent, X-Fleetcap-Batch as idempotency key, 202 when stored). It is the sniffer's peer in the agent
// tests, not a stand-in for splitcap in the pipeline: it records batches by id so that tests can count packets by
// content, and it can be stopped and started again on the same address to make splitcap unreachable.
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';

export interface ReceivedBatch {
  id: string;
  agent: string;
  body: Buffer;
  receivedAt: number;
}

export type ListenAt = { host: string; port: number } | { path: string };

export class BatchReceiver {
  readonly batches = new Map<string, ReceivedBatch>();
  /** POSTs of a batch id already stored (answered 202, not stored again). */
  duplicates = 0;
  requests = 0;
  /** Answer this status instead of storing, when set (e.g. 503 with retryAfter, or 400). */
  forceStatus: { status: number; retryAfter?: string } | null = null;
  private server: Server | null = null;
  private listenAt: ListenAt | null = null;

  constructor(readonly token = 'test-token') {}

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests++;
      if (req.method !== 'POST' || req.url !== '/v1/batches') {
        res.writeHead(404).end('not found\n');
        return;
      }
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        res.writeHead(401).end('bad token\n');
        return;
      }
      const id = req.headers['x-fleetcap-batch'];
      const agent = req.headers['x-fleetcap-agent'];
      if (typeof id !== 'string' || typeof agent !== 'string' || id === '' || agent === '') {
        res.writeHead(400).end('X-Fleetcap-Batch and X-Fleetcap-Agent are required\n');
        return;
      }
      if (req.headers['content-type'] !== 'application/vnd.tcpdump.pcap') {
        res.writeHead(400).end('content-type must be application/vnd.tcpdump.pcap\n');
        return;
      }
      if (this.forceStatus !== null) {
        const h: Record<string, string> = {};
        if (this.forceStatus.retryAfter !== undefined) h['retry-after'] = this.forceStatus.retryAfter;
        res.writeHead(this.forceStatus.status, h).end('forced\n');
        return;
      }
      const body = Buffer.concat(chunks);
      try {
        for (const _ of readCaptureBuffer(body)) {
          // validates the whole file
        }
      } catch (err) {
        res.writeHead(400).end(`not a capture file: ${(err as Error).message}\n`);
        return;
      }
      if (this.batches.has(id)) this.duplicates++;
      else this.batches.set(id, { id, agent, body, receivedAt: Date.now() });
      res.writeHead(202, { 'content-type': 'application/json' }).end(`${JSON.stringify({ batch: id })}\n`);
    });
  }

  async start(at: ListenAt = this.listenAt ?? { host: '127.0.0.1', port: 0 }): Promise<void> {
    if (this.server !== null) return;
    if ('path' in at) rmSync(at.path, { force: true });
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('path' in at) server.listen(at.path, resolve);
      else server.listen(at.port, at.host, resolve);
    });
    this.server = server;
    // Remember the real address so that a restart comes back on the same one.
    this.listenAt = 'path' in at ? at : { host: at.host, port: (server.address() as AddressInfo).port };
  }

  get address(): ListenAt {
    if (this.listenAt === null) throw new Error('receiver never started');
    return this.listenAt;
  }

  get url(): string {
    const a = this.address;
    if ('path' in a) throw new Error('receiver listens on a unix socket; the URL is the relay in front of it');
    return `http://${a.host}:${a.port}`;
  }

  /** Closes the listener and every open connection: splitcap is unreachable until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Every packet of every stored batch, in batch arrival order. */
  *packets(): Generator<{ batch: string; data: Buffer; linktype: number }> {
    const ordered = [...this.batches.values()].sort((a, b) => a.receivedAt - b.receivedAt);
    for (const b of ordered) {
      for (const p of readCaptureBuffer(b.body)) yield { batch: b.id, data: Buffer.from(p.data), linktype: p.linktype };
    }
  }
}
