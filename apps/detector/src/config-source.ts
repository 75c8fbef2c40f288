// The detectors' settings from the detector_config table, read at startup and every refresh interval, so that an
// UPDATE of a threshold takes effect without a restart. A refused row keeps that detector's previous settings; a
// table that cannot be read keeps them all (the defaults until a first read succeeds).
import {
  configFromRows,
  type DetectorConfig,
  type DetectorConfigError,
  defaultDetectorConfig,
} from '@fleetcap/lib/detectors/config';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';

export interface ConfigSourceEvents {
  onRefused: (error: DetectorConfigError) => void;
  onUnreadable: (error: Error) => void;
  onLoaded: () => void;
}

export class DetectorConfigSource {
  private current: DetectorConfig = defaultDetectorConfig();
  private timer: NodeJS.Timeout | undefined;
  /** The refusals of the last read, so that one bad row is logged once, not at every read. */
  private lastRefusals = new Set<string>();
  loadedOnce = false;
  lastError = '';

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly events: ConfigSourceEvents,
  ) {}

  get config(): DetectorConfig {
    return this.current;
  }

  async refresh(): Promise<void> {
    let rows: Array<Record<string, unknown>>;
    try {
      const [result] = await this.pool.query(
        'SELECT detector, enabled, threshold, window_seconds, member_cap, subject_cap, evidence_cap, params FROM detector_config',
      );
      rows = result as Array<Record<string, unknown>>;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.events.onUnreadable(err as Error);
      this.log.warn(
        { code: 'detector.config-unreadable', err: this.lastError },
        'cannot read detector_config; the detectors keep their settings',
      );
      return;
    }
    const { config, errors } = configFromRows(rows, this.current);
    const refusals = new Set(errors.map((e) => e.message));
    for (const e of errors) {
      this.events.onRefused(e);
      if (!this.lastRefusals.has(e.message)) {
        this.log.error(
          { code: 'detector.config-refused', err: e.message },
          'detector_config row refused; that detector keeps its settings',
        );
      }
    }
    this.lastRefusals = refusals;
    this.current = config;
    this.lastError = '';
    this.loadedOnce = true;
    this.events.onLoaded();
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
