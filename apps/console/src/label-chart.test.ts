import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketSeconds, labelChartSvg } from './label-chart.ts';

describe('label chart', () => {
  it('picks a bucket that gives at most 60 bars', () => {
    const at = (h: number) => new Date(Date.UTC(2026, 11, 1) + h * 3_600_000);
    assert.equal(bucketSeconds(at(0), at(1)), 60);
    assert.equal(bucketSeconds(at(0), at(24)), 1800);
    assert.equal(bucketSeconds(at(0), at(24 * 30)), 43200);
  });

  it('stacks one bar per label and bucket, with its count, and escapes label names', () => {
    const from = new Date('2026-12-01T00:00:00Z');
    const to = new Date('2026-12-01T01:00:00Z');
    const b0 = from.getTime() / 1000 / 60;
    const svg = labelChartSvg(
      [
        { bucket: b0, label: 'portscan', n: 5 },
        { bucket: b0, label: 'sqli', n: 2 },
        { bucket: b0 + 10, label: '<b>', n: 1 },
      ],
      { from, to, bucketSeconds: 60 },
    );
    const bars = [...svg.matchAll(/<rect class="bar" data-label="([^"]*)" data-count="(\d+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    assert.deepEqual(
      bars.sort(),
      [
        ['&#60;b&#62;', 1],
        ['portscan', 5],
        ['sqli', 2],
      ].sort(),
    );
    assert.ok(!svg.includes('<b>'), 'a label is text, never markup');
    assert.match(svg, /portscan \(5\)/);
    assert.match(labelChartSvg([], { from, to, bucketSeconds: 60 }), /no alerts in this range/);
  });
});
