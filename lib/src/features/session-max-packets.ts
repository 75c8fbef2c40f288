// Apart from features.ts so that the offline commands, which keep this many packets per session, do not load the
// feature extraction to learn the number.

/** Packets per session used by the features: splitcap's FLEETCAP_SESSION_MAX_PACKETS default. */
export const SESSION_MAX_PACKETS = 24;
