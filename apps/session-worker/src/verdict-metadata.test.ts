// The metadata stored with a verdict: read from the stored frames as `fleetcap sessions` reads them, each text cut to
// its column (and counted), never a throw on what the wire carried.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH } from '@fleetcap/lib/packet/decode';
import type { PacketRecord } from '@fleetcap/lib/session-store/layout';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { METADATA_COLUMNS, verdictMetadata } from './verdict-metadata.ts';

const client = { address: '10.0.0.9', port: 51000 };
const server = { address: '10.0.0.2', port: 8008 };

function session(payloads: Array<{ fromClient: boolean; payload: Buffer; frame?: Buffer }>): LoadedSession {
  const packets: PacketRecord[] = payloads.map((p, i) => {
    const [src, dst] = p.fromClient ? [client, server] : [server, client];
    const frame =
      p.frame ??
      buildPacket({
        proto: 'tcp',
        src: src.address,
        sport: src.port,
        dst: dst.address,
        dport: dst.port,
        tcpFlags: TCP_ACK | TCP_PSH,
        tcpSeq: 1000 + i * 5000,
        payload: p.payload,
      });
    return {
      seq: i + 1,
      direction: p.fromClient ? 0 : 1,
      tsUs: 1_700_000_000_000_000 + i,
      wireLength: frame.length,
      payloadLength: p.payload.length,
      tcpFlags: TCP_ACK | TCP_PSH,
      linktype: 1,
      frame,
    };
  });
  return {
    message: {
      key: 'tcp/10.0.0.2/8008/10.0.0.9/51000',
      agent: 'host-1',
      communityId: '1:x',
      reason: 'delay',
      occurrence: 1,
      enqueuedAt: 0,
    },
    proto: 'tcp',
    client,
    server,
    agent: 'host-1',
    communityId: '1:x',
    occurrence: 1,
    firstUs: 1,
    lastUs: 2,
    packetsSeen: packets.length,
    bytes: 0,
    packets,
  } as LoadedSession;
}

describe('metadata with the verdict', () => {
  test('an HTTP session on port 8008 gives service, method, host, URI, user agent and status', () => {
    const m = verdictMetadata(
      session([
        {
          fromClient: true,
          payload: Buffer.from('GET /a?b=c HTTP/1.1\r\nHost: intranet.example\r\nUser-Agent: curl/8.5.0\r\n\r\n'),
        },
        { fromClient: false, payload: Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n') },
      ]),
    );
    assert.deepEqual(
      [
        m.values.service,
        m.values.http_method,
        m.values.http_host,
        m.values.http_uri,
        m.values.http_user_agent,
        m.values.http_status,
      ],
      ['http', 'GET', 'intranet.example', '/a?b=c', 'curl/8.5.0', 404],
    );
    assert.equal(m.values.metadata_truncated, 0);
    assert.deepEqual(m.truncated, []);
  });

  test('a URI longer than its column is cut to it and counted', () => {
    const uri = `/${'x'.repeat(1500)}`;
    const m = verdictMetadata(
      session([{ fromClient: true, payload: Buffer.from(`GET ${uri} HTTP/1.1\r\nHost: h\r\n\r\n`) }]),
    );
    assert.equal(m.values.http_uri, uri.slice(0, METADATA_COLUMNS.http_uri));
    assert.deepEqual(m.truncated, ['http_uri']);
    assert.equal(m.values.metadata_truncated, 1);
  });

  test('frames that are missing or garbage leave the fields empty and are counted; random payloads never throw', () => {
    const missing = verdictMetadata(
      session([{ fromClient: true, payload: Buffer.from('GET / HTTP/1.1\r\n'), frame: Buffer.alloc(0) }]),
    );
    assert.ok(missing.problems.includes('stored.no-frame'));
    assert.equal(missing.values.http_method, null);
    const garbage = verdictMetadata(
      session([{ fromClient: true, payload: Buffer.alloc(10), frame: Buffer.alloc(40, 0xff) }]),
    );
    assert.ok(garbage.problems.includes('stored.undecodable'), 'a frame that is not IP is counted');
    for (let i = 0; i < 300; i++) {
      const payloads = Array.from({ length: 1 + (i % 6) }, (_, j) => ({
        fromClient: j % 2 === 0,
        payload: randomBytes(i % 400),
      }));
      const m = verdictMetadata(session(payloads));
      for (const [column, length] of Object.entries(METADATA_COLUMNS)) {
        const v = m.values[column as keyof typeof METADATA_COLUMNS];
        if (typeof v === 'string' && length !== null) assert.ok([...v].length <= length, `${column} within its column`);
      }
    }
  });
});
