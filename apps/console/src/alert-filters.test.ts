import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FilterError, filterQuery, parseAlertFilters } from './alert-filters.ts';

const now = new Date('2026-12-02T06:00:00Z');

describe('alert filters', () => {
  it('defaults to the last hours before now, and reads every filter', () => {
    const f = parseAlertFilters({}, now, 24);
    assert.deepEqual(
      [f.from.toISOString(), f.to.toISOString(), f.before],
      ['2026-12-01T06:00:00.000Z', now.toISOString(), undefined],
    );
    const g = parseAlertFilters(
      {
        from: '2026-12-01T08:00',
        to: '2026-12-01T09:30:15Z',
        label: 'portscan',
        agent: 'host-1',
        source: '10.0.0.5',
        target: '192.0.2.1:443',
        before: '2026-12-01 09:00:01.000250~portscan~42',
      },
      now,
      24,
    );
    assert.equal(g.from.toISOString(), '2026-12-01T08:00:00.000Z', 'a time without a zone is UTC');
    assert.equal(g.to.toISOString(), '2026-12-01T09:30:15.000Z');
    assert.deepEqual(
      [g.label, g.agent, g.source, g.target, g.targetPort, g.before],
      [
        'portscan',
        'host-1',
        '10.0.0.5',
        '192.0.2.1',
        443,
        { at: '2026-12-01 09:00:01.000250', label: 'portscan', id: 42 },
      ],
    );
    const v6 = parseAlertFilters({ target: '[2001:DB8::1]:22', source: '2001:db8::2' }, now, 1);
    assert.deepEqual([v6.target, v6.targetPort, v6.source], ['2001:db8::1', 22, '2001:db8::2']);
    const unlabelled = parseAlertFilters({ before: '2026-12-01 09:00:01.000250~~7' }, now, 1);
    assert.deepEqual(unlabelled.before, { at: '2026-12-01 09:00:01.000250', label: null, id: 7 });
  });

  it('refuses each bad value with the field, what was wrong and the shape expected', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ from: 'yesterday' }, /^from: "yesterday" is not a time: give YYYY-MM-DDTHH:MM \(UTC\)/],
      [{ from: '2026-12-02T07:00' }, /^from: must be before to/],
      [{ from: '2020-01-01T00:00' }, /^from: the range is longer than 366 days/],
      [{ label: "x' OR 1=1" }, /^label: "x' OR 1=1" is not a label/],
      [{ agent: 'a/b' }, /^agent: "a\/b" is not an agent id/],
      [{ source: '300.1.1.1' }, /^source: "300.1.1.1" is not an IPv4 or IPv6 address/],
      [{ target: '10.0.0.1:0' }, /^target: port 0 is not 1-65535/],
      [{ before: '3' }, /^before: "3" is not a place in the alerts \(YYYY-MM-DD HH:MM:SS.ffffff~label~id\)/],
      [{ before: "2026-12-01 09:00:01.000250~x' OR 1=1~7" }, /^before: .* is not a place in the alerts/],
      [{ label: ['a', 'b'] }, /^label: given more than once/],
    ];
    for (const [q, message] of cases) {
      assert.throws(
        () => parseAlertFilters(q, now, 24),
        (err: Error) => err instanceof FilterError && message.test(err.message),
        JSON.stringify(q),
      );
    }
  });

  it('writes the filters back as a query string that parses to the same filters', () => {
    const f = parseAlertFilters(
      { from: '2026-12-01T08:00', to: '2026-12-01T09:00', label: 'sqli', target: '[2001:db8::1]:80' },
      now,
      24,
    );
    const before = { at: '2026-12-01 08:59:59.999999', label: 'sqli', id: 9 };
    const again = parseAlertFilters(Object.fromEntries(new URLSearchParams(filterQuery({ ...f, before }))), now, 24);
    assert.deepEqual(again, { ...f, before });
  });
});
