// The followed logs of one exporter: a LogFollower per server log, polled in turn on one timer, each line to its
// server's handler; readability and truncated lines counted and logged on change.
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import { LogFollower } from './log-follower.ts';
import type { RefusalMetrics } from './metrics.ts';
import type { ServerName } from './refusal-recorder.ts';

export interface FollowedLog {
  server: ServerName;
  path: string;
  onLine: (line: string) => void;
}

export class LogSources {
  private readonly followers: Array<{ server: ServerName; follower: LogFollower; readable: boolean }> = [];
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> = Promise.resolve();

  constructor(logs: readonly FollowedLog[], metrics: RefusalMetrics, log: Logger) {
    for (const { server, path, onLine } of logs) {
      const entry = { server, readable: false, follower: null as unknown as LogFollower };
      entry.follower = new LogFollower(path, {
        line: onLine,
        truncated: (bytes) => metrics.lines.inc({ log: server, outcome: 'truncated' }, bytes > 0 ? 1 : 0),
        state: (readable, error) => {
          entry.readable = readable;
          metrics.logReadable.set({ log: server }, readable ? 1 : 0);
          if (readable) log.info({ server, path }, `following ${path}`);
          else
            log.warn(
              { code: 'refusal-exporter.log-unreadable', server, path, error: error?.message ?? 'no such file' },
              `cannot read ${path}: ${server}'s refusals are not counted until it can be read (see docs/TROUBLESHOOTING.md)`,
            );
        },
      });
      metrics.logReadable.set({ log: server }, 0);
      this.followers.push(entry);
    }
  }

  /** One pass over every log (start() runs it every pollMs). */
  async pollOnce(): Promise<void> {
    for (const f of this.followers) await f.follower.poll();
  }

  start(pollMs: number): Promise<void> {
    const first = this.pollOnce();
    this.polling = first;
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.pollOnce());
    }, pollMs);
    return first;
  }

  /** Per log: readable or why not (the /healthz checks). */
  checks(): Record<string, boolean> {
    return Object.fromEntries(this.followers.map((f) => [`${f.server}-log`, f.readable]));
  }

  paths(): Record<string, string> {
    return Object.fromEntries(this.followers.map((f) => [f.server, f.follower.path]));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    // The lines written up to now still count.
    await this.pollOnce();
    for (const f of this.followers) await f.follower.close();
  }
}
