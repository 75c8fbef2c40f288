import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunLabels } from '@fleetcap/lib/features/labels';
import { labScoreLines } from './run-report.ts';

test("the lab part of the run's report: the score table, what it left out, where the runs are", () => {
  const t0 = 1_800_000_000;
  const scan: RunLabels = {
    scenario: 'portscan',
    class: 'portscan',
    seed: 101,
    rules: [
      { endpoints: [['10.77.0.100'], ['10.77.0.10']], class: 'portscan' },
      { endpoints: 'any', class: 'exclude' },
    ],
    start_epoch: t0,
    end_epoch: t0 + 10,
  };
  const verdict = (client: string, s: number, label: string) => ({
    client_addr: client,
    server_addr: '10.77.0.10',
    first_packet_at: new Date(s * 1000),
    label,
  });
  const lines = labScoreLines({
    runs: [scan],
    verdicts: [
      verdict('10.77.0.100', t0 + 1, 'portscan'),
      verdict('10.77.0.100', t0 + 2, 'benign'),
      verdict('10.77.0.50', t0 + 3, 'benign'),
      verdict('10.77.0.100', t0 + 100, 'portscan'),
    ],
    runsDir: '/runs',
    seed: 101,
  });
  assert.match(lines[0]!, /^\nLab scenarios: this run's verdicts against the lab's labels/);
  assert.match(lines[1]!, /portscan-101 .* portscan .* 2 .* 1 \(50\.0%\) .* 1 \(50\.0%\) .* portscan 1, benign 1/);
  assert.equal(lines[2], "     not scored: 1 sessions the lab's rules exclude, 1 outside every run's time window");
  assert.equal(lines[3], '     captures and labels: /runs/<scenario>-101/');
  assert.equal(lines.length, 4);
});
