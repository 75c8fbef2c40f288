// Fuzz tests: every parser on random bytes and on mutations of valid messages (bit flips, cuts, inserted and
// deleted bytes, lengths set to extremes), seeded so that a failure reproduces. Each parser must not throw, must
// finish quickly and must return bounded output. FLEETCAP_FUZZ_ITERATIONS raises the count (default 2000 per
// parser); FLEETCAP_FUZZ_SEED picks another seed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bannerService } from './banners.ts';
import {
  clientHelloMessage,
  dnsMessage,
  handshakeRecords,
  serverHelloMessage,
  sshKexInitPacket,
  tcpSession,
  udpSession,
} from './build-messages.ts';
import { appMetadataOf } from './detect.ts';
import { parseDnsMessage, parseTcpDns, readName } from './dns.ts';
import { parseHttp } from './http.ts';
import { parseSsh } from './ssh.ts';
import { type DirectionStream, reassemble } from './tcp-stream.ts';
import { parseClientHello, parseTls } from './tls.ts';
import { type AppPacket, Findings } from './types.ts';

const ITERATIONS = Number(process.env.FLEETCAP_FUZZ_ITERATIONS ?? 2000);
const SEED = Number(process.env.FLEETCAP_FUZZ_SEED ?? 0x5eed);
/** Per call; generous for a loaded CI machine, far below what a loop or a quadratic blow-up would take. */
const MAX_CALL_MS = 250;
const MAX_OUTPUT_CHARS = 64 * 1024;

/** mulberry32: small, fast, good enough to drive mutations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(seedBytes: Uint8Array, rnd: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  if (rnd() < 0.15) return Uint8Array.from({ length: int(600) }, () => int(256));
  const b = Array.from(seedBytes);
  const edits = 1 + int(6);
  for (let e = 0; e < edits; e++) {
    const at = int(b.length + 1);
    switch (int(6)) {
      case 0:
        if (b.length) b[at % b.length]! ^= 1 << int(8);
        break;
      case 1:
        b.length = int(b.length + 1);
        break;
      case 2:
        b.splice(at, 0, ...Array.from({ length: 1 + int(8) }, () => int(256)));
        break;
      case 3:
        b.splice(at, 1 + int(8));
        break;
      case 4:
        // A length field gone wild: two bytes set to an extreme.
        if (b.length > 1) {
          b[at % b.length] = rnd() < 0.5 ? 0xff : 0;
          b[(at + 1) % b.length] = rnd() < 0.5 ? 0xff : 0;
        }
        break;
      default:
        if (b.length) b[at % b.length] = [0, 0xc0, 0x0a, 0x0d, 0x20, 0x7f, 0x80, 0xff][int(8)]!;
    }
  }
  return Uint8Array.from(b);
}

function stream(bytes: Uint8Array, ends: DirectionStream['ends'] = 'end'): DirectionStream {
  return { bytes, ends, inconsistentOverlap: false };
}

function timed<T>(label: string, input: Uint8Array, call: () => T): T {
  const start = performance.now();
  const result = call();
  const ms = performance.now() - start;
  assert.ok(
    ms < MAX_CALL_MS,
    `${label} took ${ms.toFixed(1)} ms on ${Buffer.from(input).toString('hex').slice(0, 400)}`,
  );
  const text = JSON.stringify(result) ?? '';
  assert.ok(text.length < MAX_OUTPUT_CHARS, `${label} returned ${text.length} characters`);
  return result;
}

function fuzz(
  label: string,
  seeds: Uint8Array[],
  salt: number,
  run: (input: Uint8Array, findings: Findings) => unknown,
) {
  const rnd = random(SEED ^ salt);
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(seeds[i % seeds.length]!, rnd);
    const findings = new Findings();
    try {
      timed(label, input, () => run(input, findings));
    } catch (error) {
      assert.fail(`${label} iteration ${i} (seed ${SEED}) threw on ${Buffer.from(input).toString('hex')}: ${error}`);
    }
    assert.ok(findings.problems.length <= Findings.MAX && findings.needsMorePackets.length <= Findings.MAX);
  }
}

const hello = clientHelloMessage({
  ciphers: [0x1301, 0x1302, 0xc02b],
  extensions: [
    { type: 'sni', name: 'fuzz.example' },
    { type: 'alpn', protocols: ['h2', 'http/1.1'] },
    { type: 'supportedVersions', versions: [0x0304, 0x0303] },
    { type: 'signatureAlgorithms', algorithms: [0x0403, 0x0804] },
  ],
});
const TLS_SEEDS = [
  handshakeRecords(hello),
  handshakeRecords(hello, 0x0301, 20),
  handshakeRecords(serverHelloMessage(0x0303, 0x1301, 0x0304)),
];
const HTTP_SEEDS = [
  'GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\n\r\n',
  'POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1') as Uint8Array);
const DNS_SEEDS = [
  dnsMessage({ name: 'www.example.com' }),
  dnsMessage({ name: 'www.example.com', response: true, answers: 3 }),
  Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
];
const KEX = sshKexInitPacket(['a,b', 'c', 'd', 'e', 'f', 'g', 'none', 'none', '', '']);
const SSH_SEEDS = [Buffer.concat([Buffer.from('SSH-2.0-x\r\n'), KEX]), Buffer.from('banner\r\nSSH-2.0-y\n')];

describe('fuzz', () => {
  it('TLS: parseClientHello and parseTls', () => {
    fuzz('parseClientHello', [hello.subarray(4)], 1, (input) => parseClientHello(input));
    fuzz('parseTls', TLS_SEEDS, 2, (input, findings) => parseTls(stream(input), stream(input), false, findings));
  });

  it('HTTP: parseHttp', () => {
    fuzz('parseHttp', HTTP_SEEDS, 3, (input, findings) => parseHttp(stream(input), stream(input), true, findings));
  });

  it('DNS: readName, parseDnsMessage and TCP framing', () => {
    fuzz('parseDnsMessage', DNS_SEEDS, 4, (input) => parseDnsMessage(input));
    fuzz('readName', DNS_SEEDS, 5, (input) => readName(input, 12));
    fuzz(
      'parseTcpDns',
      DNS_SEEDS.map((m) => Uint8Array.from([0, m.length, ...m])),
      6,
      (input, findings) => parseTcpDns(stream(input), stream(input, 'gap'), false, findings),
    );
  });

  it('SSH: parseSsh', () => {
    fuzz('parseSsh', SSH_SEEDS, 7, (input, findings) => parseSsh(stream(input), stream(input), false, findings));
  });

  it('banners: bannerService', () => {
    fuzz('bannerService', [Buffer.from('220 x ESMTP\r\n'), Buffer.from('*1\r\n$4\r\nPING\r\n')], 8, (input) =>
      bannerService({ client: input, server: input, serverFirst: true }),
    );
  });

  it('TCP reassembly and the whole detection on random segment soups', () => {
    const rnd = random(SEED ^ 9);
    const seeds = [...TLS_SEEDS, ...HTTP_SEEDS, ...SSH_SEEDS];
    for (let i = 0; i < ITERATIONS; i++) {
      const packets: AppPacket[] = [];
      const count = 1 + Math.floor(rnd() * 24);
      for (let p = 0; p < count; p++) {
        const payload = mutate(seeds[Math.floor(rnd() * seeds.length)]!, rnd).subarray(0, 1 + Math.floor(rnd() * 300));
        packets.push({
          direction: rnd() < 0.5 ? 0 : 1,
          tcpFlags: Math.floor(rnd() * 256),
          tcpSeq: rnd() < 0.9 ? Math.floor(rnd() * 2000) : Math.floor(rnd() * 2 ** 32),
          payload,
          payloadLength: rnd() < 0.9 ? payload.length : Math.floor(rnd() * 70000),
        });
      }
      const session = tcpSession([], { morePackets: rnd() < 0.5 });
      const input = Uint8Array.from(packets.flatMap((p) => [...p.payload]));
      timed('reassemble', input, () => reassemble(packets, 0));
      const metadata = timed('appMetadataOf', input, () => appMetadataOf({ ...session, packets }));
      assert.ok(!metadata.problems.includes('internal.parser_error'), `a parser threw on soup ${i}`);
      const udp = timed('appMetadataOf udp', input, () =>
        appMetadataOf(udpSession(packets.map((p) => ({ direction: p.direction, bytes: p.payload })))),
      );
      assert.ok(!udp.problems.includes('internal.parser_error'), `a parser threw on datagrams ${i}`);
    }
  });

  it('huge claimed lengths cost nothing', () => {
    const records = Uint8Array.from([22, 3, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff]);
    const m = timed('huge TLS', records, () => appMetadataOf(tcpSession([{ direction: 0, bytes: records }])));
    assert.deepEqual(m.problems, ['tls.record_too_long_client_hello']);
    const ssh = Buffer.concat([Buffer.from('SSH-2.0-x\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 4, 20])]);
    const s = timed('huge SSH', ssh, () => appMetadataOf(tcpSession([{ direction: 0, bytes: ssh }])));
    assert.deepEqual(s.problems, ['ssh.malformed_kexinit']);
  });
});
