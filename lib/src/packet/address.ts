// Textual forms of IP addresses read straight out of packet bytes, without going through node:net objects.

export function formatIPv4(bytes: Uint8Array, at: number): string {
  // One flat string (join), not a template: a template of 13 characters or more is a tree of concatenations, and
  // every session keeps its two addresses for as long as it lives.
  return [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]].join('.');
}

/**
 * RFC 5952 canonical text: lowercase hex, no leading zeros, the longest run of two or more zero groups (the first
 * one on a tie) written as "::". IPv4-mapped addresses stay in hex (as WHATWG URL and node's URL print them) so that
 * one address has exactly one spelling in session keys.
 */
export function formatIPv6(bytes: Uint8Array, at: number): string {
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let bestStart = -1;
  let bestLength = 0;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    const group = (bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!;
    groups[i] = group;
    if (group === 0) {
      if (runStart < 0) runStart = i;
      const runLength = i - runStart + 1;
      if (runLength > bestLength) {
        bestLength = runLength;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  if (bestLength < 2) return groups.map((g) => g.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g.toString(16));
  const tail = groups.slice(bestStart + bestLength).map((g) => g.toString(16));
  return `${head.join(':')}::${tail.join(':')}`;
}
