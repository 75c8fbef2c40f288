import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AppendOutcome, formatAppliedOutcomes, parseAppliedOutcomes } from './writer.ts';

const outcomes: AppendOutcome[] = [
  {
    key: 'udp/10.0.0.1/53/10.0.0.2/4000',
    status: 'ok',
    appended: 3,
    dropped: 1,
    reasons: ['delay', 'full'],
    occurrence: 1_764_000_000_000_000,
    communityId: '1:abc=',
  },
  {
    key: 'tcp/10.0.0.1/443/10.0.0.3/5000',
    status: 'done',
    appended: 0,
    dropped: 7,
    reasons: [],
    occurrence: 0,
    communityId: '',
  },
];

test("an applied receipt gives back the append's outcomes as they were decided", () => {
  assert.deepEqual(parseAppliedOutcomes(formatAppliedOutcomes(outcomes)), outcomes);
  assert.deepEqual(parseAppliedOutcomes(formatAppliedOutcomes([])), []);
});

test('an applied receipt that is not such rows reads as none (the append then runs again)', () => {
  for (const text of ['', '{', '{}', '[[1]]', '[["k","lost",0,0,"",0,""]]', '[["k","ok",0.5,0,"",0,""]]'])
    assert.equal(parseAppliedOutcomes(text), undefined, text);
});
