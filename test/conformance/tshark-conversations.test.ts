// Conformance of `fleetcap sessions` against an independent decoder, over tcpdump's own test captures:
// (1) every file is read or reported, with no crash, no hang (per-file watchdog) and bounded memory;
// (2) for every file whose link types we all support, our TCP/UDP sessions (unordered 5-tuple, packets, bytes)
//     equal tshark's conversations, or the file is listed in tshark-exceptions.json under a category whose shape
//     and evidence this test checks. A listed file that has come to match exactly fails too, so the list stays true.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_LINKTYPES } from '@fleetcap/lib/packet/decode';
import { type OurFileResult, runOurs } from './ours.ts';
import { bytesMatch, endpointKey, mapLimited, runTshark, type TsharkResult, tsharkMalformedFrames } from './tshark.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// FLEETCAP_SHARED_PCAPS points elsewhere (e.g. to check that the test skips loudly when the folder is absent).
const corpus = join(process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps'), 'tcpdump-tests');
const PER_FILE_TIMEOUT_MS = 10_000;
const TSHARK_TIMEOUT_MS = 60_000;
const TSHARK_CONCURRENCY = 2;
const HEAP_LIMIT_MIB = 128;
const PEAK_RSS_LIMIT_KIB = 400 * 1024;

/**
 * Why our sessions may differ from tshark's conversations. `tsharkSeesMore`: tshark dissects something we count
 * as a skip, so each of our sessions must be in tshark's table with at least our packets (tshark may list more);
 * otherwise tshark drops something we sessionize, so each of tshark's conversations must be among ours with at most
 * our packets. `evidence` checks that the file really contains what the category claims (null when it does).
 */
interface Category {
  description: string;
  tsharkSeesMore: boolean;
  /** The same conversations, packets and bytes: only durations may differ. */
  durationOnly?: boolean;
  evidence: (file: string, ours: OurFileResult) => Promise<string | null>;
}

/** IP-in-IP (4), IPv6-in-IP (41), GRE (47), PIM register (103), L2TPv3 (115). */
const TUNNEL_TRANSPORTS = ['4', '41', '47', '103', '115'];
/** L2TP, GTP, Teredo, VXLAN, VXLAN-GPE, Geneve, OpenFlow: payloads tshark dissects as packets. */
const TUNNEL_PORTS = new Set([1701, 2123, 2152, 3544, 4789, 4790, 6081, 6633, 6653]);

function otherTransportCount(ours: OurFileResult, protocols: string[]): number {
  return protocols.reduce((sum, p) => sum + (ours.summary.otherTransport[p] ?? 0), 0);
}

const CATEGORIES: Record<string, Category> = {
  'tunnelled-inner-flows': {
    description:
      'tshark also dissects the TCP/UDP flows carried inside a tunnel or a packet-carrying protocol (IP-in-IP, ' +
      'GRE/ERSPAN/WCCP, PIM register, VXLAN, Geneve, OpenFlow packet-in/out); we sessionize the outer flow only',
    tsharkSeesMore: true,
    evidence: async (_file, ours) =>
      otherTransportCount(ours, TUNNEL_TRANSPORTS) > 0 ||
      ours.sessions.some((s) => TUNNEL_PORTS.has(s.sport) || TUNNEL_PORTS.has(s.dport))
        ? null
        : 'no IP-in-IP/GRE/PIM/L2TPv3 packet and no session on a tunnel port',
  },
  'other-encapsulation': {
    description:
      'tshark reaches IP through a link-layer encapsulation we do not sessionize (MPLS, MACsec, NSH, PPPoE …)',
    tsharkSeesMore: true,
    evidence: async (_file, ours) => ((ours.summary.skipped['not-ip'] ?? 0) > 0 ? null : 'no packet skipped as not-ip'),
  },
  'we-reject-malformed': {
    description: 'we skip as malformed or truncated a packet whose headers lie, that tshark still dissects',
    tsharkSeesMore: true,
    evidence: async (_file, ours) =>
      (ours.summary.skipped.malformed ?? 0) + (ours.summary.skipped.truncated ?? 0) > 0
        ? null
        : 'no packet skipped as malformed or truncated',
  },
  'invalid-timestamps': {
    description:
      'a pcap record whose microsecond field is a second or more: we carry the excess into the seconds, tshark ' +
      'multiplies it into a 32-bit nanosecond field that wraps; packets and bytes agree, only the duration differs',
    tsharkSeesMore: false,
    durationOnly: true,
    evidence: async (_file, ours) =>
      ours.summary.invalidTimestamps > 0 ? null : 'no record with a sub-second field of a second or more',
  },
  'tshark-malformed': {
    description:
      'tshark hits an exception in a header or option it dissects further than we read (e.g. MPTCP options, an ' +
      'IPv6 payload length of 0 from BIG TCP) and leaves the packet out of its tables; our decoder reads it fine',
    tsharkSeesMore: false,
    evidence: async (file) =>
      (await tsharkMalformedFrames(file, TSHARK_TIMEOUT_MS)) > 0 ? null : 'tshark reports no malformed frame',
  },
};

interface Exception {
  category: string;
  reason: string;
}

interface Difference {
  onlyOurs: string[];
  onlyTshark: string[];
  counts: string[];
  /** Conversations whose packets and bytes agree but whose duration differs. */
  durations: string[];
  /** Our sessions that tshark has with fewer packets than us, or not at all. */
  oursNotCovered: string[];
  /** tshark's conversations that we have with fewer packets, or not at all. */
  theirsNotCovered: string[];
}

function compare(ours: OurFileResult, tshark: TsharkResult): Difference {
  const difference: Difference = {
    onlyOurs: [],
    onlyTshark: [],
    counts: [],
    durations: [],
    oursNotCovered: [],
    theirsNotCovered: [],
  };
  const seen = new Set<string>();
  for (const s of ours.sessions) {
    const key = endpointKey(s.proto, s.src, s.sport, s.dst, s.dport);
    seen.add(key);
    const theirs = tshark.conversations.get(key);
    if (!theirs) {
      difference.onlyOurs.push(`${key} (${s.packets} packets)`);
      difference.oursNotCovered.push(key);
      continue;
    }
    // tshark prints the duration with 4 decimals; the float seconds we print are exact to well under that.
    const durationOff = theirs.duration !== undefined && Math.abs(s.last - s.first - theirs.duration) > 0.00006;
    if (theirs.frames !== s.packets || !bytesMatch(theirs, s.bytes) || durationOff) {
      difference.counts.push(
        `${key}: ours ${s.packets} packets ${s.bytes} bytes ${(s.last - s.first).toFixed(6)} s, ` +
          `tshark ${theirs.frames} ${theirs.bytesText} ${theirs.duration} s`,
      );
      if (theirs.frames === s.packets && bytesMatch(theirs, s.bytes)) difference.durations.push(key);
      if (theirs.frames < s.packets) difference.oursNotCovered.push(key);
      if (theirs.frames > s.packets) difference.theirsNotCovered.push(key);
    }
  }
  for (const [key, theirs] of tshark.conversations) {
    if (seen.has(key)) continue;
    difference.onlyTshark.push(`${key} (${theirs.frames} frames)`);
    difference.theirsNotCovered.push(key);
  }
  return difference;
}

function isEqual(d: Difference): boolean {
  return d.onlyOurs.length === 0 && d.onlyTshark.length === 0 && d.counts.length === 0;
}

function describe(d: Difference): string {
  const lines = [
    ...d.onlyOurs.map((x) => `  only ours:   ${x}`),
    ...d.onlyTshark.map((x) => `  only tshark: ${x}`),
    ...d.counts.map((x) => `  counts:      ${x}`),
  ];
  return (lines.length > 12 ? [...lines.slice(0, 12), `  … ${lines.length - 12} more`] : lines).join('\n');
}

test('tshark conversations conformance over ../shared/pcaps/tcpdump-tests', { timeout: 15 * 60_000 }, async (t) => {
  if (!existsSync(corpus)) {
    const message = `SKIPPED: ../shared/pcaps absent (looked for ${corpus}); the tshark conformance test did not run`;
    console.warn(message);
    t.skip(message);
    return;
  }
  const files = readdirSync(corpus)
    .filter((name) => name.endsWith('.pcap') || name.endsWith('.pcapng'))
    .sort()
    .map((name) => join(corpus, name));
  const exceptions = JSON.parse(readFileSync(new URL('./tshark-exceptions.json', import.meta.url), 'utf8')) as Record<
    string,
    Exception
  >;

  const ours = await runOurs(repoRoot, files, PER_FILE_TIMEOUT_MS, HEAP_LIMIT_MIB);

  await t.test('every file is read or reported, without crash, hang or unbounded memory', () => {
    assert.ok(ours.exitCode === 0 || ours.exitCode === 2, `exit code ${ours.exitCode}; stderr:\n${ours.stderr}`);
    const missing = files.filter((f) => !ours.results.has(f));
    assert.deepEqual(missing, [], 'files with no summary line');
    for (const [file, result] of ours.results) {
      if (result.summary.error) assert.match(ours.stderr, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(
        result.summary.read,
        result.summary.decoded + Object.values(result.summary.skipped).reduce((a, b) => a + b, 0),
      );
    }
    assert.ok(ours.peakRssKiB < PEAK_RSS_LIMIT_KIB, `peak RSS ${ours.peakRssKiB} KiB`);
    t.diagnostic(`${files.length} files read, peak RSS ${Math.round(ours.peakRssKiB / 1024)} MiB`);
  });

  await t.test('TCP/UDP sessions equal tshark -z conv,tcp -z conv,udp, or the difference is explained', async (st) => {
    if (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status !== 0) {
      const message = 'SKIPPED: tshark is not installed (Debian package tshark); no comparison was made';
      console.warn(message);
      st.skip(message);
      return;
    }
    const comparable = files.filter((file) => {
      const summary = ours.results.get(file)?.summary;
      return summary && summary.linktypes.length > 0 && summary.linktypes.every((l) => SUPPORTED_LINKTYPES.has(l));
    });
    const tshark = await mapLimited(comparable, TSHARK_CONCURRENCY, (file) => runTshark(file, TSHARK_TIMEOUT_MS));
    const failures: string[] = [];
    const explained: Record<string, number> = {};
    let equal = 0;
    for (const [i, file] of comparable.entries()) {
      const name = file.slice(corpus.length + 1);
      const result = ours.results.get(file)!;
      const difference = compare(result, tshark[i]!);
      const exception = exceptions[name];
      if (isEqual(difference)) {
        if (exception) failures.push(`${name}: listed as ${exception.category} but now equals tshark: remove it`);
        else equal++;
        continue;
      }
      if (!exception) {
        const status =
          tshark[i]!.exitCode === 0 ? '' : ` (tshark exited ${tshark[i]!.exitCode}: ${tshark[i]!.stderr.trim()})`;
        failures.push(`${name}: unexplained difference from tshark${status}\n${describe(difference)}`);
        continue;
      }
      const category = CATEGORIES[exception.category];
      if (!category) {
        failures.push(`${name}: unknown category ${exception.category}`);
        continue;
      }
      const missingEvidence = await category.evidence(file, result);
      const uncovered = category.tsharkSeesMore ? difference.oursNotCovered : difference.theirsNotCovered;
      const onlyDurations =
        difference.onlyOurs.length === 0 &&
        difference.onlyTshark.length === 0 &&
        difference.counts.length === difference.durations.length;
      if (missingEvidence) failures.push(`${name}: ${exception.category} claimed but ${missingEvidence}`);
      else if (category.durationOnly && !onlyDurations) {
        failures.push(`${name}: ${exception.category} allows only durations to differ\n${describe(difference)}`);
      } else if (uncovered.length > 0) {
        failures.push(
          `${name}: ${exception.category} means ${category.tsharkSeesMore ? 'tshark' : 'we'} see(s) more, ` +
            `but these are missing or undercounted there: ${uncovered.join(', ')}\n${describe(difference)}`,
        );
      } else explained[exception.category] = (explained[exception.category] ?? 0) + 1;
    }
    for (const name of Object.keys(exceptions)) {
      if (!comparable.some((file) => file.endsWith(`/${name}`))) failures.push(`${name}: listed but not compared`);
    }
    t.diagnostic(
      `${comparable.length} files compared with tshark: ${equal} equal, explained ${JSON.stringify(explained)}, ` +
        `${failures.length} failures`,
    );
    assert.equal(failures.length, 0, `${failures.length} differences from tshark:\n${failures.join('\n')}`);
  });
});
