// docs/TROUBLESHOOTING.md must quote every error and warning the system prints. The messages are found in the
// source by scripts/error-messages.ts (pino warn/error/fatal messages, thrown errors, HTTP error bodies, live-node
// and agent_status texts, config validation messages, CLI and stack-script stderr, the lab scripts' die messages);
// each must appear in the page in
// the form described there (`${x}` in the source = any <placeholder> or example value in the same code span).
// `node --import tsx --conditions=fleetcap-source scripts/error-messages.ts` lists them all.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  findMessages,
  labScripts,
  normalize,
  pageText,
  quotes,
  repoRoot,
  scanShell,
  scanSource,
} from './error-messages.ts';

const pagePath = 'docs/TROUBLESHOOTING.md';
const page = pageText(readFileSync(join(repoRoot, pagePath), 'utf8'));

/**
 * Log calls whose message is not a literal (it comes from somewhere else), by the stable `code` each carries in its
 * log object (`log.warn({ code: 'splitcap.session-shape', ... }, warning.message)`), and the text in the page that
 * covers what they print. The code is in every JSON line such a call writes, and the page quotes it, so an operator
 * finds the entry from the line; moving or renaming code around the call changes neither. A new non-literal
 * log.warn/error/fatal needs a code, an entry here and its texts documented.
 */
const DYNAMIC_LOG_CALLS: Record<string, string> = {
  'splitcap.session-shape': 'cannot check the session shape against the model card',
  'config-sync.kafkajs': 'kafkajs',
  'listener.revision-did-not-start': 'revision <n> did not start',
  'listener.sniffer-exited': 'crash loop: <n> unexpected exits in <n> s',
  'sniffer.capture-did-not-start': 'capture did not start: <error>',
};

test('the message finder sees every kind of message', () => {
  const src = `
    log.warn({ a: 1 }, 'a warning');
    this.options.log.error(\`sniffer \${x} failed\`);
    this.log[level]({}, 'a leveled line');
    log.info('not an error');
    log.error(someVariable);
    log.warn({ code: 'app.what', more: 1 }, other.message);
    throw new PcapFormatError(this.offset(), \`block length \${n} is odd\`);
    problem(res, 401, 'go away');
    this.lastError = \`crash loop: \${n} exits\`;
    const s = z.string({ required_error: 'name is required' }).min(1, 'name must not be empty');
    console.error('fleetcap x: ' + why);
  `;
  const { messages, dynamic } = scanSource('cli/src/x.ts', src);
  assert.deepEqual(
    messages.map((m) => `${m.kind} ${m.text}`),
    [
      'log a warning',
      'log sniffer … failed',
      'log a leveled line',
      'error block length … is odd',
      'http go away',
      'status crash loop: … exits',
      'validation name must not be empty',
      'validation name is required',
      'stderr fleetcap x: …',
    ],
  );
  assert.deepEqual(
    dynamic.map((d) => `${d.code} ${d.expression}`),
    ['null someVariable', 'app.what other.message'],
  );
  assert.deepEqual(
    scanShell('s.sh', 'die "no log for \'$1\': expected $LOGS/$1.log"\nprintf \'%s did not start\\n\' "$n" >&2\n').map(
      (m) => m.text,
    ),
    ["no log for '…': expected …/….log", '… did not start'],
  );
  const lab = [
    'die() {',
    '  log "ERROR: $*"',
    '}',
    '  # the children die with their namespace',
    '[[ -z $(ip addr show dev "$IF") ]] || die "port $IF has an address: $(ip -o addr show dev "$IF" | cut -d" " -f2)"',
    `ok || die "no \\"$NAME\\" (see \${DIR}/x.log, $1)"`,
    '  printf \'[lab %s] %s\\n\' "$(date)" "$*" >&2',
  ].join('\n');
  assert.deepEqual(
    scanShell('lab/x.sh', lab, { printf: false }).map((m) => `${m.line} ${m.text}`),
    ['5 port … has an address: …', '6 no "…" (see …/x.log, …)'],
  );
  assert.equal(normalize('pass --config <file>  or ……'), 'pass --config … or …');
  const doc = pageText('**`revision <n> did not start:\n  <why>`**, `stack up failed:` then `x` `capture ended`');
  assert.ok(quotes(doc, 'revision … did not start: …'));
  assert.ok(quotes(doc, 'stack up failed: …'));
  assert.ok(quotes(doc, '… did not start'));
  assert.ok(!quotes(doc, 'revision … did not stop'));
  assert.ok(!quotes(doc, 'stack up failed: … x'), 'a placeholder does not leave its code span');
});

test(`${pagePath} quotes every error and warning message of the source`, () => {
  const { messages, files } = findMessages();
  assert.ok(
    files.length > 50 && messages.length > 200,
    `the finder found only ${messages.length} messages in ${files.length} files`,
  );
  const missing = new Map<string, string[]>();
  for (const m of messages) {
    if (quotes(page, m.text)) continue;
    const where = missing.get(m.text) ?? [];
    where.push(`${m.file}:${m.line} (${m.kind})`);
    missing.set(m.text, where);
  }
  const report = [...missing]
    .map(([text, where]) => `  ${JSON.stringify(text)}\n      from ${where.join(', ')}`)
    .join('\n');
  assert.equal(
    missing.size,
    0,
    `${missing.size} messages are not quoted in ${pagePath}; add an entry (what prints it, what it means, what to do) for:\n${report}\n` +
      '(in the page, a <placeholder> or an example value stands for each interpolated part of the source text)',
  );
});

test('every die of the lab scripts is found, with its literal text', () => {
  const { messages, files } = findMessages();
  const scripts = labScripts();
  assert.ok(scripts.includes('lab/lib.sh') && scripts.includes('lab/run.sh'), `lab scripts: ${scripts.join(', ')}`);
  for (const file of scripts) {
    assert.ok(files.includes(file), `${file} is not scanned`);
    // every die call outside comments and die()'s own definition, one line each
    const calls = readFileSync(join(repoRoot, file), 'utf8')
      .split('\n')
      .map((line, i) => ({ line: i + 1, text: line }))
      .filter(({ text }) => /\bdie\b/.test(text) && !/^\s*(#|die\(\))/.test(text))
      .map(({ line }) => line);
    const found = messages.filter((m) => m.file === file).map((m) => m.line);
    assert.deepEqual(
      found,
      calls,
      `${file}: every die call must have a double-quoted message on its line with words of its own (found on lines ${found.join(', ')})`,
    );
  }
  assert.ok(messages.filter((m) => m.file.startsWith('lab/')).length >= 15, 'too few lab messages found');
});

test('every log call with a non-literal message has a stable code, documented with what it prints', () => {
  const { dynamic } = findMessages();
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const d of dynamic) {
    if (d.code === null)
      problems.push(`  ${d.file}:${d.line}: ${d.expression}: no \`code: '<app>.<what>'\` in its log object`);
    else if (!(d.code in DYNAMIC_LOG_CALLS))
      problems.push(`  ${d.file}:${d.line}: code ${d.code} is not in DYNAMIC_LOG_CALLS`);
    else seen.add(d.code);
  }
  assert.deepEqual(
    problems,
    [],
    `log calls whose message is not a literal: give each a stable code, add it to DYNAMIC_LOG_CALLS in scripts/troubleshooting.test.ts and document code and texts in ${pagePath}:\n${problems.join('\n')}`,
  );
  const stale = Object.keys(DYNAMIC_LOG_CALLS).filter((code) => !seen.has(code));
  assert.deepEqual(stale, [], 'DYNAMIC_LOG_CALLS names codes no log call carries any more: remove them');
  const uncovered = Object.entries(DYNAMIC_LOG_CALLS).filter(
    ([code, text]) => !page.includes(code) || !quotes(page, normalize(text)),
  );
  assert.deepEqual(uncovered, [], `these codes, or the texts their log calls print, are not in ${pagePath}`);
});

test(`${pagePath} names every error class`, () => {
  const { files } = findMessages();
  const missing: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(repoRoot, file), 'utf8');
    for (const m of source.matchAll(/\bclass (\w+) extends Error\b/g))
      if (!page.includes(m[1]!)) missing.push(`${m[1]} (${file})`);
  }
  assert.deepEqual(missing, [], `error classes not named in ${pagePath}`);
});

test(`${pagePath} names every x-fleetcap-* header`, () => {
  const { files } = findMessages();
  const lowerPage = page.toLowerCase();
  const missing = new Set<string>();
  for (const file of files.filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(repoRoot, file), 'utf8');
    for (const m of source.matchAll(/'(x-fleetcap-[a-z-]+)'/gi))
      if (!lowerPage.includes(m[1]!.toLowerCase())) missing.add(m[1]!);
  }
  assert.deepEqual([...missing], [], `headers not named in ${pagePath}`);
});
