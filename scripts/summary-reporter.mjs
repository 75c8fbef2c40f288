// A node:test reporter that ends the run with one plain line, "N passed, N failed, N skipped" (and "N known failing
// (todo)" when tests marked todo ran), so that a reader (or CI) sees the totals without scrolling the spec output.
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let todo = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') continue;
    if (event.data.todo) todo++;
    else if (event.data.skip) skipped++;
    else if (event.type === 'test:pass') passed++;
    else failed++;
  }
  const known = todo > 0 ? `, ${todo} known failing (todo: not counted as passed)` : '';
  yield `\n${passed} passed, ${failed} failed, ${skipped} skipped${known}\n`;
}
