import assert from 'node:assert/strict';
import { test } from 'node:test';
import { occurrenceDay } from './partition-days.ts';

test("an occurrence's day is TO_DAYS of its UTC date, as sql/016's DEFAULT computes it", () => {
  // SELECT TO_DAYS('1970-01-01'), TO_DAYS('2026-12-02'): 719528, 740317.
  assert.equal(occurrenceDay(1, 0), 719_528);
  assert.equal(occurrenceDay(Date.UTC(2026, 11, 2, 0, 0, 0) * 1000, 0), 740_317);
  assert.equal(occurrenceDay(Date.UTC(2026, 11, 2, 23, 59, 59, 999) * 1000 + 999, 0), 740_317);
  assert.equal(occurrenceDay(Date.UTC(2026, 11, 3) * 1000, 0), 740_318);
  assert.equal(occurrenceDay(0, Date.UTC(2026, 11, 3) * 1000), 740_318, 'no occurrence: the first packet day');
});
