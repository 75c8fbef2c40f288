import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ClientHelloSpec,
  clientHelloMessage,
  handshakeRecords,
  serverHelloMessage,
  tcpSession,
} from './build-messages.ts';
import { appMetadataOf } from './detect.ts';

// The example of FoxIO's JA4 specification (technical_details/JA4.md): ciphers, extensions and signature
// algorithms in wire order, TLS 1.3, SNI, ALPN h2: JA4 = t13d1516h2_8daaf6152771_e5627efa2ab1.
const SPEC_CIPHERS = [
  0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
  0x0035,
];
const SPEC_SIGNATURES = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];

function specHello(options: { grease?: boolean; signatures?: number[]; alpn?: string[] } = {}): ClientHelloSpec {
  const other = (type: number) => ({ type, data: [] as number[] });
  const extensions: ClientHelloSpec['extensions'] = [
    other(0x001b),
    { type: 'sni', name: 'example.com' },
    other(0x0033),
    { type: 'alpn', protocols: options.alpn ?? ['h2', 'http/1.1'] },
    other(0x4469),
    other(0x0017),
    other(0x002d),
    { type: 'signatureAlgorithms', algorithms: options.signatures ?? SPEC_SIGNATURES },
    other(0x0005),
    other(0x0023),
    other(0x0012),
    { type: 'supportedVersions', versions: [...(options.grease ? [0x7a7a] : []), 0x0304, 0x0303] },
    other(0xff01),
    other(0x000b),
    other(0x000a),
    other(0x0015),
  ];
  if (options.grease) extensions.unshift(other(0x2a2a));
  return { ciphers: [...(options.grease ? [0xdada] : []), ...SPEC_CIPHERS], extensions };
}

function tlsOf(hello: Uint8Array, options: { segmentSize?: number; port?: number; morePackets?: boolean } = {}) {
  return appMetadataOf(
    tcpSession([{ direction: 0, bytes: hello, ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}) }], {
      responderPort: options.port ?? 443,
      morePackets: options.morePackets ?? false,
    }),
  );
}

describe('TLS ClientHello', () => {
  it("gives the JA4 of FoxIO's specification example, GREASE ignored", () => {
    for (const grease of [false, true]) {
      const m = tlsOf(handshakeRecords(clientHelloMessage(specHello({ grease }))));
      assert.equal(m.service, 'ssl');
      assert.equal(m.tls?.ja4, 't13d1516h2_8daaf6152771_e5627efa2ab1', `grease ${grease}`);
      assert.equal(m.tls?.sni, 'example.com');
      assert.deepEqual(m.tls?.alpn, ['h2', 'http/1.1']);
      assert.equal(m.tls?.recordVersion, 'TLSv10');
      assert.equal(m.tls?.clientVersion, 'TLSv12');
      assert.equal(m.tls?.clientMaxVersion, 'TLSv13');
      assert.deepEqual(m.problems, []);
    }
  });

  it("hashes the extensions alone when there are no signature algorithms (the specification's 6d807ffa2a79)", () => {
    const m = tlsOf(handshakeRecords(clientHelloMessage(specHello({ signatures: [] }))));
    assert.equal(m.tls?.ja4, 't13d1516h2_8daaf6152771_6d807ffa2a79');
  });

  it('takes the first and last hex digit of a non-alphanumeric first ALPN value', () => {
    const m = tlsOf(handshakeRecords(clientHelloMessage(specHello({ alpn: ['0\xab'] }))));
    assert.match(m.tls?.ja4 ?? '', /^t13d15163b_/);
  });

  it('reads a ClientHello split over TCP segments and TLS records, on any port', () => {
    const hello = clientHelloMessage(specHello());
    const m = tlsOf(handshakeRecords(hello, 0x0301, 50), { segmentSize: 7, port: 5000 });
    assert.equal(m.service, 'ssl');
    assert.equal(m.tls?.ja4, 't13d1516h2_8daaf6152771_e5627efa2ab1');
  });

  it('leaves JA4 empty for a truncated ClientHello and says why', () => {
    const records = handshakeRecords(clientHelloMessage(specHello()));
    const cut = records.subarray(0, 60);
    const ended = tlsOf(cut);
    assert.equal(ended.service, 'ssl');
    assert.equal(ended.tls?.ja4, undefined);
    assert.deepEqual(ended.problems, ['tls.truncated_client_hello']);
    const stored = tlsOf(cut, { morePackets: true });
    assert.deepEqual(stored.problems, [], 'the rest is in a packet the store did not keep: not malformed');
    assert.deepEqual(stored.needsMorePackets, ['tls.sni', 'tls.ja4']);
  });

  it('reports a ClientHello whose lengths do not hold', () => {
    const hello = clientHelloMessage(specHello());
    hello[4 + 34 + 33] = 0xff; // cipher suites length high byte
    const m = tlsOf(handshakeRecords(hello));
    assert.deepEqual(m.problems, ['tls.malformed_client_hello']);
    assert.equal(m.tls?.ja4, undefined);
  });

  it('reads the version the server chose from its ServerHello', () => {
    const m = appMetadataOf(
      tcpSession([
        { direction: 0, bytes: handshakeRecords(clientHelloMessage(specHello())) },
        { direction: 1, bytes: handshakeRecords(serverHelloMessage(0x0303, 0x1301, 0x0304), 0x0303) },
      ]),
    );
    assert.equal(m.tls?.serverVersion, 'TLSv13');
    assert.equal(m.tls?.serverCipher, '1301');
  });

  it('recognises an SSLv2-format ClientHello', () => {
    const v2 = Uint8Array.from([
      0x80,
      0x1f,
      0x01,
      0x03,
      0x01,
      0x00,
      0x06,
      0x00,
      0x00,
      0x00,
      0x10,
      ...new Array(22).fill(1),
    ]);
    const m = tlsOf(v2);
    assert.equal(m.service, 'ssl');
    assert.equal(m.tls?.recordVersion, 'SSLv2');
    assert.equal(m.tls?.clientVersion, 'TLSv10');
  });

  it('reads TLS through an accepted HTTP CONNECT, and after a STARTTLS negotiation', () => {
    const hello = handshakeRecords(clientHelloMessage(specHello()));
    const serverHello = handshakeRecords(serverHelloMessage(0x0303, 0xc02f));
    const connect = appMetadataOf(
      tcpSession([
        { direction: 0, bytes: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' },
        { direction: 1, bytes: 'HTTP/1.1 200 Connection established\r\n\r\n' },
        { direction: 0, bytes: hello },
        { direction: 1, bytes: serverHello },
      ]),
    );
    assert.equal(connect.service, 'http,ssl', 'Zeek names both, in order');
    assert.equal(connect.http?.method, 'CONNECT');
    assert.equal(connect.tls?.sni, 'example.com');
    assert.equal(connect.tls?.serverVersion, 'TLSv12');
    const smtp = appMetadataOf(
      tcpSession(
        [
          { direction: 1, bytes: '220 mx ESMTP\r\n' },
          { direction: 0, bytes: 'EHLO me\r\n' },
          { direction: 1, bytes: '250-mx\r\n250 STARTTLS\r\n' },
          { direction: 0, bytes: 'STARTTLS\r\n' },
          { direction: 1, bytes: '220 go ahead\r\n' },
          { direction: 0, bytes: hello },
          { direction: 1, bytes: serverHello },
        ],
        { responderPort: 25 },
      ),
    );
    assert.equal(smtp.service, 'smtp,ssl');
    assert.equal(smtp.tls?.ja4, 't13d1516h2_8daaf6152771_e5627efa2ab1');
    assert.equal(smtp.tls?.serverCipher, 'c02f');
  });

  it('reads a TLS 1.3 draft ServerHello (no session id) and one behind an alert record', () => {
    const draft = Uint8Array.from([2, 0, 0, 38, 0x7f, 0x10, ...new Array(32).fill(1), 0x13, 0x01, 0, 0]);
    const m = appMetadataOf(
      tcpSession([
        { direction: 0, bytes: handshakeRecords(clientHelloMessage(specHello())) },
        { direction: 1, bytes: handshakeRecords(draft, 0x0301) },
      ]),
    );
    assert.equal(m.tls?.serverVersion, 'TLSv13-draft16');
    const alert = Uint8Array.from([21, 3, 3, 0, 2, 1, 0]);
    const behind = appMetadataOf(
      tcpSession([
        { direction: 0, bytes: handshakeRecords(clientHelloMessage(specHello())) },
        { direction: 1, bytes: Buffer.concat([alert, handshakeRecords(serverHelloMessage(0x0303, 0x009c), 0x0303)]) },
      ]),
    );
    assert.equal(behind.tls?.serverVersion, 'TLSv12');
  });
});
