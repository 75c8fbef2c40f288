// Finds the error and warning texts the system prints, by reading the source with the TypeScript parser, so that
// scripts/troubleshooting.test.ts can check that docs/TROUBLESHOOTING.md quotes every one of them.
//   node --import tsx --conditions=fleetcap-source scripts/error-messages.ts        lists every message found (file:line, kind, text)
//
// A message is kept in a normal form: every `${...}` of a template literal (and every non-literal operand of a `+`
// concatenation) becomes "…", and runs of white space are one space. In the page, each "…" may be any text inside
// the same `code span` (a <placeholder> or an example value), so the page writes `block total length <n> is less
// than 12` for `block total length ${blockLength} is less than 12`; the literal parts must be there as they are.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export const repoRoot = new URL('..', import.meta.url).pathname;

/** Where the messages live: the apps, the shared library, the CLI and the stack's probe. */
const ROOTS = ['apps', 'lib/src', 'cli/src', 'stack/probe.ts'];
/** Stack scripts whose `die "..."` and `printf '...' >&2` lines are error messages. */
const STACK_SCRIPTS = ['stack/stack.sh', 'stack/install.sh'];
/**
 * The traffic lab's scripts (every lab/*.sh): their `die "..."` messages (lab/lib.sh's die, printed as
 * `[lab <time> +<s>s] ERROR: <message>`, which `fleetcap run` shows in the last lines of a failed script). Their
 * only `printf ... >&2` is lib.sh's log() format line, so printf lines are not read there.
 */
export function labScripts(): string[] {
  return readdirSync(join(repoRoot, 'lab'))
    .filter((name) => name.endsWith('.sh'))
    .sort()
    .map((name) => `lab/${name}`);
}

/**
 * Files not scanned, and why. Everything else under ROOTS (except tests) is.
 */
export const EXCLUDED_FILES: Record<string, string> = {
  'lib/src/packet/build.ts': 'packet builder used by tests only; no app or command imports it',
  'apps/config-sync/src/in-memory-zk.ts': "the mirrors' unit tests' ZooKeeper stand-in; no app or command imports it",
};

export type MessageKind =
  | 'log' // pino log.warn/error/fatal (and log[level]) message
  | 'stderr' // console.error, process.stderr.write, err.write
  | 'error' // new SomethingError(message), fail(message)
  | 'http' // problem(res, status, message): an HTTP error body
  | 'status' // lastError / error / message texts, supervisor.waiting/stopCapture reasons (live node, agent_status)
  | 'validation'; // zod messages: .min(n, 'msg'), required_error, errorMap/addIssue messages

export interface FoundMessage {
  file: string;
  line: number;
  kind: MessageKind;
  /** The message in normal form (see normalize). */
  text: string;
}

/** A log call whose message is not a literal (a variable, another error's text): where, and the expression. */
export interface DynamicLogCall {
  file: string;
  line: number;
  expression: string;
  /** The call's stable `code` (a string literal in its first, object argument), which the page quotes; or null. */
  code: string | null;
}

/** `code: '…'` of an object literal argument, the stable name of a log call whose message is not a literal. */
function codeOf(node: ts.Expression | undefined): string | null {
  if (node === undefined || !ts.isObjectLiteralExpression(node)) return null;
  for (const p of node.properties) {
    if (ts.isPropertyAssignment(p) && p.name.getText() === 'code' && ts.isStringLiteralLike(p.initializer))
      return p.initializer.text;
  }
  return null;
}

/** A source message: <placeholder>s of its literal text become "…" too, adjacent "…" one; white space runs one space. */
export function normalize(text: string): string {
  return text
    .replace(/<[^<>\n]+>/g, '…')
    .replace(/…+/g, '…')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The page's text as the messages are looked for in it: white space runs are one space. */
export function pageText(markdown: string): string {
  return markdown.replace(/\s+/g, ' ');
}

/**
 * The regular expression that finds a normalized message in the page text: its literal parts as they are, each "…"
 * any text that does not leave the code span. A leading or trailing "…" is dropped (the page may quote the
 * stable part only, as in `fleetcap run: <error>` or `stack up failed:`).
 */
export function messagePattern(text: string): RegExp {
  const core = text.replace(/^(…\s*)+/, '').replace(/(\s*…)+$/, '');
  const parts = core.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(parts.join('[^`]*?'));
}

/** True when the page text (see pageText) quotes the normalized message. */
export function quotes(page: string, text: string): boolean {
  return messagePattern(text).test(page);
}

/** Message argument index per error class, when it is not the first argument. */
const MESSAGE_ARG: Record<string, number> = { PcapFormatError: 1, SessionKeyError: 1, RequestError: 1 };
const LOG_LEVELS = new Set(['warn', 'error', 'fatal']);
const ZOD_MESSAGE_METHODS = new Set([
  'regex',
  'min',
  'max',
  'url',
  'refine',
  'int',
  'length',
  'nonnegative',
  'positive',
]);
const STATUS_PROPERTIES = new Set(['lastError', 'error', 'message']);
/**
 * Calls whose argument at this index is a message that ends up printed: HTTP error bodies, model-card and config
 * failures, the listener's live-node reasons, spool drop reasons, agent_status.config_error texts.
 */
const CALL_MESSAGE_ARG: Record<string, { arg: number; kind: MessageKind }> = {
  problem: { arg: 2, kind: 'http' },
  fail: { arg: 0, kind: 'error' },
  waiting: { arg: 0, kind: 'status' },
  stopCapture: { arg: 0, kind: 'status' },
  countDrop: { arg: 1, kind: 'status' },
  recordConfigError: { arg: 1, kind: 'status' },
};
const ZOD_PROPERTIES = new Set(['required_error', 'invalid_type_error']);

/** The text of a string-ish expression (literal, template, + concatenation), or null when it holds no literal. */
export function literalText(node: ts.Expression): string | null {
  if (ts.isParenthesizedExpression(node)) return literalText(node.expression);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    let out = node.head.text;
    for (const span of node.templateSpans) out += `…${span.literal.text}`;
    return out;
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = literalText(node.left);
    const right = literalText(node.right);
    if (left === null && right === null) return null;
    return `${left ?? '…'}${right ?? '…'}`;
  }
  return null;
}

/** For `a || 'text'` and `cond ? 'x' : 'y'`: the literal sides. */
function literalSides(node: ts.Expression): string[] {
  const own = literalText(node);
  if (own !== null) return [own];
  if (ts.isParenthesizedExpression(node)) return literalSides(node.expression);
  if (
    ts.isBinaryExpression(node) &&
    (node.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
      node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
  ) {
    return [...literalSides(node.left), ...literalSides(node.right)];
  }
  if (ts.isConditionalExpression(node)) return [...literalSides(node.whenTrue), ...literalSides(node.whenFalse)];
  return [];
}

/** A message worth checking has some words of its own, not only placeholders and punctuation. */
function meaningful(text: string): boolean {
  return /[A-Za-z]{3,}/.test(text.replace(/…/g, ' '));
}

/** The last name of a receiver: `log`, `this.log`, `this.options.log`, `deps.log` -> "log". */
function lastName(node: ts.Expression): string | null {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  return null;
}

function isLogger(node: ts.Expression): boolean {
  const name = lastName(node);
  return name !== null && /^(log|alog|logger)$/i.test(name);
}

function calleeName(node: ts.Expression): string | null {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  return null;
}

function enclosingFunctionName(node: ts.Node): string | null {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) return n.name?.getText() ?? null;
  }
  return null;
}

export function scanSource(file: string, source: string): { messages: FoundMessage[]; dynamic: DynamicLogCall[] } {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const messages: FoundMessage[] = [];
  const dynamic: DynamicLogCall[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const add = (node: ts.Node, kind: MessageKind, text: string | null) => {
    if (text === null) return;
    const n = normalize(text);
    if (meaningful(n)) messages.push({ file, line: lineOf(node), kind, text: n });
  };
  const isCli = file.startsWith('cli/') || file.startsWith('stack/');

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const args = node.arguments;
      // pino: log.warn(obj?, msg) / log[level](obj, msg)
      const isLevelCall =
        (ts.isPropertyAccessExpression(callee) && LOG_LEVELS.has(callee.name.text) && isLogger(callee.expression)) ||
        (ts.isElementAccessExpression(callee) && isLogger(callee.expression));
      if (isLevelCall && args.length > 0) {
        const msg = args.length === 1 ? args[0]! : args[args.length - 1]!;
        const text = literalText(msg);
        if (text !== null && meaningful(text)) add(node, 'log', text);
        else
          dynamic.push({
            file,
            line: lineOf(node),
            expression: msg.getText(sf),
            code: args.length > 1 ? codeOf(args[0]) : null,
          });
      }
      // stderr of the CLI and the stack probe
      if (isCli && ts.isPropertyAccessExpression(callee)) {
        const recv = callee.expression.getText(sf);
        const method = callee.name.text;
        if (
          (recv === 'console' && (method === 'error' || method === 'warn')) ||
          (method === 'write' && (recv === 'err' || recv === 'process.stderr'))
        ) {
          if (args[0]) add(node, 'stderr', literalText(args[0]));
        }
      }
      const name = calleeName(callee);
      const known = name !== null ? CALL_MESSAGE_ARG[name] : undefined;
      const arg = known ? args[known.arg] : undefined;
      if (known && arg) for (const t of literalSides(arg)) add(node, known.kind, t);
      // zod messages: .min(1, 'must be ...'), .regex(re, '...'), .url('...'), .refine(fn, '...')
      if (ts.isPropertyAccessExpression(callee) && ZOD_MESSAGE_METHODS.has(callee.name.text) && args.length > 0) {
        const last = args[args.length - 1]!;
        const text = literalText(last);
        // .min(0) has no message; .regex(/x/, 'msg') and .url('msg') do
        if (
          text !== null &&
          (args.length >= 2 ||
            callee.name.text === 'url' ||
            callee.name.text === 'int' ||
            callee.name.text === 'nonnegative' ||
            callee.name.text === 'positive')
        ) {
          add(node, 'validation', text);
        }
      }
    }
    if (ts.isNewExpression(node)) {
      const cls = ts.isIdentifier(node.expression) ? node.expression.text : '';
      if (/(Error|Unavailable|StoppedWhileRetrying)$/.test(cls) && node.arguments) {
        const arg = node.arguments[MESSAGE_ARG[cls] ?? 0];
        if (arg) add(node, 'error', literalText(arg));
      }
    }
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      const target = lastName(node.left as ts.Expression);
      if (target === 'lastError') for (const t of literalSides(node.right)) add(node, 'status', t);
    }
    // describeConfigError() and the like: the text a describe* function builds
    if (ts.isReturnStatement(node) && node.expression && ts.isTemplateExpression(node.expression)) {
      const fn = enclosingFunctionName(node);
      if (fn?.startsWith('describe')) add(node, 'status', literalText(node.expression));
    }
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))) {
      const prop = node.name.text;
      if (STATUS_PROPERTIES.has(prop)) for (const t of literalSides(node.initializer)) add(node, 'status', t);
      if (ZOD_PROPERTIES.has(prop)) add(node, 'validation', literalText(node.initializer));
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { messages, dynamic };
}

/**
 * The texts of the `die "..."` calls of a line: the double-quoted argument with every $VAR, ${...}, $(...) (nested
 * quotes and parentheses included), $1, $@ and the like as "…", and backslash escapes as the character they escape.
 */
export function dieTexts(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/\bdie "/g)) {
    let i = m.index + m[0].length;
    let text = '';
    let closed = false;
    while (i < line.length) {
      const c = line[i]!;
      if (c === '"') {
        closed = true;
        break;
      }
      if (c === '\\') {
        text += line[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === '$') {
        const next = line[i + 1] ?? '';
        if (next === '(' || next === '{') {
          i = skipGroup(line, i + 1);
          text += '…';
          continue;
        }
        const name = /^([A-Za-z_][A-Za-z0-9_]*|[*@#?0-9])/.exec(line.slice(i + 1));
        if (name) {
          i += 1 + name[1]!.length;
          text += '…';
          continue;
        }
      }
      text += c;
      i++;
    }
    if (closed) out.push(text);
  }
  return out;
}

/** The index after the ( or { group that starts at `open`, skipping quoted text and nested groups inside it. */
function skipGroup(line: string, open: number): number {
  const close: Record<string, string> = { '(': ')', '{': '}' };
  const stack: string[] = [close[line[open]!]!];
  let quote: string | null = null;
  let i = open + 1;
  while (i < line.length && stack.length > 0) {
    const c = line[i]!;
    if (c === '\\') i++;
    else if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '{') stack.push(close[c]!);
    else if (c === stack[stack.length - 1]) stack.pop();
    i++;
  }
  return i;
}

/**
 * `die "..."` (see dieTexts) and, unless printf is false, `printf '...' ... >&2` lines of a shell script; in a
 * printf format, $VAR, ${...}, $(...) and %s become "…". Comments and the die() definition are skipped.
 */
export function scanShell(file: string, source: string, { printf = true }: { printf?: boolean } = {}): FoundMessage[] {
  const out: FoundMessage[] = [];
  const dollar = /\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\$[*@0-9]/g;
  source.split('\n').forEach((line, i) => {
    if (/^\s*(die\(\)|#)/.test(line)) return;
    const texts = dieTexts(line);
    const format = printf ? /\bprintf '([^']*)'.*>&2/.exec(line) : null;
    if (format) texts.push(format[1]!.replace(/\\n/g, ' ').replace(dollar, '…'));
    for (const t of texts) {
      const n = normalize(t.replace(/%s/g, '…'));
      if (meaningful(n)) out.push({ file, line: i + 1, kind: 'stderr', text: n });
    }
  });
  return out;
}

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    let entries: string[];
    try {
      entries = readdirSync(path);
    } catch {
      // a file, not a folder
      if (path.endsWith('.ts')) out.push(relative(repoRoot, path));
      return;
    }
    for (const name of entries) {
      if (name === 'node_modules' || name === 'fixtures' || name.startsWith('.')) continue;
      walk(join(path, name));
    }
  };
  for (const root of ROOTS) {
    if (root === 'apps')
      for (const app of readdirSync(join(repoRoot, 'apps'))) walk(join(repoRoot, 'apps', app, 'src'));
    else walk(join(repoRoot, root));
  }
  return out.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !(f in EXCLUDED_FILES)).sort();
}

/** Every message of every scanned source file. */
export function findMessages(): { messages: FoundMessage[]; dynamic: DynamicLogCall[]; files: string[] } {
  const files = sourceFiles();
  const messages: FoundMessage[] = [];
  const dynamic: DynamicLogCall[] = [];
  for (const file of files) {
    const r = scanSource(file, readFileSync(join(repoRoot, file), 'utf8'));
    messages.push(...r.messages);
    dynamic.push(...r.dynamic);
  }
  for (const file of STACK_SCRIPTS) messages.push(...scanShell(file, readFileSync(join(repoRoot, file), 'utf8')));
  const lab = labScripts();
  for (const file of lab)
    messages.push(...scanShell(file, readFileSync(join(repoRoot, file), 'utf8'), { printf: false }));
  return { messages, dynamic, files: [...files, ...STACK_SCRIPTS, ...lab] };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const { messages, dynamic, files } = findMessages();
  for (const m of messages) console.log(`${m.file}:${m.line}\t${m.kind}\t${m.text}`);
  for (const d of dynamic) console.log(`${d.file}:${d.line}\tdynamic-log\t${d.code ?? '(no code)'}\t${d.expression}`);
  console.log(`${messages.length} messages, ${dynamic.length} dynamic log calls, ${files.length} files`);
}
