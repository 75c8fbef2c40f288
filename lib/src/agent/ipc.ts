// The messages between the listener and the sniffers it forks, over the fork IPC channel, and the environment
// variables the listener starts a sniffer with. Each side checks what it receives with the parser of the other
// side's messages: a message of another version or a stray one is dropped, not half-read.
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const snifferCountersSchema = z.object({
  /** Packets read from the capture. */
  captured: count,
  /** Packets the kernel dropped (libpcap ps_drop, from tcpdump's statistics). */
  kernelDrops: count,
  batchesUploaded: count,
  /** Batches waiting in the spool now. */
  spooled: count,
  /** Batches deleted from the spool to keep it under its bound. */
  spoolDropped: count,
  /** Packets in those batches. */
  spoolDroppedPackets: count,
  /** Batches splitcap refused for good (moved to rejected/). */
  rejected: count,
});
export type SnifferCounters = z.infer<typeof snifferCountersSchema>;

/** Messages the sniffer sends its parent (the listener). */
const snifferMessageSchema = z.discriminatedUnion('type', [
  /** Standby mode: modules loaded, waiting for a 'start' message. */
  z.object({ type: z.literal('standby') }),
  /** sinceMs: when tcpdump said it is listening; in a hand-over, the previous sniffer's cut-off time. */
  z.object({ type: z.literal('capturing'), revision: z.number().int(), filter: z.string(), sinceMs: z.number() }),
  /** After SIGTERM: the capture has ended and the open batch is in the spool; uploads in flight are draining. */
  z.object({ type: z.literal('capture-stopped'), counters: snifferCountersSchema }),
  z.object({ type: z.literal('counters'), counters: snifferCountersSchema }),
  z.object({ type: z.literal('error'), message: z.string() }),
  z.object({ type: z.literal('stopped'), counters: snifferCountersSchema, drained: z.boolean() }),
  // Every app's ready signal (lib/src/runtime/ready.ts), sent once capturing; the listener needs none of it.
  z.object({ type: z.literal('ready'), app: z.string(), pid: z.number().int(), port: z.number().int().nullable() }),
]);
export type SnifferMessage = z.infer<typeof snifferMessageSchema>;

/** Messages the listener sends the sniffer. */
const listenerMessageSchema = z.discriminatedUnion('type', [
  /**
   * Standby mode: run this config (JSON text of the agent config). handOver: another sniffer is capturing until
   * this one reports 'capturing'; drop packets captured before that moment.
   */
  z.object({ type: z.literal('start'), config: z.string(), handOver: z.boolean() }),
  /**
   * Keep packets captured before atMs only, go on capturing for the linger time (so that libpcap hands over its
   * last block), then stop as on SIGTERM.
   */
  z.object({ type: z.literal('cut'), atMs: z.number() }),
  /** The previous sniffer has exited: adopt the batches it left in the spool. */
  z.object({ type: z.literal('rescan') }),
]);
export type ListenerMessage = z.infer<typeof listenerMessageSchema>;

/** A message from a sniffer, or null when the value is none. */
export function parseSnifferMessage(value: unknown): SnifferMessage | null {
  const parsed = snifferMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** A message from the listener, or null when the value is none. */
export function parseListenerMessage(value: unknown): ListenerMessage | null {
  const parsed = listenerMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Set to 1 to start in standby mode: the config comes later in a 'start' message (saves a fork on a change). */
export const STANDBY_ENV = 'FLEETCAP_SNIFFER_STANDBY';
/** Set to 1 when the listener will send 'rescan' once the previous sniffer has left the spool. */
export const DEFER_SCAN_ENV = 'FLEETCAP_SPOOL_DEFER_SCAN';
/** The environment variable the listener passes the validated config in (JSON). */
export const CONFIG_ENV = 'FLEETCAP_AGENT_CONFIG';

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
