import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientHelloMessage, dnsMessage, handshakeRecords } from '../app-metadata/build-messages.ts';
import { CONTENT_BYTES_PER_PACKET, decodeForScan } from './content.ts';
import {
  extractFeatures,
  FEATURE_NAMES,
  type FeatureName,
  type FeaturePacket,
  type FeatureSession,
} from './features.ts';

const T0 = 1_700_000_000_000_000;
const SYN = 0x02;
const ACK = 0x10;
const PA = 0x18;

function data(direction: number, dtUs: number, payload: Uint8Array | string, tcp = true): FeaturePacket {
  const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload, 'latin1')) : payload;
  return {
    direction,
    tsUs: T0 + dtUs,
    wireLength: 54 + bytes.length,
    payloadLength: bytes.length,
    tcpFlags: tcp ? PA : 0,
    payload: bytes,
  };
}

function bare(direction: number, dtUs: number, flags: number): FeaturePacket {
  return { direction, tsUs: T0 + dtUs, wireLength: 54, payloadLength: 0, tcpFlags: flags };
}

const HANDSHAKE = [bare(0, 0, SYN), bare(1, 100, SYN | ACK), bare(0, 200, ACK)];

function tcp(serverPort: number, packets: FeaturePacket[]): FeatureSession {
  return { proto: 'tcp', clientPort: 50000, serverPort, packets: [...HANDSHAKE, ...packets] };
}

function named(session: FeatureSession): Record<FeatureName, number> {
  const v = extractFeatures(session);
  return Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, v[i]!])) as Record<FeatureName, number>;
}

function sshPacket(type: number, bodyLength: number): Buffer {
  const padding = 4;
  const packetLength = 1 + 1 + bodyLength + padding;
  const b = Buffer.alloc(4 + packetLength);
  b.writeUInt32BE(packetLength, 0);
  b[4] = padding;
  b[5] = type;
  return b;
}

function tlsRecord(type: number, length: number): Buffer {
  const b = Buffer.alloc(5 + length);
  b[0] = type;
  b[1] = 3;
  b[2] = 3;
  b.writeUInt16BE(length, 3);
  return b;
}

describe('content features', () => {
  it('count SQL keywords, tautologies and metacharacters in an injected URI, none in a plain one', () => {
    const injected = named(
      tcp(80, [
        data(
          0,
          1000,
          'GET /app/item?id=1%27%20AND%205391%3D5391%20UNION%20SELECT%20NULL--%20- HTTP/1.1\r\nHost: x\r\n\r\n',
        ),
        data(1, 2000, 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 30\r\n\r\nsqlite3.OperationalError: near'),
      ]),
    );
    assert.equal(injected.http_requests, 1);
    assert.equal(injected.http_uri_params, 1);
    assert.ok(injected.http_percent_escapes >= 6);
    assert.equal(injected.http_sql_keywords, 2, 'union, select');
    assert.equal(injected.http_sql_tautologies, 1, 'AND 5391=5391');
    assert.ok(injected.http_sql_metachars >= 2, 'the quote and the comment');
    assert.equal(injected.http_status_5xx, 1);
    assert.equal(injected.http_sql_error_text, 1);

    const plain = named(
      tcp(80, [
        data(0, 1000, 'GET /docs/page-3.html?lang=en&x=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\n\r\n'),
        data(1, 2000, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
      ]),
    );
    assert.equal(plain.http_sql_keywords, 0);
    assert.equal(plain.http_sql_tautologies, 0);
    assert.equal(plain.http_sql_metachars, 0);
    assert.equal(plain.http_uri_params, 2);
    assert.equal(plain.http_status_2xx, 1);
    assert.equal(plain.login_commands_fwd, 0, 'User-Agent is no USER command');
  });

  it('decodes escapes and drops SQL comments before scanning', () => {
    assert.equal(decodeForScan('1%27/**/UNION/**/SELECT+1'), "1' union select 1");
  });

  it('count a form login in the body, header fragments of a slow request, and 401s', () => {
    const form = named(
      tcp(80, [
        data(0, 1000, 'POST /app/login HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\nusername=admin&password=abc'),
        data(1, 2000, 'HTTP/1.1 401 Unauthorized\r\n\r\n'),
      ]),
    );
    assert.equal(form.http_post_requests, 1);
    assert.equal(form.http_password_fields, 1);
    assert.equal(form.http_status_401_403, 1);

    const slow = named(
      tcp(80, [
        data(0, 1000, 'GET / HTTP/1.1\r\nHost: x\r\n'),
        data(0, 3_000_000, 'X-a: 1234\r\n'),
        data(0, 4_500_000, 'X-b: 99\r\n'),
      ]),
    );
    assert.equal(slow.http_requests, 1);
    assert.equal(slow.http_header_ends, 0);
    assert.equal(slow.http_header_fragments, 2);
    assert.equal(slow.http_responses, 0);
  });

  it('count login commands and failures of FTP, and read no login lines in binary payloads', () => {
    const ftp = named(
      tcp(21, [
        data(1, 1000, '220 ready\r\n'),
        data(0, 2000, 'USER admin\r\n'),
        data(1, 3000, '331 Please specify the password.\r\n'),
        data(0, 4000, 'PASS 123456\r\n'),
        data(1, 5000, '530 Login incorrect.\r\n'),
        data(0, 6000, 'QUIT\r\n'),
      ]),
    );
    assert.equal(ftp.login_commands_fwd, 2);
    assert.equal(ftp.auth_failures_bwd, 1);
    assert.equal(ftp.auth_successes_bwd, 0);
    assert.equal(ftp.text_error_replies_bwd, 1);
    assert.ok(ftp.printable_share_fwd === 1 && ftp.text_lines_bwd === 3);

    const pg = named(
      tcp(5432, [
        data(0, 1000, new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47])),
        data(
          1,
          2000,
          Buffer.concat([
            Buffer.from([0x45, 0, 0, 0, 40]),
            Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0'),
          ]),
        ),
      ]),
    );
    assert.equal(pg.auth_failures_bwd, 1);
    assert.equal(pg.login_commands_fwd, 0);
  });

  it('follows SSH packets to NEWKEYS and counts the encrypted packets after it', () => {
    const kexinit = sshPacket(20, 1500); // spans two segments
    const s = named(
      tcp(22, [
        data(0, 1000, 'SSH-2.0-OpenSSH_9.6\r\n'),
        data(1, 2000, 'SSH-2.0-OpenSSH_9.2\r\n'),
        data(0, 3000, kexinit.subarray(0, 1000)),
        data(0, 3100, kexinit.subarray(1000)),
        data(1, 4000, Buffer.concat([sshPacket(20, 600), sshPacket(31, 300), sshPacket(21, 0)])),
        data(0, 5000, Buffer.concat([sshPacket(30, 40)])),
        data(0, 6000, Buffer.concat([sshPacket(21, 0), Buffer.alloc(44)])),
        data(1, 7000, Buffer.alloc(44)),
        data(0, 8000, Buffer.alloc(100)),
        data(1, 9000, Buffer.alloc(52)),
      ]),
    );
    assert.equal(s.ssh_banner, 1);
    assert.equal(s.ssh_newkeys_fwd, 1);
    assert.equal(s.ssh_encrypted_packets_fwd, 2, 'the bytes after NEWKEYS in its segment, then one packet');
    assert.equal(s.ssh_encrypted_packets_bwd, 2);
    assert.equal(s.ssh_small_encrypted_bwd, 2);
    assert.equal(s.ssh_encrypted_payload_mean_fwd, 72);
  });

  it('follows TLS records: a ClientHello, then small application-data records seconds apart', () => {
    const hello = handshakeRecords(
      clientHelloMessage({ ciphers: [0x1301], extensions: [{ type: 'sni', name: 'lab.test' }] }),
    );
    const s = named(
      tcp(443, [
        data(0, 1000, hello),
        data(1, 2000, Buffer.concat([tlsRecord(22, 90), tlsRecord(20, 1), tlsRecord(23, 2000).subarray(0, 600)])),
        data(1, 2100, Buffer.alloc(1405)),
        data(0, 3000, Buffer.concat([tlsRecord(20, 1), tlsRecord(23, 80)])),
        data(0, 2_003_000, tlsRecord(23, 40)),
        data(0, 4_003_000, tlsRecord(23, 40)),
      ]),
    );
    assert.equal(s.tls_client_hello, 1);
    assert.equal(s.tls_records_bwd, 3);
    assert.equal(s.tls_appdata_records_bwd, 1);
    assert.equal(s.tls_appdata_bytes_bwd, 2000);
    assert.equal(s.tls_records_fwd, 5);
    assert.equal(s.tls_appdata_records_fwd, 3);
    assert.equal(s.tls_small_appdata_fwd, 2);
    assert.ok(Math.abs(s.tls_appdata_iat_fwd_mean - 2) < 1e-6);
  });

  it('reads the DNS query name shape and error responses', () => {
    const query = dnsMessage({ id: 7, name: 'a.verylonglabel.lab.test', type: 1 });
    const answer = dnsMessage({
      id: 7,
      name: 'a.verylonglabel.lab.test',
      type: 1,
      response: true,
      rcode: 3,
      answers: 0,
    });
    const s = named({
      proto: 'udp',
      clientPort: 40000,
      serverPort: 53,
      packets: [data(0, 0, query, false), data(1, 500, answer, false)],
    });
    assert.equal(s.dns_queries, 1);
    assert.equal(s.dns_responses, 1);
    assert.equal(s.dns_error_responses, 1);
    assert.equal(s.dns_name_length, 24);
    assert.equal(s.dns_name_labels, 4);
    assert.equal(s.dns_max_label_length, 13);
  });

  it('reads only the first CONTENT_BYTES_PER_PACKET bytes of a payload, so a cut stored frame gives the same values', () => {
    const long = `GET /?q=${'a'.repeat(CONTENT_BYTES_PER_PACKET)}%27UNION%20SELECT HTTP/1.1\r\n\r\n`;
    const full = data(0, 1000, long);
    const cut = { ...full, payload: full.payload!.subarray(0, CONTENT_BYTES_PER_PACKET + 10) };
    assert.deepEqual(extractFeatures(tcp(80, [full])), extractFeatures(tcp(80, [cut])));
    assert.equal(named(tcp(80, [full])).http_sql_keywords, 0, 'the keywords lie beyond what is read');
  });

  it('gives no content values without payload bytes (a store without frames)', () => {
    const s = named(tcp(80, [{ ...data(0, 1000, 'GET / HTTP/1.1\r\n\r\n'), payload: undefined }]));
    assert.equal(s.content_bytes_fwd, 0);
    assert.equal(s.printable_share_fwd, -1);
    assert.equal(s.http_requests, 0);
  });
});
