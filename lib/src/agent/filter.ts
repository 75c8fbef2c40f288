// The capture filter the sniffer really runs (and the listener compiles to validate a config): the operator's filter
// ANDed with an exclusion of the sniffer's own upload connection to splitcap, so that uploads never feed back into
// batches whatever the filter says.

export interface Endpoint {
  host: string;
  port: number;
}

/** Host and TCP port that uploads to `splitcapUrl` go to (brackets of an IPv6 literal removed). */
export function uploadEndpoint(splitcapUrl: string): Endpoint {
  const url = new URL(splitcapUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host, port };
}

/** tcpdump resolves a host name at compile time; a literal is used as is. */
function hostPrimitive(host: string): string {
  if (!/^[A-Za-z0-9.:_-]+$/.test(host))
    throw new Error(`splitcap host ${JSON.stringify(host)} cannot appear in a BPF filter`);
  return `host ${host}`;
}

export function exclusionFilter(splitcapUrl: string): string {
  const { host, port } = uploadEndpoint(splitcapUrl);
  return `not (${hostPrimitive(host)} and tcp port ${port})`;
}

/** `(user) and not (host H and tcp port P)`, or just the exclusion when the user filter is empty. */
export function composeFilter(userFilter: string, splitcapUrl: string): string {
  const exclusion = exclusionFilter(splitcapUrl);
  const user = userFilter.trim();
  return user === '' ? exclusion : `(${user}) and ${exclusion}`;
}
