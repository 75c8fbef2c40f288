// Conformance of the application metadata (lib/src/app-metadata) against tshark's own dissection of Zeek's test
// traces (http/, tls/, dns/, ssh/ of ../shared/pcaps/zeek):
//   for every session and field, tshark's first value in the frames the store keeps (the first SESSION_MAX_PACKETS
//   packets of the session) must equal ours, or the file and field are listed in app-metadata-exceptions.json with
//   the reason. A listed difference that has gone away fails too, so the list stays true.
// Sessions are matched by frame: our sessionizer runs in process and records which frames each session stored, and
// each tshark row is checked to carry that session's 5-tuple. tshark values found only in frames past the stored ones
// are counted apart ("beyond"): they are what `needsMorePackets` is about, not differences.
// JA4: tshark 4.0 has no tls.handshake.ja4 (Wireshark added it in 4.2), so JA4 is computed here from tshark's
// ClientHello fields (ciphers, extension types, signature algorithms, supported versions, ALPN) with the public
// algorithm, and, when the PyPI package ja4plus is installed (FLEETCAP_JA4PLUS=path of its `ja4plus` command),
// also compared with that independent implementation.
// Default run: every trace of http/, tls/, dns/ and ssh/ (190 files, about 1.5-3 minutes with tshark's outputs not
// yet cached, seconds once they are); FLEETCAP_CONFORMANCE_FULL=1 runs every trace of zeek/ (all its protocols).
// A listed difference must be real: app-metadata-exceptions.json names file → field → reason ("zeek.service" for the
// test against Zeek's conn.logs below).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { appMetadataOf } from '@fleetcap/lib/app-metadata/detect';
import { appSessionOf, PAYLOAD_BYTES_KEPT } from '@fleetcap/lib/app-metadata/from-session';
import { tlsVersionName } from '@fleetcap/lib/app-metadata/tls';
import type { AppMetadata } from '@fleetcap/lib/app-metadata/types';
import { SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { type Session, Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { mapLimited } from './tshark.ts';
import { type TsharkFrame, tsharkAppFrames } from './tshark-app-fields.ts';
import { ja4FromTsharkFrame } from './tshark-ja4.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const zeekTraces = join(process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps'), 'zeek');
const FOLDERS = ['http', 'tls', 'dns', 'ssh'];
const FULL = process.env.FLEETCAP_CONFORMANCE_FULL === '1';
/** FLEETCAP_CONFORMANCE_VERBOSE=1 also lists the values only we found. */
const VERBOSE = process.env.FLEETCAP_CONFORMANCE_VERBOSE === '1';
const TSHARK_TIMEOUT_MS = 120_000;
const TSHARK_CONCURRENCY = 2;

/** Capture files under `dir`, recursively, as paths relative to zeekTraces. */
function traceFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return traceFiles(join(dir, entry.name), relative);
    return /\.(pcap|pcapng|cap|trace)$/.test(entry.name) ? [relative] : [];
  });
}

interface OurSession {
  session: Session;
  stored: Set<number>;
  frames: number[];
  metadata: AppMetadata;
}

/** Our sessions of a file, with the frame numbers (1-based, as tshark counts) each one holds and stored. */
function ourSessions(file: string): { sessions: OurSession[]; frameSession: Map<number, OurSession> } {
  const sessionizer = new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT });
  const views = new Map<Session, OurSession>();
  const frameSession = new Map<number, OurSession>();
  let frame = 0;
  try {
    for (const packet of readCaptureBuffer(readFileSync(file))) {
      frame++;
      const session = sessionizer.add(packet);
      if (!session) continue;
      let view = views.get(session);
      if (!view) {
        view = { session, stored: new Set(), frames: [], metadata: { problems: [], needsMorePackets: [] } };
        views.set(session, view);
      }
      view.frames.push(frame);
      if (view.stored.size < session.packetsKept) view.stored.add(frame);
      frameSession.set(frame, view);
    }
  } catch {
    // A file that ends in a broken record: its sessions up to there are compared.
  }
  for (const view of views.values()) view.metadata = appMetadataOf(appSessionOf(view.session));
  return { sessions: [...views.values()], frameSession };
}

type FieldName =
  | 'service'
  | 'http.method'
  | 'http.uri'
  | 'http.host'
  | 'http.userAgent'
  | 'http.status'
  | 'tls.recordVersion'
  | 'tls.clientVersion'
  | 'tls.sni'
  | 'tls.alpn'
  | 'tls.ja4'
  | 'tls.serverVersion'
  | 'dns.queryName'
  | 'dns.queryType'
  | 'dns.rcode'
  | 'dns.answers'
  | 'ssh.client'
  | 'ssh.server'
  | 'ssh.hassh'
  | 'ssh.hasshServer';

/** A field's value from tshark's frames of one session (in frame order), or undefined where tshark has none. */
type TsharkValue = (frames: TsharkFrame[]) => string | undefined;

const first = (frame: TsharkFrame | undefined, field: keyof TsharkFrame) =>
  frame ? (frame[field] as string[] | undefined)?.[0] : undefined;
const firstRequest = (frames: TsharkFrame[]) => frames.find((f) => f['http.request.method']);
const clientHello = (frames: TsharkFrame[]) => frames.find((f) => f['tls.handshake.type']?.includes('1'));
const serverHello = (frames: TsharkFrame[]) => frames.find((f) => f['tls.handshake.type']?.includes('2'));
const version = (hex: string | undefined) => (hex === undefined ? undefined : tlsVersionName(Number(hex)));
const firstQuestion = (frames: TsharkFrame[]) => frames.find((f) => f['dns.qry.name'] || f['dns.qry.type']);
const sshFrom = (frames: TsharkFrame[], direction: string) =>
  frames.find((f) => f['ssh.protocol'] && f['ssh.direction']?.[0] === direction);

function firstResponse(frames: TsharkFrame[]): TsharkFrame | undefined {
  const queryId = first(
    frames.find((f) => f['dns.flags.response']?.[0] === '0'),
    'dns.id',
  );
  const responses = frames.filter((f) => f['dns.flags.response']?.[0] === '1');
  return responses.find((f) => queryId === undefined || f['dns.id']?.[0] === queryId) ?? responses[0];
}

/** The protocols of the four tshark dissects here, in the order its frames show them ("http,ssl"). */
const COMPARED_SERVICES = ['http', 'ssl', 'ssh', 'dns'];
function tsharkService(frames: TsharkFrame[]): string | undefined {
  const seen: string[] = [];
  for (const f of frames) {
    const here = [
      f['http.request.method'] || f['http.response.code'] ? 'http' : '',
      f['tls.handshake.type'] ? 'ssl' : '',
      f['ssh.protocol'] ? 'ssh' : '',
      f['dns.flags.response'] ? 'dns' : '',
    ];
    for (const name of here) if (name && !seen.includes(name)) seen.push(name);
  }
  return seen.length > 0 ? seen.join(',') : undefined;
}

/** Our service less the protocols tshark is not asked about (a STARTTLS session's "imap,ssl" is "ssl" here). */
function comparedService(service: string | undefined): string | undefined {
  const names = (service ?? '').split(',').filter((n) => COMPARED_SERVICES.includes(n));
  return names.length > 0 ? names.join(',') : undefined;
}

/** tshark writes a DNS name it cannot read as a "<...>" note; the root is "<Root>". */
function dnsName(name: string | undefined): string | undefined {
  if (name === '<Root>') return '.';
  return name;
}

const FIELDS: Record<FieldName, { tshark: TsharkValue; ours: (m: AppMetadata) => string | undefined }> = {
  service: { tshark: tsharkService, ours: (m) => comparedService(m.service) },
  'http.method': { tshark: (f) => first(firstRequest(f), 'http.request.method'), ours: (m) => m.http?.method },
  'http.uri': { tshark: (f) => first(firstRequest(f), 'http.request.uri'), ours: (m) => m.http?.uri },
  'http.host': { tshark: (f) => first(firstRequest(f), 'http.host'), ours: (m) => m.http?.host },
  'http.userAgent': { tshark: (f) => first(firstRequest(f), 'http.user_agent'), ours: (m) => m.http?.userAgent },
  'http.status': {
    tshark: (f) =>
      first(
        f.find((x) => x['http.response.code']),
        'http.response.code',
      ),
    ours: (m) => m.http?.status?.toString(),
  },
  'tls.recordVersion': {
    tshark: (f) => version(first(clientHello(f), 'tls.record.version')),
    ours: (m) => m.tls?.recordVersion,
  },
  'tls.clientVersion': {
    tshark: (f) => version(first(clientHello(f), 'tls.handshake.version')),
    ours: (m) => m.tls?.clientVersion,
  },
  'tls.sni': { tshark: (f) => first(clientHello(f), 'tls.handshake.extensions_server_name'), ours: (m) => m.tls?.sni },
  'tls.alpn': {
    tshark: (f) => clientHello(f)?.['tls.handshake.extensions_alpn_str']?.join(','),
    ours: (m) => m.tls?.alpn?.join(','),
  },
  'tls.ja4': {
    tshark: (f) => {
      const hello = clientHello(f);
      return hello ? ja4FromTsharkFrame(hello) : undefined;
    },
    ours: (m) => m.tls?.ja4,
  },
  'tls.serverVersion': {
    tshark: (f) => {
      const hello = serverHello(f);
      if (!hello) return undefined;
      // In a ServerHello frame supported_version is the chosen one; the frame's first handshake version is its own.
      return version(
        first(hello, 'tls.handshake.extensions.supported_version') ?? first(hello, 'tls.handshake.version'),
      );
    },
    ours: (m) => m.tls?.serverVersion,
  },
  'dns.queryName': { tshark: (f) => dnsName(first(firstQuestion(f), 'dns.qry.name')), ours: (m) => m.dns?.queryName },
  'dns.queryType': {
    tshark: (f) => first(firstQuestion(f), 'dns.qry.type'),
    ours: (m) => m.dns?.queryType?.toString(),
  },
  'dns.rcode': { tshark: (f) => first(firstResponse(f), 'dns.flags.rcode'), ours: (m) => m.dns?.rcode?.toString() },
  'dns.answers': {
    tshark: (f) => first(firstResponse(f), 'dns.count.answers'),
    ours: (m) => m.dns?.answers?.toString(),
  },
  'ssh.client': { tshark: (f) => first(sshFrom(f, '0'), 'ssh.protocol'), ours: (m) => m.ssh?.client },
  'ssh.server': { tshark: (f) => first(sshFrom(f, '1'), 'ssh.protocol'), ours: (m) => m.ssh?.server },
  'ssh.hassh': {
    tshark: (f) =>
      first(
        f.find((x) => x['ssh.kex.hassh']),
        'ssh.kex.hassh',
      ),
    ours: (m) => m.ssh?.hassh,
  },
  'ssh.hasshServer': {
    tshark: (f) =>
      first(
        f.find((x) => x['ssh.kex.hasshserver']),
        'ssh.kex.hasshserver',
      ),
    ours: (m) => m.ssh?.hasshServer,
  },
};

interface Counts {
  compared: number;
  equal: number;
  explained: number;
  oursOnly: number;
  tsharkBeyondStored: number;
  tsharkNote: number;
}

function emptyCounts(): Counts {
  return { compared: 0, equal: 0, explained: 0, oursOnly: 0, tsharkBeyondStored: 0, tsharkNote: 0 };
}

/**
 * True unless tshark's frame clearly belongs to another flow than our session: the frame's source endpoint and
 * destination port must be one side and the other side's port. (The destination address is left out: for an IPv6
 * packet with a routing header we take the final destination, tshark the current one.)
 */
function sameFlow(frame: TsharkFrame, s: Session): boolean {
  const src = frame['ip.src']?.[0] ?? frame['ipv6.src']?.[0];
  const sport = frame['tcp.srcport']?.[0] ?? frame['udp.srcport']?.[0];
  const dport = frame['tcp.dstport']?.[0] ?? frame['udp.dstport']?.[0];
  if (!src || !sport || !dport) return true;
  const from = `${normalizeAddress(src)}|${sport}`;
  return (
    (from === `${s.src}|${s.sport}` && Number(dport) === s.dport) ||
    (from === `${s.dst}|${s.dport}` && Number(dport) === s.sport)
  );
}

function normalizeAddress(address: string): string {
  if (!address.includes(':')) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

function sessionEndpoints(s: Session): string {
  const a = `${s.src}|${s.sport}`;
  const b = `${s.dst}|${s.dport}`;
  return a <= b ? `${a} ${b}` : `${b} ${a}`;
}

function ja4plusFingerprints(file: string): Map<string, string> | undefined {
  const command = process.env.FLEETCAP_JA4PLUS;
  if (!command) return undefined;
  const out = execFileSync(command, ['--format', 'json', '--types', 'ja4', 'analyze', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const bySession = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as {
      type: string;
      fingerprint: string;
      src_ip: string;
      src_port: number;
      dst_ip: string;
      dst_port: number;
    };
    if (r.type !== 'ja4') continue;
    const a = `${normalizeAddress(r.src_ip)}|${r.src_port}`;
    const b = `${normalizeAddress(r.dst_ip)}|${r.dst_port}`;
    const key = a <= b ? `${a} ${b}` : `${b} ${a}`;
    if (!bySession.has(key)) bySession.set(key, r.fingerprint);
  }
  return bySession;
}

test('application metadata equals tshark on the zeek traces, or the difference is explained', {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!existsSync(zeekTraces)) {
    const message = `SKIPPED: ../shared/pcaps absent (looked for ${zeekTraces}); the application-metadata conformance test did not run`;
    console.warn(message);
    t.skip(message);
    return;
  }
  if (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status !== 0) {
    const message =
      'SKIPPED: tshark is not installed (Debian package tshark); no application-metadata comparison was made';
    console.warn(message);
    t.skip(message);
    return;
  }
  // FLEETCAP_CONFORMANCE_FILES=substring narrows the run to matching traces (to look at one difference).
  const only = process.env.FLEETCAP_CONFORMANCE_FILES;
  const files = (FULL ? traceFiles(zeekTraces) : FOLDERS.flatMap((f) => traceFiles(join(zeekTraces, f), f)))
    .filter((f) => !only || f.includes(only))
    .sort();
  const exceptions = JSON.parse(
    readFileSync(new URL('./app-metadata-exceptions.json', import.meta.url), 'utf8'),
  ) as Record<string, Record<string, string>>;
  const tsharkFrames = await mapLimited(files, TSHARK_CONCURRENCY, (f) =>
    tsharkAppFrames(join(zeekTraces, f), TSHARK_TIMEOUT_MS),
  );

  const counts = Object.fromEntries(Object.keys(FIELDS).map((f) => [f, emptyCounts()])) as Record<FieldName, Counts>;
  const ja4plus = { compared: 0, equal: 0 };
  const failures: string[] = [];
  const differing = new Map<string, Set<string>>();
  let sessionsTotal = 0;
  let tunnelledFrames = 0;
  for (const [i, name] of files.entries()) {
    const { sessions, frameSession } = ourSessions(join(zeekTraces, name));
    sessionsTotal += sessions.length;
    const framesBySession = new Map<OurSession, TsharkFrame[]>();
    for (const frame of tsharkFrames[i]!) {
      const view = frameSession.get(frame.frame);
      if (!view) continue;
      // A tunnel (IP-in-IP, GRE, VXLAN, Teredo…): tshark's application fields are the inner flow's, which we do
      // not sessionize (our session is the outer one).
      if ((frame['ip.src']?.length ?? 0) + (frame['ipv6.src']?.length ?? 0) > 1) {
        tunnelledFrames++;
        continue;
      }
      if (!sameFlow(frame, view.session)) {
        failures.push(`${name}: frame ${frame.frame} is another flow for tshark than ${view.session.key} for us`);
        continue;
      }
      framesBySession.get(view)?.push(frame) ?? framesBySession.set(view, [frame]);
    }
    const listed = exceptions[name] ?? {};
    const fileDiffs = new Set<string>();
    let ja4plusBySession: Map<string, string> | undefined;
    if (name.startsWith('tls/')) ja4plusBySession = ja4plusFingerprints(join(zeekTraces, name));
    for (const view of sessions) {
      const all = framesBySession.get(view) ?? [];
      const stored = all.filter((f) => view.stored.has(f.frame));
      for (const [field, spec] of Object.entries(FIELDS) as [FieldName, (typeof FIELDS)[FieldName]][]) {
        const c = counts[field];
        const theirs = spec.tshark(stored);
        const ours = spec.ours(view.metadata);
        if (theirs === undefined) {
          if (ours !== undefined) {
            c.oursOnly++;
            if (VERBOSE) console.log(`ours only: ${name} ${view.session.key} ${field} ${JSON.stringify(ours)}`);
          } else if (spec.tshark(all) !== undefined) c.tsharkBeyondStored++;
          continue;
        }
        // tshark's note in place of a name it could not read (a compression loop): ours must be empty, and the
        // question's type after it is not compared either.
        const note = field.startsWith('dns.query') && FIELDS['dns.queryName'].tshark(stored)?.startsWith('<');
        if (note) {
          c.tsharkNote++;
          if (ours !== undefined) fileDiffs.add(field);
          continue;
        }
        c.compared++;
        if (theirs === ours) c.equal++;
        else {
          fileDiffs.add(field);
          if (listed[field]) c.explained++;
          else
            failures.push(
              `${name} ${view.session.key} ${field}: tshark ${JSON.stringify(theirs)}, ours ${JSON.stringify(ours)}`,
            );
        }
      }
      const independent = ja4plusBySession?.get(sessionEndpoints(view.session));
      if (independent !== undefined && view.metadata.tls?.ja4 !== undefined) {
        ja4plus.compared++;
        if (independent === view.metadata.tls.ja4) ja4plus.equal++;
        else failures.push(`${name} ${view.session.key} ja4: ja4plus ${independent}, ours ${view.metadata.tls.ja4}`);
      }
    }
    differing.set(name, fileDiffs);
    for (const field of Object.keys(listed)) {
      if (field.startsWith('zeek.')) continue;
      if (!fileDiffs.has(field))
        failures.push(`${name}: ${field} is listed in app-metadata-exceptions.json but now equals tshark: remove it`);
    }
  }
  for (const [name, fields] of Object.entries(exceptions)) {
    if (Object.keys(fields).every((f) => f.startsWith('zeek.'))) continue;
    if (!existsSync(join(zeekTraces, name))) {
      failures.push(`${name}: listed in app-metadata-exceptions.json but not a trace of zeek/`);
    }
  }

  const rows = Object.entries(counts).map(
    ([field, c]) =>
      `${field.padEnd(18)} ${String(c.compared).padStart(8)} ${String(c.equal).padStart(6)} ${String(c.explained).padStart(9)} ${String(c.oursOnly).padStart(9)} ${String(c.tsharkBeyondStored).padStart(14)}`,
  );
  const report = [
    `application metadata vs tshark ${FULL ? '(full run: every trace of zeek/)' : `(${FOLDERS.join(', ')}; FLEETCAP_CONFORMANCE_FULL=1 for every trace of zeek/)`}: ` +
      `${files.length} files, ${sessionsTotal} sessions, compared on the first ${SESSION_MAX_PACKETS} packets of each session`,
    `${'field'.padEnd(18)} ${'compared'.padStart(8)} ${'equal'.padStart(6)} ${'explained'.padStart(9)} ${'ours-only'.padStart(9)} ${'tshark-beyond'.padStart(14)}`,
    ...rows,
    `dns names tshark could not read (its "<...>" note): ${counts['dns.queryName'].tsharkNote}; ` +
      `tunnelled frames not compared (inner flows): ${tunnelledFrames}`,
    ja4plusBySessionNote(ja4plus),
  ];
  console.log(report.join('\n'));
  t.diagnostic(report.join(' | '));
  if (failures.length > 0) console.log(`unexplained differences:\n${failures.join('\n')}`);
  assert.deepEqual(failures, [], `${failures.length} unexplained differences`);
});

function ja4plusBySessionNote(ja4plus: { compared: number; equal: number }): string {
  if (!process.env.FLEETCAP_JA4PLUS) {
    return 'ja4plus: not run (set FLEETCAP_JA4PLUS to the ja4plus command of `pip install ja4plus` for an independent JA4 check)';
  }
  return `ja4 vs ja4plus (PyPI, independent implementation): ${ja4plus.compared} compared, ${ja4plus.equal} equal`;
}

/** Zeek's names for what we recognise; a flow where Zeek names another protocol too is compared on these. */
const OUR_SERVICES = new Set([
  'http',
  'ssl',
  'dns',
  'ssh',
  'smtp',
  'ftp',
  'pop3',
  'imap',
  'mysql',
  'redis',
  'postgresql',
]);

test('service equals the service of Zeek conn.logs (../shared/pcaps/zeek-expected/conn)', async (t) => {
  const expected = join(zeekTraces, '..', 'zeek-expected');
  if (!existsSync(join(expected, 'conn-index.json'))) {
    const message = `SKIPPED: ${expected} absent; the service was not compared with Zeek's`;
    console.warn(message);
    t.skip(message);
    return;
  }
  const index = JSON.parse(readFileSync(join(expected, 'conn-index.json'), 'utf8')) as { trace: string; log: string }[];
  const exceptions = JSON.parse(
    readFileSync(new URL('./app-metadata-exceptions.json', import.meta.url), 'utf8'),
  ) as Record<string, Record<string, string>>;
  const counts = { flows: 0, compared: 0, equal: 0, subset: 0, explained: 0, oursOnly: 0 };
  const explainedTraces = new Set<string>();
  const failures: string[] = [];
  for (const entry of index) {
    const trace = join(zeekTraces, entry.trace);
    if (!existsSync(trace)) continue;
    const byEndpoints = new Map<string, string | undefined>();
    for (const view of ourSessions(trace).sessions) {
      byEndpoints.set(`${view.session.proto} ${sessionEndpoints(view.session)}`, view.metadata.service);
    }
    const lines = readFileSync(join(expected, entry.log), 'utf8').split('\n');
    const fields =
      lines
        .find((l) => l.startsWith('#fields'))
        ?.split('\t')
        .slice(1) ?? [];
    const at = (row: string[], name: string) => row[fields.indexOf(name)] ?? '';
    for (const line of lines) {
      if (line === '' || line.startsWith('#')) continue;
      const row = line.split('\t');
      const proto = at(row, 'proto');
      const a = `${normalizeAddress(at(row, 'id.orig_h'))}|${at(row, 'id.orig_p')}`;
      const b = `${normalizeAddress(at(row, 'id.resp_h'))}|${at(row, 'id.resp_p')}`;
      const key = `${proto} ${a <= b ? `${a} ${b}` : `${b} ${a}`}`;
      if (!byEndpoints.has(key)) continue;
      counts.flows++;
      const ours = byEndpoints.get(key);
      const zeek = at(row, 'service') === '-' ? [] : at(row, 'service').split(',');
      if (zeek.length === 0) {
        // Zeek's tests often load only some analyzers (zeek -b), or see one side only: not a difference.
        if (ours !== undefined) counts.oursOnly++;
        continue;
      }
      const known = zeek.filter((n) => OUR_SERVICES.has(n)).join(',');
      if (known === '') continue;
      counts.compared++;
      if (ours === known) {
        if (known === zeek.join(',')) counts.equal++;
        else counts.subset++;
      } else if (exceptions[entry.trace]?.['zeek.service']) {
        counts.explained++;
        explainedTraces.add(entry.trace);
      } else failures.push(`${entry.trace} ${key}: zeek ${zeek.join(',')}, ours ${ours}`);
    }
  }
  const report =
    `service vs Zeek conn.log: ${counts.flows} flows matched, ${counts.compared} with a service we recognise: ` +
    `${counts.equal} equal, ${counts.subset} equal on the protocols we name (Zeek also names irc, xmpp, gridftp…), ` +
    `${counts.explained} explained in app-metadata-exceptions.json, ` +
    `${counts.oursOnly} where only we name one (Zeek ran without that analyzer or saw one side)`;
  console.log(report);
  t.diagnostic(report);
  for (const [trace, fields] of Object.entries(exceptions)) {
    if (fields['zeek.service'] && !explainedTraces.has(trace)) {
      failures.push(
        `${trace}: zeek.service is listed in app-metadata-exceptions.json but now equals Zeek's: remove it`,
      );
    }
  }
  assert.deepEqual(failures, []);
});
