// One rule for every parser that runs out of bytes: say why, so that "the store keeps only the first packets"
// (a field a later packet would give) is never counted as malformed data, and the reason can be counted.
import type { DirectionStream } from './tcp-stream.ts';
import type { Findings } from './types.ts';

/**
 * Records that `fields` could not be read because `stream` ends too early. `truncatedCode` is the problem when the
 * stored packets are all the session had (the connection or the capture ended mid-message).
 */
export function streamEndedEarly(
  findings: Findings,
  stream: DirectionStream,
  morePackets: boolean,
  fields: readonly string[],
  truncatedCode: string,
): void {
  switch (stream.ends) {
    case 'end':
      if (morePackets) for (const field of fields) findings.needs(field);
      else findings.problem(truncatedCode);
      return;
    case 'gap':
      findings.problem('tcp.missing_segment');
      return;
    case 'snapped':
      findings.problem('tcp.payload_not_captured');
      return;
    case 'limit':
      findings.problem(truncatedCode.replace(/\.truncated_/, '.too_long_'));
      return;
  }
}
