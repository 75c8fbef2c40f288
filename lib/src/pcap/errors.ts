// A capture file whose structure cannot be trusted past `offset`. The reader throws it instead of guessing,
// so that callers can report exactly where and why a file stopped being readable.
export class PcapFormatError extends Error {
  readonly offset: number;
  readonly reason: string;

  constructor(offset: number, reason: string) {
    super(`${reason} (at file offset ${offset})`);
    this.name = 'PcapFormatError';
    this.offset = offset;
    this.reason = reason;
  }
}
