// Messages the sniffer sends its parent (the listener) over the fork IPC channel.
import type { ReadySignal } from '@fleetcap/lib/runtime/ready';

export interface SnifferCounters {
  /** Packets read from the capture. */
  captured: number;
  /** Packets the kernel dropped (libpcap ps_drop, from tcpdump's statistics). */
  kernelDrops: number;
  batchesUploaded: number;
  /** Batches waiting in the spool now. */
  spooled: number;
  /** Batches deleted from the spool to keep it under its bound. */
  spoolDropped: number;
  /** Packets in those batches. */
  spoolDroppedPackets: number;
  /** Batches splitcap refused for good (moved to rejected/). */
  rejected: number;
}

export type SnifferMessage =
  /** Standby mode: modules loaded, waiting for a 'start' message. */
  | { type: 'standby' }
  /** sinceMs: when tcpdump said it is listening; in a hand-over, the previous sniffer's cut-off time. */
  | { type: 'capturing'; revision: number; filter: string; sinceMs: number }
  /** After SIGTERM: the capture has ended and the open batch is in the spool; uploads in flight are draining. */
  | { type: 'capture-stopped'; counters: SnifferCounters }
  | { type: 'counters'; counters: SnifferCounters }
  | { type: 'error'; message: string }
  | { type: 'stopped'; counters: SnifferCounters; drained: boolean }
  /** Every app's ready signal, once capturing (and its metrics server, if any, is up); the listener needs none. */
  | ReadySignal;

/** Messages the listener sends the sniffer. */
export type ListenerMessage =
  /**
   * Standby mode: run this config (JSON text of the agent config). handOver: another sniffer is capturing until
   * this one reports 'capturing'; drop packets captured before that moment.
   */
  | { type: 'start'; config: string; handOver: boolean }
  /**
   * Keep packets captured before atMs only, go on capturing for the linger time (so that libpcap hands over its
   * last block), then stop as on SIGTERM.
   */
  | { type: 'cut'; atMs: number }
  /** The previous sniffer has exited: adopt the batches it left in the spool. */
  | { type: 'rescan' };

/** Set to 1 to start in standby mode: the config comes later in a 'start' message (saves a fork on a change). */
export const STANDBY_ENV = 'FLEETCAP_SNIFFER_STANDBY';
/** Set to 1 when the listener will send 'rescan' once the previous sniffer has left the spool. */
export const DEFER_SCAN_ENV = 'FLEETCAP_SPOOL_DEFER_SCAN';

export function emptyCounters(): SnifferCounters {
  return {
    captured: 0,
    kernelDrops: 0,
    batchesUploaded: 0,
    spooled: 0,
    spoolDropped: 0,
    spoolDroppedPackets: 0,
    rejected: 0,
  };
}

/** The environment variable the listener passes the validated config in (JSON). */
export const CONFIG_ENV = 'FLEETCAP_AGENT_CONFIG';
