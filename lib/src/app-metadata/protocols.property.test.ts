// Round-trip properties of the application parsers (fast-check; runs: lib/src/testing/fuzz.ts), beside the
// no-throw and bounds properties of parsers.property.test.ts: a session built from random but valid messages of one
// protocol, cut into segments of any size, on any ports (a well-known port of another protocol included), is
// recognised as that protocol from its payload, and its fields read back as they were built, with no problem
// reported:
// - HTTP: method, URI, version, Host, User-Agent, status, request and response counts;
// - TLS: SNI, ALPN, the server's version and cipher, with the ClientHello split over records of any size;
// - SSH: both identification strings, and the HASSH lists and hashes of both KEXINITs;
// - service recognition of the protocols named by their greeting or first command: SMTP, FTP, POP3, IMAP, Redis;
// - the roles come from the content: an HTTP or TLS session whose capture missed the handshake and starts with the
//   server's packets still names the client's fields as the client's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzParameters } from '../testing/fuzz.ts';
import {
  clientHelloMessage,
  handshakeRecords,
  type SegmentSpec,
  serverHelloMessage,
  sshKexInitPacket,
  tcpSession,
} from './build-messages.ts';
import { appMetadataOf } from './detect.ts';
import type { AppPacket, AppSession } from './types.ts';

/** Ports a session may use: any, or the well-known port of some protocol (not necessarily its own). */
const portArb = fc.oneof(
  fc.constantFrom(80, 443, 22, 25, 21, 110, 143, 53, 3306, 6379, 8080),
  fc.integer({ min: 1, max: 65535 }),
);
const segmentArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 1460 }));
const hostArb = fc
  .array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/), { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join('.'));

function session(
  specs: Array<{ direction: 0 | 1; bytes: Uint8Array | string }>,
  segmentSize: number,
  ports: { initiatorPort: number; responderPort: number },
): AppSession {
  return tcpSession(
    specs.map((s): SegmentSpec => ({ ...s, segmentSize })),
    ports,
  );
}

/**
 * The same session as a capture that missed the handshake and the client's first packet order: the SYN and SYN-ACK
 * gone and the server's data packets first, so that the sessionizer's initiator (the first sender) is the server.
 * Directions are relative to that initiator, so every packet's direction flips.
 */
function serverFirstCapture(s: AppSession): AppSession {
  const data = s.packets.filter((p) => p.payloadLength > 0);
  const flip = (p: AppPacket): AppPacket => ({ ...p, direction: p.direction === 0 ? 1 : 0 });
  const server = data.filter((p) => p.direction === 1).map(flip);
  const client = data.filter((p) => p.direction === 0).map(flip);
  return {
    ...s,
    initiatorPort: s.responderPort,
    responderPort: s.initiatorPort,
    packets: [...server, ...client],
  };
}

const methodArb = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD', 'PROPFIND');
const uriArb = fc.stringMatching(/^\/[A-Za-z0-9._~/?=&%-]{0,80}$/);
const userAgentArb = fc.stringMatching(/^[!-~]([ -~]{0,60}[!-~])?$/);

describe('application parsers: round-trip properties', () => {
  it('HTTP: any request and response read back (method, URI, version, Host, User-Agent, status, counts)', () => {
    fc.assert(
      fc.property(
        fc.record({
          method: methodArb,
          uri: uriArb,
          version: fc.constantFrom('1.0', '1.1'),
          host: hostArb,
          userAgent: userAgentArb,
          status: fc.integer({ min: 200, max: 599 }),
          reason: fc.stringMatching(/^[A-Za-z ]{0,20}$/),
          body: fc.stringMatching(/^[ -~]{0,40}$/),
          requests: fc.integer({ min: 1, max: 3 }),
        }),
        segmentArb,
        portArb,
        portArb,
        fc.boolean(),
        (h, segmentSize, initiatorPort, responderPort, serverFirst) => {
          const request = `${h.method} ${h.uri} HTTP/${h.version}\r\nHost: ${h.host}\r\nUser-Agent: ${h.userAgent}\r\nContent-Length: 0\r\n\r\n`;
          // A HEAD response, a 204 and a 304 have no body whatever their Content-Length says (RFC 9112 6.3); every
          // other response carries its body.
          const bodyless = h.method === 'HEAD' || h.status === 204 || h.status === 304;
          const body = bodyless ? '' : h.body;
          const response = `HTTP/1.1 ${h.status} ${h.reason}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
          let s = session(
            [
              { direction: 0, bytes: request.repeat(h.requests) },
              { direction: 1, bytes: response.repeat(h.requests) },
            ],
            segmentSize,
            { initiatorPort, responderPort },
          );
          if (serverFirst) s = serverFirstCapture(s);
          const m = appMetadataOf(s);
          assert.equal(m.service, 'http');
          assert.deepEqual(m.http, {
            requests: h.requests,
            responses: h.requests,
            method: h.method,
            uri: h.uri,
            version: h.version,
            host: h.host,
            userAgent: h.userAgent,
            status: h.status,
          });
          assert.deepEqual(m.problems, []);
        },
      ),
      fuzzParameters(400),
    );
  });

  it('TLS: SNI, ALPN, the server version and cipher read back, the ClientHello over records of any size', () => {
    const alpnArb = fc.array(fc.stringMatching(/^[a-z0-9./-]{1,16}$/), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(
        hostArb,
        alpnArb,
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.integer({ min: 40, max: 16384 }),
        segmentArb,
        portArb,
        portArb,
        fc.boolean(),
        (
          sni,
          alpn,
          ciphers,
          serverCipher,
          tls13,
          recordSize,
          segmentSize,
          initiatorPort,
          responderPort,
          serverFirst,
        ) => {
          const hello = clientHelloMessage({
            ciphers,
            extensions: [
              { type: 'sni', name: sni },
              { type: 'alpn', protocols: alpn },
              { type: 'supportedVersions', versions: tls13 ? [0x0304, 0x0303] : [0x0303] },
            ],
          });
          let s = session(
            [
              { direction: 0, bytes: handshakeRecords(hello, 0x0301, recordSize) },
              {
                direction: 1,
                bytes: handshakeRecords(serverHelloMessage(0x0303, serverCipher, tls13 ? 0x0304 : undefined), 0x0303),
              },
            ],
            segmentSize,
            { initiatorPort, responderPort },
          );
          if (serverFirst) s = serverFirstCapture(s);
          const m = appMetadataOf(s);
          assert.equal(m.service, 'ssl');
          assert.equal(m.tls?.sni, sni);
          assert.deepEqual(m.tls?.alpn, alpn);
          assert.equal(m.tls?.clientMaxVersion, tls13 ? 'TLSv13' : 'TLSv12');
          assert.equal(m.tls?.serverVersion, tls13 ? 'TLSv13' : 'TLSv12');
          assert.equal(m.tls?.serverCipher, serverCipher.toString(16).padStart(4, '0'));
          assert.deepEqual(m.problems, []);
        },
      ),
      fuzzParameters(400),
    );
  });

  it('SSH: both identification strings and both HASSH lists and hashes read back', () => {
    const nameList = fc
      .array(fc.stringMatching(/^[a-z0-9][a-z0-9@.-]{0,24}$/), { minLength: 1, maxLength: 4 })
      .map((names) => names.join(','));
    const identificationArb = fc
      .tuple(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/),
        fc.option(fc.stringMatching(/^[!-~]{1,30}$/), { nil: undefined }),
      )
      .map(([software, comment]) => `SSH-2.0-${software}${comment === undefined ? '' : ` ${comment}`}`);
    const listsArb = fc.array(nameList, { minLength: 10, maxLength: 10 });
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    fc.assert(
      fc.property(
        identificationArb,
        identificationArb,
        listsArb,
        listsArb,
        segmentArb,
        portArb,
        portArb,
        (clientId, serverId, clientLists, serverLists, segmentSize, initiatorPort, responderPort) => {
          const m = appMetadataOf(
            session(
              [
                { direction: 1, bytes: Buffer.concat([Buffer.from(`${serverId}\r\n`), sshKexInitPacket(serverLists)]) },
                { direction: 0, bytes: Buffer.concat([Buffer.from(`${clientId}\r\n`), sshKexInitPacket(clientLists)]) },
              ],
              segmentSize,
              { initiatorPort, responderPort },
            ),
          );
          const c = clientLists;
          const v = serverLists;
          const clientAlgorithms = [c[0], c[2], c[4], c[6]].join(';');
          const serverAlgorithms = [v[0], v[3], v[5], v[7]].join(';');
          assert.equal(m.service, 'ssh');
          assert.deepEqual(m.ssh, {
            client: clientId,
            server: serverId,
            hassh: md5(clientAlgorithms),
            hasshAlgorithms: clientAlgorithms,
            hasshServer: md5(serverAlgorithms),
            hasshServerAlgorithms: serverAlgorithms,
          });
          assert.deepEqual(m.problems, []);
        },
      ),
      fuzzParameters(400),
    );
  });

  it('service recognition: SMTP, FTP, POP3, IMAP and Redis from their greeting or first command, on any port', () => {
    const textArb = fc.stringMatching(/^[ -~]{0,60}$/);
    const wordArb = fc.stringMatching(/^[A-Za-z0-9.]{1,20}$/);
    type Opening = { service: string; specs: Array<{ direction: 0 | 1; bytes: string }> };
    const openingArb: fc.Arbitrary<Opening> = fc.oneof(
      fc.tuple(textArb, hostArb).map(([greeting, host]) => ({
        service: 'smtp',
        specs: [
          { direction: 1 as const, bytes: `220 ${greeting}\r\n` },
          { direction: 0 as const, bytes: `EHLO ${host}\r\n` },
        ],
      })),
      fc.tuple(textArb, wordArb).map(([greeting, user]) => ({
        service: 'ftp',
        specs: [
          { direction: 1 as const, bytes: `220 ${greeting}\r\n` },
          { direction: 0 as const, bytes: `USER ${user}\r\n` },
        ],
      })),
      fc.tuple(textArb, wordArb).map(([greeting, user]) => ({
        service: 'pop3',
        specs: [
          { direction: 1 as const, bytes: `+OK ${greeting}\r\n` },
          { direction: 0 as const, bytes: `USER ${user}\r\n` },
        ],
      })),
      fc.tuple(textArb, wordArb).map(([greeting, user]) => ({
        service: 'imap',
        specs: [
          { direction: 1 as const, bytes: `* OK ${greeting}\r\n` },
          { direction: 0 as const, bytes: `a1 LOGIN ${user} x\r\n` },
        ],
      })),
      fc.array(fc.stringMatching(/^[ -~]{0,30}$/), { minLength: 1, maxLength: 5 }).map((args) => ({
        service: 'redis',
        specs: [
          {
            direction: 0 as const,
            bytes: `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
          },
          { direction: 1 as const, bytes: '+OK\r\n' },
        ],
      })),
    );
    fc.assert(
      fc.property(openingArb, segmentArb, portArb, portArb, (o, segmentSize, initiatorPort, responderPort) => {
        const m = appMetadataOf(session(o.specs, segmentSize, { initiatorPort, responderPort }));
        assert.equal(m.service, o.service, JSON.stringify(o.specs));
        assert.deepEqual(m.problems, []);
      }),
      fuzzParameters(1500),
    );
  });
});
