import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRunLabels, SessionLabeler } from './labels.ts';

const labels = {
  scenario: 'portscan',
  class: 'portscan',
  seed: 3,
  rules: [
    {
      endpoints: [
        ['10.77.0.119', '10.77.0.134'],
        ['10.77.0.10', '10.77.0.11'],
      ],
      class: 'portscan',
      why: 'attack',
    },
    { endpoints: 'any', class: 'benign' },
  ],
};

describe('lab labels', () => {
  it('takes the first matching rule, in either direction', () => {
    const l = new SessionLabeler(parseRunLabels(labels, 'labels.json'));
    assert.equal(l.labelOf('10.77.0.119', '10.77.0.11'), 'portscan');
    assert.equal(l.labelOf('10.77.0.10', '10.77.0.134'), 'portscan', 'server first');
    assert.equal(l.labelOf('10.77.0.20', '10.77.0.10'), 'benign', 'client traffic falls through to any');
    assert.equal(l.labelOf('10.77.0.119', '10.77.0.134'), 'benign', 'both in A is not [A, B]');
  });

  it('returns null when no rule matches', () => {
    const l = new SessionLabeler(parseRunLabels({ ...labels, rules: labels.rules.slice(0, 1) }, 'x'));
    assert.equal(l.labelOf('10.77.0.20', '10.77.0.10'), null);
  });

  it('rejects a malformed labels file with where and what', () => {
    assert.throws(
      () => parseRunLabels({ ...labels, rules: [] }, 'runs/a/labels.json'),
      /runs\/a\/labels.json: rules: /,
    );
    assert.throws(() => parseRunLabels({ ...labels, seed: 'x' }, 'f'), /f: seed: /);
  });
});
