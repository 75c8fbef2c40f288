// Runs the sniffer as a child process and replaces it when the config changes.
//
// A change must be in force within a second, and a Node start with tsx alone takes most of that. So the supervisor
// keeps one sniffer forked ahead in standby (modules loaded, waiting for a config over IPC). A change is a
// hand-over by capture time: the standby gets the new config, starts tcpdump and reports the moment it captures
// from (T); the running sniffer is then told to keep only packets captured before T, captures on until libpcap has
// handed over its last block (FLEETCAP_CAPTURE_LINGER_MS), closes its batch into the spool, finishes its uploads in
// flight (bounded) and exits. Both capture for a moment and the timestamp splits the packets between them, so no
// packet is captured twice and none is missed. Once the old sniffer has exited, the new one adopts what it left in
// the spool ('rescan'), so that no batch is uploaded by two processes. A new standby is forked in the background.
// If the new config fails to start, the old sniffer simply goes on.
//
// A sniffer that exits on its own is restarted with lib's backoff (by the number of recent exits); several exits
// within a minute are reported as a crash loop. A sniffer's 'ready' signal (lib/src/runtime/ready.ts) needs no
// answer: 'capturing' says more, so the switch below lets it pass.
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import {
  DEFER_SCAN_ENV,
  emptyCounters,
  type ListenerMessage,
  parseSnifferMessage,
  type SnifferCounters,
  STANDBY_ENV,
} from '@fleetcap/lib/agent/ipc';
import type { AgentState } from '@fleetcap/lib/agent/live-status';
import { type AgentConfig, agentConfigToJson } from '@fleetcap/lib/config/agent-config';
import { backoffDelay } from '@fleetcap/lib/runtime/backoff';
import type { Logger } from '@fleetcap/lib/telemetry/logger';

export interface SupervisorOptions {
  snifferMain: string;
  execArgv: string[];
  env: Record<string, string | undefined>;
  /** Longest wait for a stopping sniffer to end its capture before it is killed. */
  captureStopMs: number;
  /** Longest wait for a stopping sniffer to exit (its own upload drain is bounded by FLEETCAP_DRAIN_MS). */
  exitWaitMs: number;
  /** Longest wait for a new sniffer to report 'capturing'. */
  startTimeoutMs: number;
  restartBaseMs: number;
  restartMaxMs: number;
  /** This many unexpected exits within crashWindowMs is a crash loop. */
  crashLoopCount: number;
  crashWindowMs: number;
  /**
   * Keep a sniffer forked ahead, waiting for the next config (default true). false: a change forks the new sniffer
   * then, one Node process less on the host, and the change waits for that start (compiled: bench/agent-footprint).
   */
  standby?: boolean;
  log: Logger;
}

type Role = 'standby' | 'incoming' | 'active' | 'draining';

interface Child {
  proc: ChildProcess;
  role: Role;
  counters: SnifferCounters;
  stopRequested: boolean;
  ready: Promise<boolean>;
  captureStopped: Promise<void>;
  exited: Promise<void>;
  lastMessage: string;
  /** Resolves with the first of: capturing (with the time it captures from), error, exit. */
  started: Promise<{ ok: true; sinceMs: number } | { ok: false; error: string }>;
}

const COUNTER_KEYS = [
  'captured',
  'kernelDrops',
  'batchesUploaded',
  'spoolDropped',
  'spoolDroppedPackets',
  'rejected',
] as const;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export class Supervisor extends EventEmitter {
  state: AgentState = 'waiting';
  lastError: string | null = null;
  appliedRevision: number | null = null;
  private active: Child | null = null;
  private standby: Child | null = null;
  private readonly draining = new Set<Child>();
  /** Counters of sniffers that have exited, summed. */
  private readonly base: SnifferCounters = emptyCounters();
  private lastSpooled = 0;
  private queue: Promise<void> = Promise.resolve();
  private desired: AgentConfig | null = null;
  private crashTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private shuttingDown = false;
  restarts = 0;

  constructor(private readonly options: SupervisorOptions) {
    super();
  }

  private changed(): void {
    this.emit('change');
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task).catch((err: unknown) => {
      this.options.log.error({ err: String(err) }, 'supervisor task failed');
    });
    return this.queue;
  }

  get snifferPid(): number | null {
    return this.active?.proc.pid ?? null;
  }

  counters(): SnifferCounters {
    const total = { ...this.base };
    for (const c of [this.active, ...this.draining]) {
      if (c === null) continue;
      for (const k of COUNTER_KEYS) total[k] += c.counters[k];
    }
    total.spooled = this.active?.counters.spooled ?? this.lastSpooled;
    return total;
  }

  /** Forks a sniffer in standby mode ahead of need. */
  warmUp(): void {
    if (this.options.standby === false) return;
    if (this.standby === null && !this.shuttingDown) this.standby = this.fork();
  }

  private fork(): Child {
    const proc = fork(this.options.snifferMain, [], {
      execArgv: this.options.execArgv,
      env: { ...this.options.env, [STANDBY_ENV]: '1', [DEFER_SCAN_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let onReady!: (ok: boolean) => void;
    let onCaptureStopped!: () => void;
    let onStarted!: (r: { ok: true; sinceMs: number } | { ok: false; error: string }) => void;
    const child: Child = {
      proc,
      role: 'standby',
      counters: emptyCounters(),
      stopRequested: false,
      ready: new Promise((r) => {
        onReady = r;
      }),
      captureStopped: new Promise((r) => {
        onCaptureStopped = r;
      }),
      exited: new Promise((resolve) => proc.once('exit', () => resolve())),
      lastMessage: '',
      started: new Promise((r) => {
        onStarted = r;
      }),
    };
    proc.on('message', (raw: unknown) => {
      const m = parseSnifferMessage(raw);
      if (m === null) {
        this.options.log.warn(
          { pid: proc.pid, message: raw },
          'ignored a message from the sniffer that is none of ours',
        );
        return;
      }
      switch (m.type) {
        case 'standby':
          onReady(true);
          break;
        case 'capturing':
          onStarted({ ok: true, sinceMs: m.sinceMs });
          break;
        case 'error':
          child.lastMessage = m.message;
          onStarted({ ok: false, error: m.message });
          break;
        case 'counters':
          child.counters = m.counters;
          if (child === this.active) this.lastSpooled = m.counters.spooled;
          break;
        case 'capture-stopped':
          child.counters = m.counters;
          onCaptureStopped();
          break;
        case 'stopped':
          child.counters = m.counters;
          break;
      }
    });
    proc.once('exit', (code, signal) => {
      onReady(false);
      onCaptureStopped();
      onStarted({ ok: false, error: child.lastMessage || `sniffer exited with ${signal ?? `code ${code}`}` });
      this.onExit(child, code, signal);
    });
    proc.on('error', (err) => this.options.log.error({ err: err.message }, 'sniffer process error'));
    return child;
  }

  private onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    for (const k of COUNTER_KEYS) this.base[k] += child.counters[k];
    if (child.role === 'active') this.lastSpooled = child.counters.spooled;
    child.counters = emptyCounters();
    if (child === this.standby) {
      this.standby = null;
      if (!child.stopRequested) this.options.log.warn({ code, signal }, 'standby sniffer exited');
      return;
    }
    if (this.draining.delete(child)) {
      this.options.log.info({ pid: child.proc.pid, code, signal }, 'previous sniffer finished draining');
      if (this.draining.size === 0) this.send(this.active, { type: 'rescan' });
      this.changed();
      return;
    }
    if (child === this.active) {
      this.active = null;
      if (child.stopRequested || this.shuttingDown) return;
      this.crashed(child, code, signal);
    }
  }

  private crashed(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    const now = Date.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < this.options.crashWindowMs);
    this.crashTimes.push(now);
    const n = this.crashTimes.length;
    const delay = backoffDelay(n, { baseMs: this.options.restartBaseMs, maxMs: this.options.restartMaxMs });
    const why = `sniffer exited unexpectedly (${signal ?? `code ${code}`})${child.lastMessage ? `: ${child.lastMessage}` : ''}`;
    this.state = 'error';
    this.lastError =
      n >= this.options.crashLoopCount
        ? `crash loop: ${n} unexpected exits in ${Math.round(this.options.crashWindowMs / 1000)} s; last: ${why}; next restart in ${delay} ms`
        : `${why}; restarting in ${delay} ms`;
    this.options.log.error({ code: 'listener.sniffer-exited', crashes: n, delayMs: delay }, this.lastError);
    this.changed();
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      const config = this.desired;
      if (config === null || this.shuttingDown) return;
      void this.enqueue(async () => {
        if (this.desired !== config || this.active !== null) return;
        this.restarts++;
        await this.startActive(config);
      });
    }, delay);
  }

  private send(child: Child | null, message: ListenerMessage): void {
    if (child?.proc.connected) child.proc.send(message);
  }

  /** Replaces the running capture with this (validated, enabled) config. */
  run(config: AgentConfig): Promise<void> {
    this.desired = config;
    return this.enqueue(async () => {
      if (this.desired !== config) return; // superseded while queued
      await this.startActive(config);
    });
  }

  /** Stops capturing (config disabled or deleted) and says why. */
  stopCapture(reason: string, revision: number | null = this.appliedRevision): Promise<void> {
    this.desired = null;
    return this.enqueue(async () => {
      await this.stopActive();
      this.state = 'stopped';
      this.lastError = reason;
      this.appliedRevision = revision;
      this.changed();
    });
  }

  /** No config yet: nothing to run. */
  waiting(reason: string): void {
    void this.enqueue(async () => {
      if (this.active !== null) return;
      this.state = 'waiting';
      this.lastError = reason;
      this.changed();
    });
  }

  /** A config that did not validate: the running sniffer (if any) goes on; the error is reported. */
  rejected(error: string): void {
    void this.enqueue(async () => {
      this.lastError = error;
      if (this.active === null && this.state !== 'stopped') this.state = 'error';
      this.changed();
    });
  }

  private async stopActive(): Promise<void> {
    if (this.restartTimer !== null) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    const child = this.active;
    if (child === null) return;
    this.active = null;
    child.role = 'draining';
    child.stopRequested = true;
    this.draining.add(child);
    child.proc.kill('SIGTERM');
    const t0 = Date.now();
    const stopped = await Promise.race([
      child.captureStopped.then(() => true),
      sleep(this.options.captureStopMs).then(() => false),
    ]);
    if (!stopped) {
      this.options.log.error(
        { pid: child.proc.pid },
        `sniffer did not stop capturing within ${this.options.captureStopMs} ms; killing it`,
      );
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    this.options.log.info({ pid: child.proc.pid, ms: Date.now() - t0 }, 'previous sniffer stopped capturing');
    // Bound its drain too, in the background.
    void Promise.race([child.exited.then(() => true), sleep(this.options.exitWaitMs).then(() => false)]).then(
      (done) => {
        if (!done) {
          this.options.log.warn({ pid: child.proc.pid }, 'previous sniffer did not exit in time; killing it');
          child.proc.kill('SIGKILL');
        }
      },
    );
  }

  /**
   * Starts a sniffer with this config. If one is capturing, it is a hand-over: the new sniffer (the standby, so
   * no Node start to wait for) starts tcpdump and reports the time it captures from; the old one is told to keep
   * packets captured before that time only, lingers until libpcap has handed over its last block, and exits.
   * Both capture during the hand-over and the capture time splits the packets between them: none twice, none
   * missed. If the new one fails to start, the old one goes on and the error is reported.
   */
  private async startActive(config: AgentConfig): Promise<void> {
    if (this.restartTimer !== null) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    const previous = this.active !== null && this.active.proc.exitCode === null ? this.active : null;
    let child = this.standby;
    this.standby = null;
    if (child === null || child.proc.exitCode !== null) child = this.fork();
    // Without a previous sniffer, the new one is the active one from the start: if it dies, that is a crash.
    child.role = previous === null ? 'active' : 'incoming';
    if (previous === null) this.active = child;
    const ready = await Promise.race([child.ready, sleep(this.options.startTimeoutMs).then(() => false)]);
    const t0 = Date.now();
    let result: { ok: true; sinceMs: number } | { ok: false; error: string };
    if (ready) {
      this.send(child, { type: 'start', config: agentConfigToJson(config), handOver: previous !== null });
      result = await Promise.race([
        child.started,
        sleep(this.options.startTimeoutMs).then(() => ({
          ok: false as const,
          error: `no capture after ${this.options.startTimeoutMs} ms`,
        })),
      ]);
    } else {
      result = { ok: false, error: `the sniffer process did not start in ${this.options.startTimeoutMs} ms` };
    }
    if (result.ok) {
      child.role = 'active';
      this.active = child;
      this.state = 'capturing';
      this.appliedRevision = config.revision;
      this.lastError = null;
      this.options.log.info(
        { revision: config.revision, pid: child.proc.pid, startMs: Date.now() - t0 },
        'sniffer capturing',
      );
      if (previous !== null) this.handOver(previous, result.sinceMs);
      else if (this.draining.size === 0) this.send(child, { type: 'rescan' });
    } else if (previous !== null && previous.proc.exitCode === null) {
      child.stopRequested = true;
      if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
      this.lastError = `revision ${config.revision} did not start (revision ${this.appliedRevision} goes on): ${result.error}`;
      this.options.log.error({ code: 'listener.revision-did-not-start' }, this.lastError);
    } else {
      this.state = 'error';
      this.lastError = `revision ${config.revision} did not start: ${result.error}`;
      this.options.log.error({ code: 'listener.revision-did-not-start' }, this.lastError);
      if (child.role === 'incoming') {
        // The previous sniffer died meanwhile: treat this one as the active one that failed.
        child.role = 'active';
        this.active = child;
      }
      // A sniffer that reported an error exits by itself (exit → crash handling → restart with backoff); one that
      // hangs is killed.
      const stuck = child;
      setTimeout(() => {
        if (stuck.proc.exitCode === null && stuck.proc.signalCode === null) stuck.proc.kill('SIGKILL');
      }, 2000).unref();
    }
    this.changed();
    this.warmUp();
  }

  private handOver(previous: Child, cutAtMs: number): void {
    previous.role = 'draining';
    previous.stopRequested = true;
    this.draining.add(previous);
    this.send(previous, { type: 'cut', atMs: cutAtMs });
    this.options.log.info(
      { pid: previous.proc.pid, cutAtMs },
      'previous sniffer keeps packets captured before the cut-off, then stops',
    );
    void Promise.race([previous.exited.then(() => true), sleep(this.options.exitWaitMs).then(() => false)]).then(
      (done) => {
        if (!done) {
          this.options.log.warn({ pid: previous.proc.pid }, 'previous sniffer did not exit in time; killing it');
          previous.proc.kill('SIGKILL');
        }
      },
    );
  }

  /** Listener shutdown: stop the sniffer and wait for its drain (bounded), stop the standby. */
  shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.desired = null;
    return this.enqueue(async () => {
      if (this.restartTimer !== null) clearTimeout(this.restartTimer);
      await this.stopActive();
      const standby = this.standby;
      this.standby = null;
      if (standby !== null) {
        standby.stopRequested = true;
        standby.proc.kill('SIGTERM');
      }
      const all = [...this.draining].map((c) => c.exited);
      if (standby !== null) all.push(standby.exited);
      await Promise.race([Promise.all(all), sleep(this.options.exitWaitMs)]);
      for (const c of this.draining) c.proc.kill('SIGKILL');
      this.state = 'stopped';
      this.changed();
    });
  }
}
