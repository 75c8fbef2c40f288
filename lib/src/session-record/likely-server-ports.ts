// Zeek decides who the originator of a connection is from its first packet: the sender, unless that packet is not
// a plain SYN (TCP) or is UDP, and its source port is a "likely server port" while its destination port is not. Zeek
// fills `likely_server_ports` from the port sets its base protocol scripts register (HTTP, DNS, TLS, SSH, …); this
// is that union for a default `zeek -r` (bare mode, `zeek -b`, loads only some of the scripts and so has fewer).

const TCP = [
  21, 22, 25, 53, 79, 80, 81, 88, 102, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631, 636, 989, 990,
  992, 993, 995, 1080, 1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000,
  8080, 8888, 20000,
];

const UDP = [
  53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 547, 1812, 2123, 2152, 3389, 3544, 4789, 5060, 5072, 5247, 5353, 5355,
  6081, 20000,
];

export interface LikelyServerPorts {
  tcp: ReadonlySet<number>;
  udp: ReadonlySet<number>;
}

export const ZEEK_LIKELY_SERVER_PORTS: LikelyServerPorts = { tcp: new Set(TCP), udp: new Set(UDP) };

/** Tunnel ports (Teredo, AYIYA, GTP, VXLAN, Geneve, CAPWAP): those Zeek's packet analyzers add even in bare mode. */
const TUNNEL_UDP = [2123, 2152, 3544, 4789, 5072, 5247, 6081];

/** `zeek -b` before a test's own scripts load more. */
export const ZEEK_BARE_LIKELY_SERVER_PORTS: LikelyServerPorts = { tcp: new Set(), udp: new Set(TUNNEL_UDP) };

/**
 * UDP ports of Zeek's DNS analyzer (DNS, NetBIOS name service, mDNS, LLMNR): a connection it analyses is dropped
 * once quiet for about 10 s (dns_session_timeout) instead of UDP's 1 min, so a later query on the same ports is a
 * new connection.
 */
export const ZEEK_DNS_UDP_PORTS: ReadonlySet<number> = new Set([53, 137, 5353, 5355]);
