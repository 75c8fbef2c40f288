import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AlertPolicy, AlertPolicyError, alertPolicyOf, argmaxPolicy, decideAlert } from './alert-policy.ts';

const classes = ['benign', 'bruteforce', 'portscan', 'sqli'];
const policy: AlertPolicy = {
  version: 1,
  benignClass: 'benign',
  thresholds: { bruteforce: 0.6, portscan: 0.5, sqli: 1.01 },
  unknown: { rule: 'topProbabilityBelow', minTopProbability: 0.4 },
};

describe('decideAlert', () => {
  it('alerts when the most probable attack class reaches its threshold', () => {
    assert.deepEqual(decideAlert([0.1, 0.7, 0.1, 0.1], classes, policy), {
      label: 'bruteforce',
      score: 0.7,
      alert: true,
      unknown: false,
    });
    assert.equal(decideAlert([0.2, 0.2, 0.5, 0.1], classes, policy).alert, true, 'the threshold itself alerts');
  });

  it('keeps label and score but does not alert under the threshold', () => {
    assert.deepEqual(decideAlert([0.35, 0.55, 0.05, 0.05], classes, policy), {
      label: 'bruteforce',
      score: 0.55,
      alert: false,
      unknown: false,
    });
  });

  it('never alerts on benign, nor on a class whose threshold is above 1', () => {
    assert.equal(decideAlert([0.9, 0.05, 0.05, 0], classes, policy).alert, false);
    const d = decideAlert([0, 0, 0, 1], classes, policy);
    assert.deepEqual([d.label, d.alert], ['sqli', false]);
  });

  it('calls a session unknown when no class stands out, and an unknown session is no alert', () => {
    const d = decideAlert([0.3, 0.35, 0.2, 0.15], classes, {
      ...policy,
      thresholds: { ...policy.thresholds, bruteforce: 0.3 },
    });
    assert.deepEqual(d, { label: 'bruteforce', score: 0.35, alert: false, unknown: true });
    assert.equal(
      decideAlert([0.39, 0.3, 0.3, 0.01], classes, policy).unknown,
      true,
      'a benign label can be unknown too',
    );
  });

  it('takes the first of equal probabilities, like numpy argmax in training', () => {
    assert.equal(decideAlert([0.1, 0.45, 0.45, 0], classes, policy).label, 'bruteforce');
  });

  it('refuses probabilities that do not fit the classes', () => {
    assert.throws(() => decideAlert([0.5, 0.5], classes, policy), AlertPolicyError);
  });
});

describe('alertPolicyOf', () => {
  it("reads the card's policy and checks it against its classes", () => {
    assert.deepEqual(alertPolicyOf({ classes, alertPolicy: policy }, 'card.json'), policy);
    assert.throws(
      () =>
        alertPolicyOf(
          { classes, alertPolicy: { ...policy, thresholds: { bruteforce: 0.6, portscan: 0.5 } } },
          'card.json',
        ),
      /card\.json: alertPolicy\.thresholds has no threshold for class sqli/,
    );
    assert.throws(
      () =>
        alertPolicyOf(
          { classes, alertPolicy: { ...policy, thresholds: { ...policy.thresholds, synflood: 0.5 } } },
          'card.json',
        ),
      /thresholds\.synflood is not an attack class/,
    );
    assert.throws(
      () => alertPolicyOf({ classes, alertPolicy: { ...policy, unknown: { rule: 'distance' } } }, 'card.json'),
      /alertPolicy\.unknown\.rule/,
    );
  });

  it('gives a card without a policy the argmax: every attack label an alert, nothing unknown', () => {
    const p = alertPolicyOf({ classes }, 'old-card.json');
    assert.deepEqual(p, argmaxPolicy(classes));
    assert.deepEqual(decideAlert([0.3, 0.31, 0.2, 0.19], classes, p), {
      label: 'bruteforce',
      score: 0.31,
      alert: true,
      unknown: false,
    });
    assert.equal(decideAlert([0.6, 0.2, 0.1, 0.1], classes, p).alert, false);
  });
});
