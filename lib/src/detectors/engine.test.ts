import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/decode.ts';
import { configFromRows, DetectorConfigError, defaultDetectorConfig, settingsFromRow } from './config.ts';
import { attemptOutcome, isGroupAddress } from './detector-session.ts';
import { DetectorEngine } from './engine.ts';
import { regularPeriod, udpServiceCount } from './rules.ts';
import { syntheticSession as session } from './synthetic.ts';

const T0 = 1_700_000_000;

function feed(engine: DetectorEngine, sessions: ReturnType<typeof session>[]) {
  for (const s of sessions) engine.process(s);
  return engine.detections();
}

describe('attempt outcomes', () => {
  it('tells probes from conversations by the flags each side sent', () => {
    assert.equal(attemptOutcome(session('unanswered')), 'unanswered');
    assert.equal(attemptOutcome(session('rejected')), 'rejected');
    assert.equal(attemptOutcome(session('half-open')), 'half-open');
    assert.equal(attemptOutcome(session('conversation')), 'data');
    assert.equal(attemptOutcome(session('udp-unanswered')), 'unanswered');
    const connectScan = session('conversation', { srcPayloadBytes: 0, dstPayloadBytes: 0 });
    assert.equal(attemptOutcome(connectScan), 'no-data');
    const fin = session('rejected', { srcFlags: TCP_FIN | TCP_PSH });
    assert.equal(attemptOutcome(fin), 'stealth');
    const keepalive = session('conversation', {
      srcFlags: TCP_ACK,
      dstFlags: TCP_ACK,
      srcPayloadBytes: 0,
      dstPayloadBytes: 0,
    });
    assert.equal(attemptOutcome(keepalive), 'midstream');
    const ackScan = session('rejected', { srcFlags: TCP_ACK, dstFlags: TCP_RST });
    assert.equal(attemptOutcome(ackScan), 'rejected');
    assert.equal(attemptOutcome(session('half-open', { srcFlags: TCP_SYN })), 'half-open');
  });

  it('knows group addresses', () => {
    assert.ok(isGroupAddress('224.0.0.251'));
    assert.ok(isGroupAddress('10.0.0.255'));
    assert.ok(isGroupAddress('ff02::fb'));
    assert.ok(!isGroupAddress('10.0.0.25'));
    assert.ok(!isGroupAddress('2001:db8::1'));
  });
});

describe('horizontal scan', () => {
  it('opens one incident at the threshold of distinct destinations on one port and grows it', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    const probes = Array.from({ length: 4 }, (_, i) => session('rejected', { dst: `10.0.1.${i + 1}`, atSec: T0 + i }));
    assert.equal(feed(engine, probes).length, 0, 'four destinations are under the threshold of five');
    const changed = engine.process(session('unanswered', { dst: '10.0.1.5', atSec: T0 + 4 }));
    assert.equal(changed.length, 1);
    const d = changed[0]!;
    assert.equal(d.detector, 'horizontal_scan');
    assert.equal(d.source, '10.0.0.1');
    assert.equal(d.target, '*:80/tcp');
    assert.equal(d.distinctTargets, 5);
    assert.equal(d.id, `horizontal_scan|10.0.0.1|tcp/80|${T0 * 1e6}`);
    engine.process(session('half-open', { dst: '10.0.1.6', atSec: T0 + 5 }));
    assert.equal(engine.detections().length, 1, 'a growing scan is one incident');
    assert.equal(d.distinctTargets, 6);
    assert.equal(d.sessions, 6);
    assert.equal(d.version, 2);
  });

  it('ignores conversations, group addresses and probes spread beyond the window', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    feed(
      engine,
      Array.from({ length: 10 }, (_, i) => session('conversation', { dst: `10.0.1.${i + 1}`, atSec: T0 })),
    );
    feed(
      engine,
      Array.from({ length: 10 }, (_, i) => session('udp-unanswered', { dst: `224.0.0.${i + 1}`, atSec: T0 })),
    );
    // One new destination every 100 s: never five within 300 s.
    feed(
      engine,
      Array.from({ length: 10 }, (_, i) => session('rejected', { dst: `10.0.2.${i}`, atSec: T0 + i * 100 })),
    );
    assert.equal(engine.detections().length, 0);
  });

  it('lists every agent of a scan spread over agents, and the same session from two agents counts once', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    const sessions = Array.from({ length: 6 }, (_, i) =>
      session('rejected', { dst: `10.0.1.${i + 1}`, agent: `host-${i % 3}`, atSec: T0 + i }),
    );
    feed(engine, sessions);
    // The same six conversations seen by a fourth agent: nothing new is counted, but the agent is listed.
    feed(
      engine,
      sessions.map((s) => ({ ...s, agent: 'host-9' })),
    );
    const [d] = engine.detections();
    assert.equal(engine.detections().length, 1);
    assert.deepEqual([...d!.agents].sort(), ['host-0', 'host-1', 'host-2', 'host-9']);
    assert.equal(d!.distinctTargets, 6);
    assert.equal(d!.evidence.length, 6);
  });
});

describe('horizontal scan over UDP', () => {
  // One datagram each, nobody answering: a P2P client probing supernodes, a QUIC client trying servers.
  const datagrams = (n: number, dport = 443, from = 0) =>
    Array.from({ length: n }, (_, i) =>
      session('udp-unanswered', {
        dst: `10.0.${Math.floor((from + i) / 250)}.${((from + i) % 250) + 1}`,
        dport,
        atSec: T0 + (from + i) * 0.5,
      }),
    );

  it('needs udp_threshold (25) destinations, TCP still the threshold (5)', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    assert.equal(feed(engine, datagrams(10)).length, 0, 'ten hosts on 443/udp: no scan');
    assert.equal(feed(engine, datagrams(14, 443, 10)).length, 0, '24 hosts: still none');
    const changed = engine.process(datagrams(1, 443, 24)[0]!);
    assert.deepEqual(
      changed.map((d) => [d.detector, d.target, d.windowCount, d.sessions]),
      [['horizontal_scan', '*:443/udp', 25, 25]],
      'the 25th host opens it, with every probe as evidence',
    );
    feed(engine, datagrams(5, 443, 25));
    assert.equal(engine.detections().length, 1, 'one incident, grown');
    assert.equal(engine.detections()[0]!.distinctTargets, 30);
    const tcp = new DetectorEngine(defaultDetectorConfig());
    feed(
      tcp,
      Array.from({ length: 5 }, (_, i) => session('rejected', { dst: `10.0.1.${i + 1}`, dport: 443, atSec: T0 + i })),
    );
    assert.deepEqual(
      tcp.detections().map((d) => d.target),
      ['*:443/tcp'],
    );
  });

  it('reads udp_threshold from the row (0: the threshold) and refuses one over member_cap', () => {
    const row = {
      detector: 'horizontal_scan',
      enabled: 1,
      threshold: 5,
      window_seconds: 300,
      member_cap: 1024,
      subject_cap: 100000,
      evidence_cap: 100,
    };
    const d = defaultDetectorConfig().horizontal_scan;
    assert.equal(settingsFromRow({ ...row, params: null }, d).udpThreshold, 25);
    const { config } = configFromRows([{ ...row, params: '{"udp_threshold": 0}' }]);
    assert.equal(config.horizontal_scan.udpThreshold, 0);
    const off = new DetectorEngine(config);
    assert.equal(feed(off, datagrams(5)).length, 1, 'udp_threshold 0: UDP at the threshold, as TCP');
    const eight = new DetectorEngine(configFromRows([{ ...row, params: '{"udp_threshold": 8}' }]).config);
    assert.equal(feed(eight, datagrams(7)).length, 0);
    assert.equal(feed(eight, datagrams(1, 443, 7)).length, 1, 'the eighth host');
    assert.throws(
      () => settingsFromRow({ ...row, member_cap: 16, params: null }, d),
      /member_cap = 16 is under params\.udp_threshold = 25: UDP probes could never open an incident/,
    );
  });
});

describe('vertical scan, SYN flood, brute force', () => {
  it('vertical scan: distinct ports of one destination', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    feed(
      engine,
      Array.from({ length: 12 }, (_, i) => session('rejected', { dport: 1000 + i, atSec: T0 })),
    );
    const [d] = engine.detections();
    assert.equal(d?.detector, 'vertical_scan');
    assert.equal(d?.target, '10.0.1.1');
    assert.equal(d?.distinctTargets, 12);
  });

  it('SYN flood: half-open sessions per target, whatever their sources', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    const flood = Array.from({ length: 150 }, (_, i) =>
      session('half-open', { src: `192.0.2.${i % 200}`, sport: 1000 + i, atSec: T0 + i * 0.01 }),
    );
    feed(engine, flood);
    const floods = engine.detections().filter((d) => d.detector === 'syn_flood');
    assert.equal(floods.length, 1);
    assert.equal(floods[0]!.source, null);
    assert.equal(floods[0]!.target, '10.0.1.1:80/tcp');
    assert.equal(floods[0]!.sessions, 150);
    assert.equal(floods[0]!.distinctSources, 150);
    // 99 half-open in the window is not a flood.
    const quiet = new DetectorEngine(defaultDetectorConfig());
    feed(quiet, flood.slice(0, 99));
    assert.equal(quiet.detections().filter((d) => d.detector === 'syn_flood').length, 0);
  });

  it('brute force: short sessions to an authentication port, or labelled so on any port', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    feed(
      engine,
      Array.from({ length: 25 }, (_, i) => session('conversation', { dport: 22, atSec: T0 + i * 2 })),
    );
    assert.deepEqual(
      engine.detections().map((d) => [d.detector, d.target, d.sessions]),
      [['brute_force', '10.0.1.1:22/tcp', 25]],
    );
    const web = new DetectorEngine(defaultDetectorConfig());
    feed(
      web,
      Array.from({ length: 25 }, (_, i) => session('conversation', { dport: 8080, atSec: T0 + i })),
    );
    assert.equal(web.detections().length, 0, 'many short sessions to a web port are browsing');
    feed(
      web,
      Array.from({ length: 25 }, (_, i) =>
        session('conversation', { dport: 8080, label: 'bruteforce', atSec: T0 + 60 + i }),
      ),
    );
    assert.equal(web.detections().length, 1);
    const long = new DetectorEngine(defaultDetectorConfig());
    feed(
      long,
      Array.from({ length: 25 }, (_, i) => session('conversation', { dport: 22, seconds: 120, atSec: T0 + i })),
    );
    assert.equal(long.detections().length, 0, 'long SSH sessions are not attempts');
  });

  it('brute force: distinct refused credentials reach their own threshold; one credential repeated does not', () => {
    // hydra against Redis with 4 connections at once: 3 refused passwords and the right one (a lab run).
    const guessing = new DetectorEngine(defaultDetectorConfig());
    feed(
      guessing,
      ['a1b2', 'c3d4', 'e5f6'].map((fp, i) =>
        session('conversation', { dport: 6380, authAttempts: 1, credentials: [fp], atSec: T0 + i * 0.001 }),
      ),
    );
    assert.deepEqual(
      guessing.detections().map((d) => [d.detector, d.target, d.windowCount, d.sessions]),
      [['brute_force', '10.0.1.1:6380/tcp', 3, 3]],
      'the counts are the attempts, the credentials are counted apart',
    );
    // A client that reconnects 19 times with its one (wrong or right) password: 19 attempts, 1 credential.
    const reconnecting = new DetectorEngine(defaultDetectorConfig());
    feed(
      reconnecting,
      Array.from({ length: 19 }, (_, i) =>
        session('conversation', { dport: 6380, authAttempts: 1, credentials: ['a1b2'], atSec: T0 + i }),
      ),
    );
    assert.equal(reconnecting.detections().length, 0, 'the credential does not add to the 19 attempts');
    // Off: credential_threshold 0.
    const config = defaultDetectorConfig();
    config.brute_force.credentialThreshold = 0;
    const off = new DetectorEngine(config);
    feed(
      off,
      ['a1b2', 'c3d4', 'e5f6'].map((fp, i) =>
        session('conversation', { dport: 6380, authAttempts: 1, credentials: [fp], atSec: T0 + i }),
      ),
    );
    assert.equal(off.detections().length, 0);
  });
});

describe('UDP scans', () => {
  const probe = (dport: number, i: number, fields = {}) =>
    session('udp-unanswered', { dport, atSec: T0 + i * 0.3, ...fields });

  it('opens a vertical scan at 3 unanswered UDP ports, under the threshold of 10 ports', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    feed(engine, [probe(67, 0), probe(1194, 1)]);
    assert.equal(engine.detections().length, 0, 'two ports are not yet a scan');
    feed(engine, [probe(5353, 2), probe(161, 3)]);
    assert.deepEqual(
      engine.detections().map((d) => [d.detector, d.target, d.windowCount, d.sessions]),
      [['vertical_scan', '10.0.1.1', 4, 4]],
      'the counts are every port probed',
    );
  });

  it('counts neither TCP ports nor a service answering a client against the UDP threshold', () => {
    const tcp = new DetectorEngine(defaultDetectorConfig());
    feed(
      tcp,
      [22, 80, 443].map((dport, i) => session('rejected', { dport, atSec: T0 + i })),
    );
    assert.equal(tcp.detections().length, 0, 'three TCP ports stay under the threshold of 10');
    // A DNS server's answers to a resolver whose queries the capture missed: from port 53 to its ephemeral ports.
    const replies = new DetectorEngine(defaultDetectorConfig());
    feed(
      replies,
      [40001, 40002, 40003, 40004].map((dport, i) => probe(dport, i, { sport: 53 })),
    );
    assert.equal(replies.detections().length, 0);
    const config = defaultDetectorConfig();
    config.vertical_scan.udpThreshold = 0;
    const off = new DetectorEngine(config);
    feed(
      off,
      [67, 1194, 5353, 161].map((dport, i) => probe(dport, i)),
    );
    assert.equal(off.detections().length, 0, 'udp_threshold 0: off');
  });

  it("counts a run of consecutive ports once: one application's port range is no scan", () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    // Steam's client trying 27017-27019 of a server, a QUIC interop client 443, 4433 and 4434 of another.
    feed(
      engine,
      [27018, 27017, 27019].map((dport, i) => probe(dport, i)),
    );
    feed(
      engine,
      [443, 4433, 4434].map((dport, i) => probe(dport, i, { dst: '10.0.1.2' })),
    );
    assert.equal(engine.detections().length, 0, 'one service and two');
    // nmap's usual services: SNMP's 161-162 are one, and with 1900 and 5353 three.
    feed(
      engine,
      [161, 162, 1900].map((dport, i) => probe(dport, i, { dst: '10.0.1.3' })),
    );
    assert.equal(engine.detections().length, 0);
    engine.process(probe(5353, 4, { dst: '10.0.1.3' }));
    assert.deepEqual(
      engine.detections().map((d) => [d.target, d.windowCount]),
      [['10.0.1.3', 4]],
      'the counts are every port',
    );
    assert.equal(udpServiceCount(['udp/27019', 'udp/27017', 'udp/27018', 'tcp/80', 'udp/443', 'udp/445']), 3);
    // A sweep of a range is one service but reaches the threshold of all ports (10).
    const sweep = new DetectorEngine(defaultDetectorConfig());
    feed(
      sweep,
      Array.from({ length: 9 }, (_, i) => probe(1000 + i, i)),
    );
    assert.equal(sweep.detections().length, 0);
    assert.equal(feed(sweep, [probe(1009, 9)]).length, 1);
  });

  it('reads udp_threshold from the row params and refuses 1', () => {
    const row = {
      detector: 'vertical_scan',
      enabled: 1,
      threshold: 10,
      window_seconds: 300,
      member_cap: 1024,
      subject_cap: 100000,
      evidence_cap: 100,
    };
    const d = defaultDetectorConfig().vertical_scan;
    assert.equal(settingsFromRow({ ...row, params: '{"udp_threshold": 5}' }, d).udpThreshold, 5);
    assert.equal(settingsFromRow({ ...row, params: null }, d).udpThreshold, 3);
    assert.throws(
      () => settingsFromRow({ ...row, params: '{"udp_threshold": 1}' }, d),
      /params\.udp_threshold = .*must be 0 \(off\) or at least 2/,
    );
  });
});

describe('beaconing', () => {
  const settings = defaultDetectorConfig().beaconing;

  it('finds a regular period and refuses jittered or fast ones', () => {
    const regular = Array.from({ length: 10 }, (_, i) => (T0 + i * 60 + (i % 2) * 0.5) * 1e6);
    assert.ok(Math.abs(regularPeriod(regular, settings)! - 60) < 1);
    const jittered = [0, 20, 95, 110, 180, 260, 270, 340, 420, 430].map((s) => (T0 + s) * 1e6);
    assert.equal(regularPeriod(jittered, settings), null);
    const fast = Array.from({ length: 20 }, (_, i) => (T0 + i * 3) * 1e6);
    assert.equal(regularPeriod(fast, settings), null, 'a period under 10 s is a burst, not a beacon');
    assert.equal(regularPeriod(regular.slice(0, 7), settings), null, 'seven starts are too few');
    // Two agents' views of each start, 0.3 s apart, are merged into one start.
    const twice = regular.flatMap((t) => [t, t + 300_000]);
    assert.ok(regularPeriod(twice, settings) !== null);
  });

  it('one incident per regular client-server pair, with its period', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    feed(
      engine,
      Array.from({ length: 12 }, (_, i) =>
        session('conversation', { dst: '203.0.113.7', dport: 443, atSec: T0 + i * 30 }),
      ),
    );
    const beacons = engine.detections().filter((d) => d.detector === 'beaconing');
    assert.equal(beacons.length, 1);
    assert.equal(beacons[0]!.periodSeconds, 30);
    assert.equal(beacons[0]!.sessions, 12);
  });
});

describe('bounded state', () => {
  it('evicts the least recently seen subject past subjectCap and counts it', () => {
    const config = defaultDetectorConfig();
    config.horizontal_scan.subjectCap = 100;
    const engine = new DetectorEngine(config);
    for (let i = 0; i < 1000; i++)
      engine.process(session('rejected', { src: `198.51.${i >> 8}.${i & 255}`, atSec: T0 }));
    assert.equal(engine.trackedSubjects().horizontal_scan, 100);
    assert.equal(engine.counters.subjectEvictions.horizontal_scan, 900);
  });

  it("evicts a subject's oldest members past memberCap and counts it; the incident still opens", () => {
    const config = defaultDetectorConfig();
    config.horizontal_scan.memberCap = 8;
    const engine = new DetectorEngine(config);
    for (let i = 0; i < 50; i++) engine.process(session('rejected', { dst: `10.9.0.${i}`, atSec: T0 + i * 0.1 }));
    assert.equal(engine.counters.memberEvictions.horizontal_scan, 42);
    const [d] = engine.detections();
    assert.equal(d?.windowCount, 8);
    assert.equal(d?.distinctTargets, 50);
  });

  it('caps the lists of an incident but counts past them', () => {
    const config = defaultDetectorConfig();
    config.horizontal_scan.evidenceCap = 10;
    const engine = new DetectorEngine(config);
    for (let i = 0; i < 40; i++) engine.process(session('rejected', { dst: `10.9.0.${i}`, atSec: T0 }));
    const [d] = engine.detections();
    assert.equal(d?.targets.length, 10);
    assert.equal(d?.evidence.length, 10);
    assert.equal(d?.distinctTargets, 40);
  });

  it('a new incident after the subject was quiet for a window', () => {
    const engine = new DetectorEngine(defaultDetectorConfig());
    const scan = (at: number) =>
      feed(
        engine,
        Array.from({ length: 6 }, (_, i) => session('rejected', { dst: `10.0.1.${i}`, atSec: at })),
      );
    scan(T0);
    scan(T0 + 1000);
    assert.equal(engine.detections().length, 2);
    assert.notEqual(engine.detections()[0]!.id, engine.detections()[1]!.id);
  });
});

describe('detector_config rows', () => {
  const row = {
    detector: 'brute_force',
    enabled: 1,
    threshold: 30,
    window_seconds: 600,
    member_cap: 1024,
    subject_cap: 1000,
    evidence_cap: 50,
    params: '{"ports":[22,2222]}',
  };

  it('reads a row over the defaults', () => {
    const s = settingsFromRow(row, defaultDetectorConfig().brute_force);
    assert.equal(s.threshold, 30);
    assert.deepEqual(s.ports, [22, 2222]);
    assert.deepEqual(s.labels, ['bruteforce'], 'params not given keep their defaults');
  });

  it('refuses a bad row naming the detector, column, value and what is allowed; keeps the previous settings', () => {
    assert.throws(
      () => settingsFromRow({ ...row, threshold: 1 }, defaultDetectorConfig().brute_force),
      (e: Error) =>
        e instanceof DetectorConfigError && /"brute_force": threshold = 1 must be at least 2/.test(e.message),
    );
    assert.throws(
      () => settingsFromRow({ ...row, params: '{"ports":[0]}' }, defaultDetectorConfig().brute_force),
      /params\.ports\.0/,
    );
    assert.throws(
      () => settingsFromRow({ ...row, params: '{' }, defaultDetectorConfig().brute_force),
      /params = "\{" is not JSON/,
    );
    assert.throws(
      () => settingsFromRow({ ...row, member_cap: 10 }, defaultDetectorConfig().brute_force),
      /member_cap = 10 is under threshold = 30/,
    );
    const previous = defaultDetectorConfig();
    previous.brute_force.threshold = 77;
    const { config, errors } = configFromRows(
      [
        { ...row, window_seconds: 0 },
        { ...row, detector: 'syn_flood', threshold: 500 },
      ],
      previous,
    );
    assert.equal(errors.length, 1);
    assert.equal(config.brute_force.threshold, 77);
    assert.equal(config.syn_flood.threshold, 500);
  });
});
