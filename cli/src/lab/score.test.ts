import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunLabels } from '@fleetcap/lib/features/labels';
import { labScoreRows, scoreLabRuns } from './score.ts';

const servers = ['10.77.0.10', '10.77.0.11'];
function run(
  scenario: string,
  seed: number,
  start: number,
  end: number,
  attackers: string[],
  clients: string[],
): RunLabels {
  const rules: RunLabels['rules'] = [];
  if (scenario !== 'benign') rules.push({ endpoints: [attackers, servers], class: scenario });
  rules.push({ endpoints: [clients, servers], class: 'benign' });
  rules.push({ endpoints: 'any', class: 'exclude' });
  return { scenario, class: scenario, seed, rules, start_epoch: start, end_epoch: end };
}
const at = (s: number) => new Date(s * 1000);

describe('scoreLabRuns', () => {
  const t0 = 1_800_000_000;
  const benign = run('benign', 5, t0, t0 + 20, [], ['10.77.0.20']);
  // Starts 1.5 s after benign ends: the padded windows overlap.
  const scan = run('portscan', 5, t0 + 21.5, t0 + 30, ['10.77.0.100'], ['10.77.0.21']);

  test('counts each session under its run and true class, exact and as any attack', () => {
    const score = scoreLabRuns(
      [benign, scan],
      [
        { client_addr: '10.77.0.20', server_addr: '10.77.0.10', first_packet_at: at(t0 + 1), label: 'benign' },
        { client_addr: '10.77.0.20', server_addr: '10.77.0.11', first_packet_at: at(t0 + 2), label: 'sqli' },
        { client_addr: '10.77.0.100', server_addr: '10.77.0.10', first_packet_at: at(t0 + 25), label: 'portscan' },
        { client_addr: '10.77.0.100', server_addr: '10.77.0.11', first_packet_at: at(t0 + 26), label: 'synflood' },
        { client_addr: '10.77.0.100', server_addr: '10.77.0.11', first_packet_at: at(t0 + 27), label: 'benign' },
        { client_addr: '10.77.0.21', server_addr: '10.77.0.11', first_packet_at: at(t0 + 27), label: 'benign' },
      ],
    );
    const by = Object.fromEntries(score.classes.map((c) => [`${c.scenario}/${c.trueClass}`, c]));
    assert.deepEqual(Object.keys(by), ['benign/benign', 'portscan/portscan', 'portscan/benign']);
    assert.equal(by['benign/benign']!.sessions, 2);
    assert.equal(by['benign/benign']!.asTrueClass, 1);
    assert.equal(by['benign/benign']!.asAttack, 1);
    assert.equal(by['portscan/portscan']!.sessions, 3);
    assert.equal(by['portscan/portscan']!.asTrueClass, 1);
    assert.equal(by['portscan/portscan']!.asAttack, 2);
    assert.deepEqual([...by['portscan/portscan']!.predicted.entries()].sort(), [
      ['benign', 1],
      ['portscan', 1],
      ['synflood', 1],
    ]);
    assert.equal(score.excluded, 0);
    assert.equal(score.outside, 0);
  });

  test("a session in two runs' padded windows goes to the run whose rules know its endpoints", () => {
    // t0 + 21.6 lies in benign's tail (end + 3 s) and in the scan's traffic time; benign's rules exclude the attacker.
    const score = scoreLabRuns(
      [benign, scan],
      [
        { client_addr: '10.77.0.100', server_addr: '10.77.0.10', first_packet_at: at(t0 + 21.6), label: 'portscan' },
        // a late benign packet of the first run, in the scan's lead-in: benign-5's client, known only to benign-5
        { client_addr: '10.77.0.20', server_addr: '10.77.0.10', first_packet_at: at(t0 + 21.0), label: 'benign' },
      ],
    );
    assert.deepEqual(
      score.classes.map((c) => [c.scenario, c.trueClass, c.sessions]),
      [
        ['benign', 'benign', 1],
        ['portscan', 'portscan', 1],
      ],
    );
  });

  test('leftovers and rows outside every window are counted apart, never scored', () => {
    const score = scoreLabRuns(
      [benign],
      [
        { client_addr: '10.77.0.130', server_addr: '10.77.0.10', first_packet_at: at(t0 + 3), label: 'synflood' },
        { client_addr: '10.77.0.20', server_addr: '10.77.0.10', first_packet_at: at(t0 + 100), label: 'benign' },
      ],
    );
    assert.equal(score.classes.length, 0);
    assert.equal(score.excluded, 1);
    assert.equal(score.outside, 1);
  });

  test('labels without a time window are refused with the run named', () => {
    const { start_epoch: _s, ...noTimes } = benign;
    assert.throws(() => scoreLabRuns([noTimes], []), /lab run benign-5: labels.json has no start_epoch/);
  });

  test('rows show shares and the predicted labels, most frequent first', () => {
    const score = scoreLabRuns(
      [scan],
      [
        // A label under its class's threshold is no alert; a row without alert is read by the argmax rule.
        {
          client_addr: '10.77.0.100',
          server_addr: '10.77.0.10',
          first_packet_at: at(t0 + 25),
          label: 'portscan',
          alert: 1,
        },
        {
          client_addr: '10.77.0.100',
          server_addr: '10.77.0.10',
          first_packet_at: at(t0 + 25),
          label: 'portscan',
          alert: 0,
        },
        { client_addr: '10.77.0.100', server_addr: '10.77.0.10', first_packet_at: at(t0 + 25), label: 'benign' },
      ],
    );
    assert.deepEqual(labScoreRows(score), [
      {
        run: 'portscan-5',
        'true class': 'portscan',
        sessions: 3,
        'labelled so': '2 (66.7%)',
        'as an attack': '2 (66.7%)',
        alerted: '1 (33.3%)',
        predicted: 'portscan 2, benign 1',
      },
    ]);
  });
});
