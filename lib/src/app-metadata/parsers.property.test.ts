// Properties of the application parsers (fast-check; runs: lib/src/testing/fuzz.ts), beside the seeded mutation
// loops of fuzz.test.ts:
// - whole sessions of random or mutated payloads (HTTP, TLS, SSH, DNS seeds; any ports, both directions, sequence
//   numbers in order or not) never make a parser throw (appMetadataOf reports a throw as internal.parser_error), and
//   the record is bounded: every text at most MAX_TEXT characters, every list at most Findings.MAX or a few dozen
//   items, the whole under 64 KiB of JSON;
// - each parser on its own never throws on any bytes;
// - a DNS question built from any name of valid labels parses back to that name, type and id.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzParameters } from '../testing/fuzz.ts';
import { bannerService } from './banners.ts';
import {
  clientHelloMessage,
  dnsMessage,
  handshakeRecords,
  serverHelloMessage,
  sshKexInitPacket,
} from './build-messages.ts';
import { MAX_TEXT } from './bytes.ts';
import { appMetadataOf } from './detect.ts';
import { parseDnsMessage, readName } from './dns.ts';
import { parseHttp } from './http.ts';
import { parseSsh } from './ssh.ts';
import type { DirectionStream } from './tcp-stream.ts';
import { parseClientHello, parseTls } from './tls.ts';
import { type AppPacket, type AppSession, Findings } from './types.ts';

const MAX_JSON = 64 * 1024;
/** alpn and similar lists: a ClientHello can name many protocols, but a record must not grow without bound. */
const MAX_LIST = 64;

const hello = clientHelloMessage({
  ciphers: [0x1301, 0xc02b],
  extensions: [
    { type: 'sni', name: 'prop.example' },
    { type: 'alpn', protocols: ['h2', 'http/1.1'] },
    { type: 'supportedVersions', versions: [0x0304, 0x0303] },
  ],
});
const SEEDS: Uint8Array[] = [
  handshakeRecords(hello),
  handshakeRecords(serverHelloMessage(0x0303, 0x1301, 0x0304)),
  Buffer.from('GET /x HTTP/1.1\r\nHost: h.example\r\nUser-Agent: prop\r\n\r\n'),
  Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  Buffer.concat([Buffer.from('SSH-2.0-prop\r\n'), sshKexInitPacket(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', '', ''])]),
  dnsMessage({ name: 'www.example.com' }),
  Buffer.from('220 mail.example ESMTP\r\n'),
];

/** A seed with a few bytes overwritten, cut, or random bytes of its own. */
const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc
    .tuple(
      fc.constantFrom(...SEEDS),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([seed, edits, cut]) => {
      const b = Uint8Array.from(seed);
      for (const [at, value] of edits) if (b.length) b[at % b.length] = value;
      return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
    }),
);

const packetArb: fc.Arbitrary<AppPacket> = fc
  .record({
    direction: fc.constantFrom(0 as const, 1 as const),
    tcpFlags: fc.nat(255),
    tcpSeq: fc.option(fc.oneof(fc.nat(3000), fc.nat(0xffffffff)), { nil: undefined }),
    payload: payloadArb,
    extra: fc.oneof(fc.constant(0), fc.nat(70_000)),
  })
  .map(({ extra, ...p }) => ({ ...p, payloadLength: p.payload.length + extra }));

const sessionArb: fc.Arbitrary<AppSession> = fc.record({
  proto: fc.constantFrom('tcp' as const, 'udp' as const),
  initiatorPort: fc.oneof(fc.constantFrom(40000, 53), fc.nat(65535)),
  responderPort: fc.oneof(fc.constantFrom(80, 443, 22, 53, 25, 3306, 6379), fc.nat(65535)),
  packets: fc.array(packetArb, { maxLength: 24 }),
  morePackets: fc.boolean(),
});

/** Every string in the value at most MAX_TEXT characters, every array at most MAX_LIST items. */
function assertBounded(value: unknown, path = 'metadata'): void {
  if (typeof value === 'string') assert.ok(value.length <= MAX_TEXT, `${path}: ${value.length} characters`);
  else if (Array.isArray(value)) {
    assert.ok(value.length <= MAX_LIST, `${path}: ${value.length} items`);
    value.forEach((v, i) => {
      assertBounded(v, `${path}[${i}]`);
    });
  } else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) assertBounded(v, `${path}.${k}`);
}

const stream = (bytes: Uint8Array, ends: DirectionStream['ends'] = 'end'): DirectionStream => ({
  bytes,
  ends,
  inconsistentOverlap: false,
});

describe('application parsers: properties', () => {
  it('any session: no parser throws, and the record is bounded', () => {
    fc.assert(
      fc.property(sessionArb, (session) => {
        const m = appMetadataOf(session);
        assert.ok(!m.problems.includes('internal.parser_error'), `a parser threw: ${JSON.stringify(m)}`);
        assert.ok(m.problems.length <= Findings.MAX && m.needsMorePackets.length <= Findings.MAX);
        assertBounded(m);
        assert.ok(JSON.stringify(m).length < MAX_JSON);
      }),
      fuzzParameters(1500),
    );
  });

  it('each parser on its own never throws on any bytes', () => {
    fc.assert(
      fc.property(payloadArb, payloadArb, fc.constantFrom('end' as const, 'gap' as const), (a, b, ends) => {
        const findings = new Findings();
        for (const result of [
          parseClientHello(a),
          parseTls(stream(a, ends), stream(b), false, findings),
          parseHttp(stream(a, ends), stream(b), true, findings),
          parseSsh(stream(a, ends), stream(b), false, findings),
          parseDnsMessage(a),
          a.length > 12 ? readName(a, 12) : null,
          bannerService({ client: a, server: b, serverFirst: true }) ?? null,
        ])
          assertBounded(result, 'parser result');
        assert.ok(findings.problems.length <= Findings.MAX);
      }),
      fuzzParameters(1500),
    );
  });

  it('a DNS question of any valid name parses back to that name, type and id', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,63}$/);
    const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
    fc.assert(
      fc.property(name, fc.nat(65535), fc.integer({ min: 1, max: 65535 }), (n, id, type) => {
        const message = parseDnsMessage(dnsMessage({ name: n, id, type }));
        assert.ok(message);
        assert.equal(message.id, id);
        assert.equal(message.question?.name, n);
        assert.equal(message.question?.type, type);
        assert.ok(message.wellFormed);
      }),
      fuzzParameters(1000),
    );
  });
});
