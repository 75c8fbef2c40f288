// How uploads travel: HTTPS to splitcap, verified against the CA the agent is given (FLEETCAP_SPLITCAP_CA_FILE;
// without one, the system's CAs). Plain http:// splitcapUrls carry the token and the packets in clear, so the
// sender refuses them unless FLEETCAP_UPLOAD_PLAINTEXT allows it: `loopback` (an http:// URL to a loopback
// address: development on one machine) or `any` (tests through relays, a demo network). The listener checks a new
// config by this rule (an http:// URL is reported in the live node and not applied), the sniffer once more.
import { z } from 'zod';

export const uploadPlaintextPolicies = ['refuse', 'loopback', 'any'] as const;
export type UploadPlaintextPolicy = (typeof uploadPlaintextPolicies)[number];

export const uploadPlaintextSetting = z
  .enum(uploadPlaintextPolicies, { errorMap: () => ({ message: 'must be refuse, loopback or any' }) })
  .default('refuse');

const loopbackHost = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;

/** Why an upload to this URL is refused under this policy, or undefined when it may go. */
export function uploadTransportProblem(splitcapUrl: string, policy: UploadPlaintextPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(splitcapUrl);
  } catch {
    return `splitcapUrl ${JSON.stringify(splitcapUrl)} is not a URL`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:')
    return `splitcapUrl ${splitcapUrl}: only https:// (or http:// for development) is spoken`;
  if (policy === 'any') return undefined;
  if (policy === 'loopback' && loopbackHost.test(url.hostname)) return undefined;
  return `splitcapUrl ${splitcapUrl} is plain HTTP: the token and the packets would travel in clear; use https:// (and FLEETCAP_SPLITCAP_CA_FILE), or FLEETCAP_UPLOAD_PLAINTEXT=loopback for development on loopback${policy === 'loopback' ? ` (${url.hostname} is no loopback address)` : ''}`;
}

/** Whether a request error is a TLS certificate the sender does not trust (wrong CA, wrong name, expired). */
export function isUntrustedCertificate(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED)$/.test(
      code,
    )
  );
}
