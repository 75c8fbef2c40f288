// Conformance of our connection records (lib/src/session-record/conn-state.ts) with Zeek's conn.log, over the 99
// conn.log baselines of Zeek's own test suite in ../shared/pcaps/zeek-expected/conn (conn-index.json names each
// one's trace and the command lines that made it). For every log whose trace we read, each of Zeek's connections is
// matched to ours by protocol and endpoints (the baselines mask the timestamps; several connections of one flow
// pair in order of start) and compared: originator, conn_state, history, packets and IP bytes per direction and
// duration (to the µs). A log with any difference must be listed in zeek-conn-exceptions.json with the reason; a
// listed log that has come to match fails too, so the list stays true.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '@fleetcap/lib/packet/decode';
import { originatorOf, type TrackedConnection } from '@fleetcap/lib/session-record/conn-tracker';
import {
  ZEEK_BARE_LIKELY_SERVER_PORTS,
  ZEEK_LIKELY_SERVER_PORTS,
} from '@fleetcap/lib/session-record/likely-server-ports';
import { parseConnLog, trackTrace, type ZeekConn } from './zeek-conn.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const pcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
const expected = join(pcaps, 'zeek-expected');
const traces = join(pcaps, 'zeek');
/** conn.log prints durations with 6 decimals. */
const DURATION_TOLERANCE = 1.5e-6;

interface IndexEntry {
  test: string;
  trace: string;
  log: string;
  exec: string[];
}

interface Exception {
  category: string;
  reason: string;
}

interface Evidence {
  command: string;
  bare: boolean;
  ours: Awaited<ReturnType<typeof trackTrace>>;
  result: LogResult;
  /** The same comparison with the likely server ports of bare mode (before a test script adds any). */
  bareResult: () => Promise<LogResult>;
}

/** IP-in-IP, IPv6-in-IP, GRE (incl. ERSPAN), EtherIP, L2TPv3. */
const TUNNEL_PROTOCOLS = [4, 41, 47, 97, 115];
/** Teredo, VXLAN, Geneve, GTP, AYIYA, GRE over UDP, L2TP, CAPWAP. */
const TUNNEL_PORTS = new Set([3544, 4789, 6081, 2152, 2123, 5072, 4754, 1701, 5247]);

/**
 * Why a log may differ from ours; `evidence` checks the trace or the command really has what the category claims
 * (null when it does).
 */
const CATEGORIES: Record<string, { description: string; evidence: (e: Evidence) => Promise<string | null> }> = {
  tunnel: {
    description: 'Zeek decapsulates the tunnel and logs the flows inside it too; we follow the outer flow only',
    evidence: async ({ ours }) =>
      TUNNEL_PROTOCOLS.some((p) => (ours.ipProtocols[p] ?? 0) > 0) ||
      ours.connections.some((c) => TUNNEL_PORTS.has(c.initiatorPort) || TUNNEL_PORTS.has(c.responderPort))
        ? null
        : 'no tunnel protocol packet and no flow on a tunnel port',
  },
  encapsulation: {
    description:
      'Zeek reaches IP through a link layer we do not decode (MPLS, PPPoE, PPP, PBB, FabricPath, VN-Tag, 802.11)',
    evidence: async ({ ours }) =>
      (ours.skipped['not-ip'] ?? 0) + (ours.skipped['unsupported-linktype'] ?? 0) > 0
        ? null
        : 'no packet skipped as not-ip or of an unsupported link type',
  },
  fragments: {
    description: 'Zeek reassembles IP fragments into one packet; we count the first fragment only',
    evidence: async ({ ours }) => ((ours.skipped.fragment ?? 0) > 0 ? null : 'no fragment in the trace'),
  },
  'bare-mode-ports': {
    description:
      'zeek -b loads only the scripts the test names, so fewer ports are likely server ports and Zeek keeps the ' +
      'sender of a first SYN-ACK or UDP packet as the originator where the default scripts flip it',
    evidence: async ({ bare, bareResult }) => {
      if (!bare) return 'the command does not run zeek -b';
      return (await bareResult()).lines.length === 0 ? null : 'bare-mode likely server ports do not explain it';
    },
  },
  'content-gaps': {
    description: "Zeek's history marks content gaps (g), which need stream reassembly; the record keeps no segments",
    evidence: async ({ result }) =>
      result.onlyZeek === 0 &&
      result.onlyOurs === 0 &&
      result.differing.every(
        (d) => d.fields.join() === 'history' && d.zeek.history.replace(/[gG]/g, '') === d.ours.record.history,
      )
        ? null
        : 'the differences are not only g/G letters of the history',
  },
  script: {
    description:
      'a Zeek protocol analyzer or the test script changes the connection (roles flipped by an analyzer, ' +
      'analysis skipped, packets dropped or filtered, weird letters)',
    evidence: async ({ command, bare }) =>
      command.includes('%INPUT') || !bare ? null : 'the command runs no script and no analyzer',
  },
};

function protoNumber(row: ZeekConn): number {
  if (row.ipProto !== undefined) return row.ipProto;
  if (row.proto === 'tcp') return IPPROTO_TCP;
  if (row.proto === 'udp') return IPPROTO_UDP;
  if (row.proto === 'icmp') return row.origH.includes(':') ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  return -1;
}

function flowKey(protocol: number, a: string, aPort: number, b: string, bPort: number): string {
  const x = `${a}|${aPort}`;
  const y = `${b}|${bPort}`;
  return x <= y ? `${protocol} ${x} ${y}` : `${protocol} ${y} ${x}`;
}

/** Zeek logs ports 0 for protocols it has no analyzer for; we keep SCTP's. */
function zeekPorts(c: TrackedConnection): [number, number] {
  const known = c.protocol === IPPROTO_TCP || c.protocol === IPPROTO_UDP || c.protocol === IPPROTO_ICMP;
  return known || c.protocol === IPPROTO_ICMPV6 ? [c.initiatorPort, c.responderPort] : [0, 0];
}

function describeOurs(c: TrackedConnection): string {
  const o = originatorOf(c);
  const [op, rp] = c.record.originatorIsResponder ? zeekPorts(c).reverse() : zeekPorts(c);
  const r = c.record;
  return (
    `${o.origH}:${op} -> ${o.respH}:${rp} ${r.connState} ${r.history || '-'} ` +
    `${r.origPkts}/${r.origIpBytes} ${r.respPkts}/${r.respIpBytes} ${r.duration.toFixed(6)}`
  );
}

function describeZeek(z: ZeekConn): string {
  return (
    `${z.origH}:${z.origP} -> ${z.respH}:${z.respP} ${z.connState} ${z.history || '-'} ` +
    `${z.origPkts}/${z.origIpBytes} ${z.respPkts}/${z.respIpBytes} ${z.duration.toFixed(6)}`
  );
}

function differences(z: ZeekConn, c: TrackedConnection): string[] {
  const o = originatorOf(c);
  const r = c.record;
  const [op] = c.record.originatorIsResponder ? zeekPorts(c).reverse() : zeekPorts(c);
  const out: string[] = [];
  if (o.origH !== z.origH || op !== z.origP) out.push('originator');
  if (r.connState !== z.connState) out.push('conn_state');
  if (r.history !== z.history) out.push('history');
  if (r.origPkts !== z.origPkts || r.respPkts !== z.respPkts) out.push('packets');
  if (r.origIpBytes !== z.origIpBytes || r.respIpBytes !== z.respIpBytes) out.push('ip_bytes');
  if (Math.abs(r.duration - z.duration) > DURATION_TOLERANCE) out.push('duration');
  return out;
}

interface LogResult {
  compared: number;
  equal: number;
  lines: string[];
  onlyOurs: number;
  onlyZeek: number;
  /** Matched connections that differ, with the names of the differing fields. */
  differing: Array<{ zeek: ZeekConn; ours: TrackedConnection; fields: string[] }>;
}

function compareLog(rows: ZeekConn[], ours: TrackedConnection[]): LogResult {
  const byKey = new Map<string, TrackedConnection[]>();
  for (const c of ours) {
    const [ip, rp] = zeekPorts(c);
    const key = flowKey(c.protocol, c.initiator, ip, c.responder, rp);
    byKey.set(key, [...(byKey.get(key) ?? []), c]);
  }
  const result: LogResult = { compared: 0, equal: 0, lines: [], onlyOurs: 0, onlyZeek: 0, differing: [] };
  for (const z of rows) {
    result.compared++;
    const candidates = byKey.get(flowKey(protoNumber(z), z.origH, z.origP, z.respH, z.respP)) ?? [];
    if (candidates.length === 0) {
      result.onlyZeek++;
      result.lines.push(`  only Zeek: ${describeZeek(z)}`);
      continue;
    }
    const exact = candidates.findIndex((c) => differences(z, c).length === 0);
    const [c] = candidates.splice(Math.max(exact, 0), 1) as [TrackedConnection];
    const diff = differences(z, c);
    if (diff.length === 0) result.equal++;
    else result.differing.push({ zeek: z, ours: c, fields: diff });
    if (diff.length > 0)
      result.lines.push(`  ${diff.join(',')}:\n    zeek ${describeZeek(z)}\n    ours ${describeOurs(c)}`);
  }
  for (const rest of byKey.values()) {
    for (const c of rest) {
      result.onlyOurs++;
      result.lines.push(`  only ours: ${describeOurs(c)}`);
    }
  }
  return result;
}

test('Zeek conn.log conformance over ../shared/pcaps/zeek-expected/conn', { timeout: 10 * 60_000 }, async (t) => {
  if (!existsSync(join(expected, 'conn-index.json')) || !existsSync(traces)) {
    const message = `SKIPPED: ../shared/pcaps absent (looked for ${expected} and ${traces}); the Zeek conn.log conformance test did not run`;
    console.warn(message);
    t.skip(message);
    return;
  }
  const index = JSON.parse(readFileSync(join(expected, 'conn-index.json'), 'utf8')) as IndexEntry[];
  const exceptions = JSON.parse(
    readFileSync(new URL('./zeek-conn-exceptions.json', import.meta.url), 'utf8'),
  ) as Record<string, Exception>;
  const failures: string[] = [];
  const report: string[] = [];
  let logs = 0;
  let equalLogs = 0;
  let explainedLogs = 0;
  let compared = 0;
  let equal = 0;
  let flowsInExplainedLogs = 0;
  const explained: Record<string, number> = {};
  const cache = new Map<string, Awaited<ReturnType<typeof trackTrace>>>();
  for (const entry of index) {
    const trace = join(traces, entry.trace);
    if (!existsSync(trace)) {
      failures.push(`${entry.test}: trace ${entry.trace} missing`);
      continue;
    }
    const zeekCommand = entry.exec.find((line) => /\bzeek\b/.test(line) && !line.includes('btest-diff')) ?? '';
    // Zeek without -C verifies checksums and drops what fails; with -C it takes every packet.
    const verifyChecksums = !/\s-C\b/.test(zeekCommand);
    // Bare mode (-b) loads only the scripts the test names, so Zeek knows fewer likely server ports.
    const bare = /\s-b\b/.test(zeekCommand);
    // A capture filter of the one form the baselines use: -f "port N".
    const filterPort = Number(/-f "port (\d+)"/.exec(zeekCommand)?.[1] ?? Number.NaN);
    const keep = Number.isNaN(filterPort)
      ? undefined
      : (p: { sport: number; dport: number }) => p.sport === filterPort || p.dport === filterPort;
    const cacheKey = `${entry.trace}|${verifyChecksums}|${bare}|${filterPort}`;
    let ours = cache.get(cacheKey);
    if (!ours) {
      ours = await trackTrace(trace, { verifyChecksums, likelyServerPorts: ZEEK_LIKELY_SERVER_PORTS }, keep);
      cache.set(cacheKey, ours);
    }
    const rows = parseConnLog(readFileSync(join(expected, entry.log), 'utf8'));
    const result = compareLog(rows, ours.connections);
    logs++;
    compared += result.compared;
    equal += result.equal;
    const same = result.lines.length === 0;
    const exception = exceptions[entry.test];
    if (same) {
      if (exception) failures.push(`${entry.test}: listed in zeek-conn-exceptions.json but now equals Zeek: remove it`);
      else equalLogs++;
    } else if (exception) {
      const category = CATEGORIES[exception.category];
      const missing = category
        ? await category.evidence({
            command: zeekCommand,
            bare,
            ours,
            result,
            bareResult: async () => {
              const bareOurs = await trackTrace(
                trace,
                { verifyChecksums, likelyServerPorts: ZEEK_BARE_LIKELY_SERVER_PORTS },
                keep,
              );
              return compareLog(rows, bareOurs.connections);
            },
          })
        : `unknown category ${exception.category}`;
      if (missing) failures.push(`${entry.test}: ${exception.category} claimed but ${missing}`);
      else {
        explainedLogs++;
        explained[exception.category] = (explained[exception.category] ?? 0) + 1;
        flowsInExplainedLogs += result.compared;
      }
    } else {
      failures.push(
        `${entry.test} (${entry.trace}; ${zeekCommand.replace('# @TEST-EXEC: ', '')}): ` +
          `${result.compared - result.equal} of ${result.compared} connections differ, ${result.onlyOurs} only ours\n` +
          result.lines.slice(0, 12).join('\n') +
          (result.lines.length > 12 ? `\n  … ${result.lines.length - 12} more` : ''),
      );
    }
    if (process.env.FLEETCAP_ZEEK_REPORT && !same) report.push(`${entry.test}:\n${result.lines.join('\n')}`);
  }
  for (const name of Object.keys(exceptions)) {
    if (!index.some((e) => e.test === name)) failures.push(`${name}: listed but not in conn-index.json`);
    else if (!exceptions[name]!.reason) failures.push(`${name}: listed without a reason`);
    else if (!CATEGORIES[exceptions[name]!.category]) failures.push(`${name}: unknown category`);
  }
  if (report.length > 0) console.log(report.join('\n'));
  t.diagnostic(
    `${logs} conn.logs compared with Zeek: ${equalLogs} equal, ${explainedLogs} explained ${JSON.stringify(explained)}, ` +
      `${failures.length} failures; connections: ${compared} compared, ${equal} equal ` +
      `(${flowsInExplainedLogs} of them in explained logs)`,
  );
  assert.equal(failures.length, 0, `${failures.length} differences from Zeek:\n${failures.join('\n')}`);
});
