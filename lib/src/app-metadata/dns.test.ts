import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsMessage, tcpSession, udpSession } from './build-messages.ts';
import { appMetadataOf } from './detect.ts';
import { parseDnsMessage, readName } from './dns.ts';

function withLength(message: Uint8Array): Uint8Array {
  return Uint8Array.from([message.length >> 8, message.length & 0xff, ...message]);
}

describe('DNS', () => {
  it('reads the question of the query and the code and answers of its response (UDP)', () => {
    const m = appMetadataOf(
      udpSession([
        { direction: 0, bytes: dnsMessage({ id: 7, name: 'www.example.com', type: 28 }) },
        { direction: 1, bytes: dnsMessage({ id: 7, name: 'www.example.com', type: 28, response: true, answers: 2 }) },
      ]),
    );
    assert.equal(m.service, 'dns');
    assert.deepEqual(m.dns, {
      queries: 1,
      responses: 1,
      queryName: 'www.example.com',
      queryType: 28,
      queryClass: 1,
      rcode: 0,
      answers: 2,
    });
    assert.deepEqual(m.problems, []);
  });

  it('is recognised on any port and over TCP with the length prefix, split over segments', () => {
    const m = appMetadataOf(
      tcpSession(
        [
          { direction: 0, bytes: withLength(dnsMessage({ name: 'a.example' })), segmentSize: 5 },
          { direction: 1, bytes: withLength(dnsMessage({ name: 'a.example', response: true, rcode: 3 })) },
        ],
        { responderPort: 5300 },
      ),
    );
    assert.equal(m.service, 'dns');
    assert.equal(m.dns?.queryName, 'a.example');
    assert.equal(m.dns?.rcode, 3);
  });

  it('stops at a compression loop and counts it', () => {
    // The question's name is a pointer to itself; then one that jumps between two labels.
    const self = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    assert.equal(readName(self, 12), 'dns.compression_loop');
    const pair = Uint8Array.from([
      0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12, 0, 1, 0, 1,
    ]);
    assert.equal(readName(pair, 16), 'dns.compression_loop');
    const elsewhere = appMetadataOf(udpSession([{ direction: 0, bytes: self }], { responderPort: 4000 }));
    assert.equal(elsewhere.service, undefined, 'a message that does not parse is DNS only on a DNS port');
    const on53 = appMetadataOf(udpSession([{ direction: 0, bytes: self }]));
    assert.equal(on53.service, 'dns');
    assert.equal(on53.dns?.queryName, undefined);
    assert.deepEqual(on53.problems, ['dns.compression_loop']);
  });

  it('decompresses names and bounds their length', () => {
    const response = dnsMessage({ name: 'x.example', response: true, answers: 1 });
    const answerName = readName(response, 12 + 11 + 4);
    assert.deepEqual(typeof answerName === 'object' ? answerName.name : answerName, 'x.example');
    const long = Uint8Array.from([...Array.from({ length: 5 }, () => [63, ...new Array(63).fill(0x61)]).flat(), 0]);
    assert.equal(readName(long, 0), 'dns.name_too_long');
    assert.equal(readName(Uint8Array.from([0x41, 0]), 0), 'dns.bad_label_type');
  });

  it('writes the root as "." and escapes bytes that are not printable', () => {
    const root = parseDnsMessage(dnsMessage({ name: '.', type: 2 }));
    assert.equal(root?.question?.name, '.');
    const odd = parseDnsMessage(
      Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x2e, 0x01, 0, 0, 1, 0, 1]),
    );
    assert.equal(odd?.question?.name, 'a\\046\\001');
  });

  it('reads a truncated message as far as it goes and says so', () => {
    const query = dnsMessage({ name: 'www.example.com' });
    const m = appMetadataOf(udpSession([{ direction: 0, bytes: query.subarray(0, 20) }]));
    assert.equal(m.service, 'dns');
    assert.equal(m.dns?.queryName, undefined);
    assert.deepEqual(m.problems, ['dns.truncated_message']);
  });
});

describe('readName without its text', () => {
  it('walks a name to the same end and finds the same problems as with its text', () => {
    const message = dnsMessage({ name: 'www.example.org', response: true, answers: 2 });
    const withText = readName(message, 12);
    const without = readName(message, 12, message.length, false);
    assert.deepEqual(without, { name: '', next: typeof withText === 'string' ? -1 : withText.next });
    const loop = Uint8Array.from([...new Array(12).fill(0), 0xc0, 12]);
    assert.equal(readName(loop, 12, loop.length, false), 'dns.compression_loop');
    assert.equal(readName(Uint8Array.from([0x41, 0]), 0, 2, false), 'dns.bad_label_type');
  });
});
