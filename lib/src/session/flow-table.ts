// A hash table from the binary bidirectional 5-tuple of a decoded packet to a small integer, so that the per-packet
// path of offline sessionizing builds no strings: the key bytes are copied straight from the packet into a reused
// scratch buffer, hashed (FNV-1a), and compared byte for byte with the stored keys. Open addressing with linear
// probing over an Int32Array; the keys live in one growing byte slab.
import type { DecodedPacket } from '../packet/decode.ts';

/** 1 protocol byte, then each endpoint as address (4 or 16 bytes) and port (2 bytes). */
const MAX_KEY_LENGTH = 1 + 2 * (16 + 2);

export interface FlowLookup {
  /** Index of the flow, from 0 in order of first appearance. */
  index: number;
  /** True when this packet created the flow. */
  created: boolean;
  /** True when the packet's source is the flow's binary side "a": the same for every packet of one direction. */
  sideA: boolean;
}

export class FlowTable {
  /** Pairs (hash, index + 1) per slot, 0 index meaning empty: the hash check needs no second memory access. */
  private slots = new Int32Array(2 << 12);
  private mask = (1 << 12) - 1;
  private keys = new Uint8Array(1 << 16);
  private keyEnd = 0;
  private keyOffsets = new Int32Array(1 << 11);
  private count = 0;
  private readonly scratch = new Uint8Array(MAX_KEY_LENGTH);
  private readonly result: FlowLookup = { index: 0, created: false, sideA: true };

  get size(): number {
    return this.count;
  }

  /**
   * Finds or adds the flow of a decoded TCP/UDP packet. The returned object is reused by the next call.
   */
  lookup(packet: DecodedPacket): FlowLookup {
    const bytes = packet.bytes;
    const addressLength = packet.ipVersion === 4 ? 4 : 16;
    const srcAt = packet.srcAt;
    const dstAt = packet.dstAt;
    // Side "a" is the endpoint whose (address, port) bytes compare lower: any fixed order makes the key symmetric.
    let order = 0;
    for (let i = 0; i < addressLength && order === 0; i++) order = bytes[srcAt + i]! - bytes[dstAt + i]!;
    if (order === 0) order = packet.sport - packet.dport;
    const sideA = order <= 0;
    const key = this.scratch;
    const protocol = packet.proto === 'tcp' ? 6 : 17;
    key[0] = protocol;
    const firstAt = sideA ? srcAt : dstAt;
    const secondAt = sideA ? dstAt : srcAt;
    const firstPort = sideA ? packet.sport : packet.dport;
    const secondPort = sideA ? packet.dport : packet.sport;
    // FNV-1a, computed while the key is copied.
    let hash = Math.imul(0x811c9dc5 ^ protocol, 0x01000193);
    let o = 1;
    for (let i = 0; i < addressLength; i++) {
      const value = bytes[firstAt + i]!;
      key[o++] = value;
      hash = Math.imul(hash ^ value, 0x01000193);
    }
    for (let i = 0; i < addressLength; i++) {
      const value = bytes[secondAt + i]!;
      key[o++] = value;
      hash = Math.imul(hash ^ value, 0x01000193);
    }
    key[o++] = firstPort >> 8;
    key[o++] = firstPort & 0xff;
    key[o++] = secondPort >> 8;
    key[o++] = secondPort & 0xff;
    hash = Math.imul(hash ^ ((firstPort << 16) | secondPort), 0x01000193);
    hash ^= hash >>> 15;
    const length = o;

    const result = this.result;
    result.sideA = sideA;
    const slots = this.slots;
    let slot = hash & this.mask;
    for (;;) {
      const entry = slots[2 * slot + 1]!;
      if (entry === 0) break;
      if (slots[2 * slot] === hash && this.sameKey(entry - 1, key, length)) {
        result.index = entry - 1;
        result.created = false;
        return result;
      }
      slot = (slot + 1) & this.mask;
    }
    result.index = this.insert(key, length, hash, slot);
    result.created = true;
    return result;
  }

  private sameKey(index: number, key: Uint8Array, length: number): boolean {
    const at = this.keyOffsets[index]!;
    const keys = this.keys;
    if (keys[at] !== length) return false;
    for (let i = 0; i < length; i++) if (keys[at + 1 + i] !== key[i]) return false;
    return true;
  }

  private insert(key: Uint8Array, length: number, hash: number, slot: number): number {
    const index = this.count++;
    if (index >= this.keyOffsets.length) this.keyOffsets = grow(this.keyOffsets);
    if (this.keyEnd + 1 + length > this.keys.length) {
      const bigger = new Uint8Array(this.keys.length * 2);
      bigger.set(this.keys);
      this.keys = bigger;
    }
    const at = this.keyEnd;
    this.keys[at] = length;
    this.keys.set(key.subarray(0, length), at + 1);
    this.keyEnd += 1 + length;
    this.keyOffsets[index] = at;
    this.slots[2 * slot] = hash;
    this.slots[2 * slot + 1] = index + 1;
    // Keep the load factor under one half so that probe runs stay short.
    if (this.count * 2 > this.mask + 1) this.rehash();
    return index;
  }

  private rehash(): void {
    const capacity = (this.mask + 1) * 2;
    const slots = new Int32Array(2 * capacity);
    const mask = capacity - 1;
    const old = this.slots;
    for (let s = 0; s < old.length; s += 2) {
      const entry = old[s + 1]!;
      if (entry === 0) continue;
      const hash = old[s]!;
      let slot = hash & mask;
      while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
      slots[2 * slot] = hash;
      slots[2 * slot + 1] = entry;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

function grow(array: Int32Array): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}
