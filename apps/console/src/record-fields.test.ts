import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configInsertSql, configUpdateSql } from './config-sql.ts';
import { formatValue, recordGroups } from './record-fields.ts';

describe('session record and config SQL', () => {
  it('groups every column, and shows a column no group names under Other', () => {
    const groups = recordGroups({
      id: 7,
      label: 'sqli',
      conn_state: 'SF',
      service: null,
      probabilities: { sqli: 0.9 },
      first_packet_at: new Date('2026-12-01T08:00:00.5Z'),
    });
    assert.deepEqual(
      groups.map((g) => [g.title, g.fields]),
      [
        [
          'Session',
          [
            ['id', '7'],
            ['first_packet_at', '2026-12-01 08:00:00.500 UTC'],
          ],
        ],
        ['Verdict', [['label', 'sqli']]],
        ['Connection (Zeek conn_state and history)', [['conn_state', 'SF']]],
        ['Metadata', [['service', '-']]],
        ['Other', [['probabilities', '{"sqli":0.9}']]],
      ],
    );
    assert.equal(formatValue(Buffer.alloc(3)), '3 bytes');
  });

  it("writes the config's SQL with its values quoted as SQL strings", () => {
    const sql = configUpdateSql("o'brien", {
      device: 'eth0',
      bpf_filter: "tcp port 80 and host 'x' \\",
      snaplen: 65535,
      batch_packets: 1000,
      batch_ms: 1000,
      upload_concurrency: 2,
      enabled: 1,
    });
    assert.match(sql, /bpf_filter = 'tcp port 80 and host ''x'' \\\\',/);
    assert.match(sql, /WHERE agent_id = 'o''brien';$/);
    assert.match(
      configInsertSql('h1'),
      /^INSERT INTO sniffer_config \(agent_id, device, bpf_filter, splitcap_url\)\nVALUES \('h1', /,
    );
  });
});
