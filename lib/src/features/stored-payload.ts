// The content features' input from a stored packet: the transport payload inside the frame splitcap stored (its
// captured bytes from the link-layer header on, cut at FLEETCAP_STORED_FRAME_BYTES), decoded with the same packet
// decoder the sessionizer uses offline, so that serving reads the bytes the dataset export read. Only the first
// CONTENT_BYTES_PER_PACKET are kept: all the features read, and all the session-worker sends to forecast.
import { DecodedPacket, decodePacket } from '../packet/decode.ts';
import { CONTENT_BYTES_PER_PACKET } from './content.ts';

const decoded = new DecodedPacket();

/**
 * The first CONTENT_BYTES_PER_PACKET bytes of the transport payload in `frame` (of link type `linktype`, from a packet
 * of `wireLength` bytes on the wire); undefined when there is no frame (linktype -1: a record of the layout before
 * frames) or it does not decode as TCP/UDP over IP, or not as `proto` when given (the
 * features then read no content for this packet, which a model card counts as a known cost).
 */
export function storedPayload(
  linktype: number,
  frame: Uint8Array,
  wireLength: number,
  proto?: 'tcp' | 'udp',
): Uint8Array | undefined {
  if (frame.length === 0 || linktype < 0) return undefined;
  if (decodePacket(linktype, frame, decoded, wireLength) !== null) return undefined;
  if (proto !== undefined && decoded.proto !== proto) return undefined;
  const end = Math.min(decoded.payloadEnd, decoded.payloadAt + CONTENT_BYTES_PER_PACKET);
  return end > decoded.payloadAt ? frame.subarray(decoded.payloadAt, end) : new Uint8Array(0);
}
