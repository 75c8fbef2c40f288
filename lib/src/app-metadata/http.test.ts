import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tcpSession } from './build-messages.ts';
import { appMetadataOf } from './detect.ts';

const REQUEST = 'GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n';
const RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';

describe('HTTP', () => {
  it('reads the first request and response, on a port that is not 80', () => {
    const m = appMetadataOf(
      tcpSession(
        [
          { direction: 0, bytes: REQUEST },
          { direction: 1, bytes: RESPONSE },
        ],
        { responderPort: 8008 },
      ),
    );
    assert.equal(m.service, 'http');
    assert.deepEqual(m.http, {
      requests: 1,
      responses: 1,
      method: 'GET',
      uri: '/index.html?q=1',
      version: '1.1',
      host: 'example.com',
      userAgent: 'curl/8.5.0',
      status: 200,
    });
    assert.deepEqual(m.problems, []);
  });

  it('reads a request split over packets, byte by byte, reordered and retransmitted', () => {
    const reorder = (packets: ReturnType<typeof tcpSession>['packets'] extends readonly (infer P)[] ? P[] : never) => {
      const client = packets.filter((p) => p.direction === 0).reverse();
      return [...client, client[3]!, client[10]!, ...packets.filter((p) => p.direction === 1)];
    };
    const m = appMetadataOf(
      tcpSession(
        [
          { direction: 0, bytes: REQUEST, segmentSize: 1 },
          { direction: 1, bytes: RESPONSE, segmentSize: 3 },
        ],
        { reorder },
      ),
    );
    assert.equal(m.http?.host, 'example.com');
    assert.equal(m.http?.uri, '/index.html?q=1');
    assert.equal(m.http?.status, 200);
    assert.deepEqual(m.problems, []);
  });

  it('counts pipelined requests and responses across Content-Length and chunked bodies', () => {
    const post = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd';
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const m = appMetadataOf(
      tcpSession([
        { direction: 0, bytes: `${post}${REQUEST}HEAD / HTTP/1.1\r\nHost: h\r\n\r\n` },
        { direction: 1, bytes: `${chunked}${RESPONSE}HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n` },
      ]),
    );
    assert.equal(m.http?.method, 'POST');
    assert.equal(m.http?.requests, 3);
    assert.equal(m.http?.responses, 3, 'a HEAD response has no body whatever its Content-Length');
  });

  it('leaves the fields empty for binary bytes on port 80 and counts the reason', () => {
    const m = appMetadataOf(tcpSession([{ direction: 0, bytes: Uint8Array.from([0, 1, 2, 0xff, 0x80, 0x16, 0x03]) }]));
    assert.equal(m.service, undefined);
    assert.equal(m.http, undefined);
    assert.deepEqual(m.problems, ['http.unrecognised_payload']);
  });

  it('says which fields a later packet would give when the stored ones end inside the headers', () => {
    const partial = REQUEST.slice(0, 40);
    const m = appMetadataOf(tcpSession([{ direction: 0, bytes: partial }], { morePackets: true }));
    assert.equal(m.service, 'http');
    assert.equal(m.http?.method, 'GET');
    assert.equal(m.http?.host, undefined);
    assert.deepEqual(m.problems, []);
    assert.deepEqual(m.needsMorePackets, ['http.host', 'http.userAgent', 'http.status']);
    const ended = appMetadataOf(tcpSession([{ direction: 0, bytes: partial }]));
    assert.deepEqual(ended.problems, ['http.truncated_headers']);
  });

  it('takes a response alone (the request was not captured) as http', () => {
    const m = appMetadataOf(tcpSession([{ direction: 1, bytes: RESPONSE }]));
    assert.equal(m.service, 'http');
    assert.equal(m.http?.status, 200);
    assert.equal(m.http?.requests, 0);
  });

  it('reads an HTTP/0.9 request line', () => {
    const m = appMetadataOf(tcpSession([{ direction: 0, bytes: 'GET /old\r\n' }]));
    assert.equal(m.http?.version, '0.9');
    assert.equal(m.http?.uri, '/old');
  });

  it('reads what a broken request line of a known method holds, and counts it as malformed', () => {
    const broken = appMetadataOf(tcpSession([{ direction: 0, bytes: 'GET / HTTP/1.\r\nHost: h\r\n\r\n' }]));
    assert.equal(broken.http?.method, 'GET');
    assert.equal(broken.http?.uri, '/');
    assert.equal(broken.http?.version, undefined);
    assert.equal(broken.http?.host, 'h');
    assert.deepEqual(broken.problems, ['http.malformed_request_line']);
    const alone = appMetadataOf(tcpSession([{ direction: 0, bytes: 'OPTIONS\r\nHost: h\r\n\r\n' }]));
    assert.equal(alone.http?.method, 'OPTIONS');
    assert.equal(alone.http?.uri, undefined);
  });

  it('reads the method and URI of a request line the snapshot length cut', () => {
    const line = Buffer.from('GET /images/box.gif HTTP/1.1\r\nHost: h\r\n\r\n');
    const session = tcpSession([{ direction: 0, bytes: line.subarray(0, 24) }]);
    const cut = session.packets.at(-1)!;
    cut.payloadLength = line.length;
    const m = appMetadataOf(session);
    assert.equal(m.http?.method, 'GET');
    assert.equal(m.http?.uri, '/images/box.gif');
    assert.deepEqual(m.problems, ['tcp.payload_not_captured']);
  });
});
