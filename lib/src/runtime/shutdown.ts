// How every app stops: on SIGTERM or SIGINT (or another reason the app gives, such as a lost parent), log why,
// run the app's close steps one after another in the order they were added, and exit 0 (or the code the reason
// asked for). A stop that takes longer than the deadline logs an error naming the step it hangs in and exits 1,
// so a stuck dependency never keeps a process alive that its supervisor thinks is stopping.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export interface ShutdownOptions {
  log: Logger;
  /** What the app does while it stops, for the first log line: "shutting down: <doing>". */
  doing: string;
  /** How long the whole stop may take; a function when it depends on settings read after the handler is set. */
  deadlineMs: number | (() => number);
  signals?: NodeJS.Signals[];
  /** Where the signals come from and how the process ends (tests pass their own). */
  signalSource?: Pick<EventEmitter, 'on'>;
  exit?: (code: number) => void;
}

interface Step {
  name: string;
  run: () => unknown;
}

export class Shutdown {
  private readonly steps: Step[] = [];
  private started: Promise<void> | null = null;
  private markRequested!: (reason: string) => void;
  /** Resolves with the reason once a stop has begun. */
  readonly requested: Promise<string> = new Promise((resolve) => {
    this.markRequested = resolve;
  });

  constructor(private readonly options: ShutdownOptions) {
    const source = options.signalSource ?? process;
    for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) {
      source.on(signal, () => void this.stop(signal));
    }
  }

  get stopping(): boolean {
    return this.started !== null;
  }

  /** Adds a close step; steps run in the order they were added. */
  add(name: string, run: () => unknown): this {
    this.steps.push({ name, run });
    return this;
  }

  /** Starts the stop (once: later calls return the same promise) and exits the process at its end. */
  stop(reason: string, exitCode = 0): Promise<void> {
    this.started ??= this.run(reason, exitCode);
    return this.started;
  }

  private async run(reason: string, exitCode: number): Promise<void> {
    const { log } = this.options;
    const deadlineMs =
      typeof this.options.deadlineMs === 'function' ? this.options.deadlineMs() : this.options.deadlineMs;
    const exit = this.options.exit ?? ((code: number) => process.exit(code));
    this.markRequested(reason);
    log.info({ reason }, `shutting down: ${this.options.doing}`);
    let current = 'start';
    let overdue = false;
    // Not unref'd: a step that waits on nothing the event loop knows of must still end in an exit.
    const deadline = setTimeout(() => {
      overdue = true;
      log.error(
        { step: current, deadlineMs },
        `did not stop within ${deadlineMs / 1000} s (stuck at: ${current}); exiting`,
      );
      exit(1);
    }, deadlineMs);
    for (const step of this.steps) {
      current = step.name;
      try {
        await step.run();
      } catch (err) {
        log.warn({ step: step.name, err: (err as Error).message }, 'a shutdown step failed; going on with the next');
      }
      if (overdue) return;
    }
    clearTimeout(deadline);
    log.info('stopped');
    exit(exitCode);
  }
}

/** The one way an app handles SIGTERM and SIGINT. */
export function onShutdown(options: ShutdownOptions): Shutdown {
  return new Shutdown(options);
}
