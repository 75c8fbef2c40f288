// The real captures of ../shared/pcaps as the detector tests and benchmarks walk them: the attack captures its
// README names, and every other file of zeek/ and tcpdump-tests/ as benign background (each file a capture of its
// own). One walk for the detections corpus test, the detection-alerts corpus test and bench/detectors/lab-corpus.ts.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const repoRoot = new URL('../..', import.meta.url).pathname;

export const sharedPcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
export const FTP_BRUTEFORCE = join(sharedPcaps, 'zeek', 'ftp', 'bruteforce.pcap');
export const NMAP_VSN = join(sharedPcaps, 'zeek', 'nmap-vsn.pcap');

/**
 * Attacks and noise, not benign background: the README's list (ftp/bruteforce, rfb/vnc-scanner, dhcp/dhcp_flood,
 * nmap-vsn), Zeek's SSH password-guessing trace, and the Slips captures named malicious or a port scan.
 */
const NOT_BENIGN =
  /zeek\/ftp\/bruteforce\.pcap$|zeek\/nmap-vsn\.pcap$|zeek\/rfb\/vnc-scanner\.pcap$|zeek\/dhcp\/dhcp_flood\.pcap$|zeek\/ssh\/sshguess\.pcap$|malicious|portscan/;

export function isBenignCapture(path: string): boolean {
  return !NOT_BENIGN.test(path);
}

/** Every file under dir, depth first, in name order. */
export function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

export function haveSharedPcaps(root: string = sharedPcaps): boolean {
  return existsSync(join(root, 'zeek')) && existsSync(join(root, 'tcpdump-tests'));
}

/** The benign captures: zeek/ and tcpdump-tests/ less the attacks. */
export function benignSharedCaptures(root: string = sharedPcaps): string[] {
  return [...filesUnder(join(root, 'zeek')), ...filesUnder(join(root, 'tcpdump-tests'))].filter(isBenignCapture);
}

/** Skips the test loudly (a message on stderr and in the report) when ../shared/pcaps is absent. */
export function skipUnlessShared(t: { skip: (m: string) => void }, what: string): boolean {
  if (haveSharedPcaps()) return false;
  const message = `SKIPPED: ../shared/pcaps absent (looked for ${sharedPcaps}); ${what} did not run`;
  console.warn(message);
  t.skip(message);
  return true;
}
