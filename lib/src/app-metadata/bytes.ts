// Small readers shared by the parsers: big-endian integers, lines and text, all bounds-checked by the caller's
// lengths so that a parser can never read past what it was given.
import { hash } from 'node:crypto';

/** Longest text field kept (a URI, a user agent): output stays bounded whatever the session carried. */
export const MAX_TEXT = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

export function u24(b: Uint8Array, at: number): number {
  return (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
}

export function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** UTF-8 text (invalid sequences become U+FFFD), at most MAX_TEXT characters. */
export function text(b: Uint8Array, from: number, to: number): string {
  const value = utf8.decode(b.subarray(from, Math.min(to, from + MAX_TEXT * 4)));
  return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
}

const ASCII_SLICE = 4096;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, from: number, to: number): string })
  .latin1Slice;

/**
 * Bytes as ASCII text (each byte one character, as latin1), for protocol tokens already checked to be ASCII. Runs
 * once or more per session and stream: one native call per slice instead of a string concatenation per byte.
 */
export function ascii(b: Uint8Array, from: number, to: number): string {
  // Buffer's latin1 decoder takes any Uint8Array and makes the string in one native call.
  if (to - from > 8 && from >= 0 && to <= b.length) return latin1Slice.call(b, from, to);
  if (to - from <= 8) {
    let out = '';
    for (let i = from; i < to; i++) out += String.fromCharCode(b[i]!);
    return out;
  }
  let out = '';
  for (let at = from; at < to; at += ASCII_SLICE) {
    out += String.fromCharCode.apply(null, b.subarray(at, Math.min(to, at + ASCII_SLICE)) as unknown as number[]);
  }
  return out;
}

/** Index of the first "\n" in b[from, to), or -1. Native search: the parsers look for line ends in binary data too. */
export function indexOfLf(b: Uint8Array, from: number, to: number): number {
  if (from >= to) return -1;
  const at = b.indexOf(0x0a, from);
  return at >= 0 && at < to ? at : -1;
}

/** True when b starts with the ASCII text `prefix` at `at` (case-sensitive). */
export function startsWith(b: Uint8Array, prefix: string, at = 0): boolean {
  if (at + prefix.length > b.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix.charCodeAt(i)) return false;
  return true;
}

export function isPrintableAscii(byte: number): boolean {
  return byte >= 0x20 && byte < 0x7f;
}

// One-shot hashing: a Hash object per call (createHash, update, digest) cost more than the hashing of these short
// strings, and runs for every TLS and SSH session.
export function md5Hex(value: string): string {
  return hash('md5', Buffer.from(value, 'latin1'), 'hex');
}

export function sha256Hex(value: string): string {
  return hash('sha256', Buffer.from(value, 'latin1'), 'hex');
}

export function hex4(value: number): string {
  return value.toString(16).padStart(4, '0');
}
