import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CaptureLabeler, parseCaptureLabels } from './capture-labels.ts';

const session = { proto: 'tcp' as const, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 21 };

describe('capture labels', () => {
  it('labels every session benign unless the file is listed; the first fitting rule wins over the file class', () => {
    const labeler = new CaptureLabeler(
      parseCaptureLabels(
        {
          files: {
            'zeek/ftp/bruteforce.pcap': { class: 'bruteforce', why: 'FTP password guessing' },
            'zeek/nmap.pcap': {
              class: 'portscan',
              why: 'a scan',
              rules: [
                { match: { proto: 'udp', serverPort: [53] }, class: 'exclude', why: 'its DNS' },
                { match: { client: ['10.0.0.1'], clientPort: [40000] }, class: 'benign', why: 'one real client' },
              ],
            },
          },
        },
        'labels.json',
      ),
    );
    assert.equal(labeler.labelOf('zeek/http/get.pcap', session), 'benign');
    assert.equal(labeler.labelOf('zeek/ftp/bruteforce.pcap', session), 'bruteforce');
    assert.equal(labeler.labelOf('zeek/nmap.pcap', { ...session, proto: 'udp', dport: 53 }), 'exclude');
    assert.equal(labeler.labelOf('zeek/nmap.pcap', session), 'benign');
    assert.equal(labeler.labelOf('zeek/nmap.pcap', { ...session, sport: 40001 }), 'portscan');
    assert.deepEqual(labeler.unmatched(new Set(['zeek']), new Set(['zeek/nmap.pcap'])), ['zeek/ftp/bruteforce.pcap']);
    assert.deepEqual(labeler.unmatched(new Set(['tcpdump-tests']), new Set()), [], 'entries of sources not read');
  });

  it('refuses entries without a reason, unknown match fields and keys without a source', () => {
    assert.throws(
      () => parseCaptureLabels({ files: { 'zeek/a.pcap': { class: 'exclude' } } }, 'labels.json'),
      /labels\.json: files\.zeek\/a\.pcap\.why/,
    );
    assert.throws(
      () =>
        parseCaptureLabels(
          {
            files: { 'zeek/a.pcap': { class: 'x', why: 'y', rules: [{ match: { port: [1] }, class: 'z', why: 'w' }] } },
          },
          'labels.json',
        ),
      /rules\.0\.match/,
    );
    assert.throws(
      () => parseCaptureLabels({ files: { 'a.pcap': { class: 'x', why: 'y' } } }, 'l.json'),
      /<source>\/<path>/,
    );
  });

  it('reads the committed model/capture-labels.json', () => {
    const path = new URL('../../../model/capture-labels.json', import.meta.url).pathname;
    const labels = parseCaptureLabels(JSON.parse(readFileSync(path, 'utf8')), path);
    assert.equal(labels.files['zeek/ftp/bruteforce.pcap']?.class, 'bruteforce');
  });
});
