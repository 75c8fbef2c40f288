// Any number of capture files: the --files-from list (a file or stdin) of `fleetcap sessions` and `classify`, and
// `fleetcap classify` with 1,000 arguments of 64+ characters, which onnxruntime-node 1.30.0 used to kill with SIGSEGV
// while creating its session (file-list.ts says why): the command runs itself again with a short command line.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { captureFiles, commandLineBytes, FileListError, parseFileList, SAFE_COMMAND_LINE_BYTES } from './file-list.ts';

const bin = fileURLToPath(new URL('../../bin/fleetcap.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fleetcap-file-list-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture(path: string, sport: number): string {
  const w = new PcapWriter({ linktype: 1 });
  const data = buildPacket({ proto: 'udp', src: '10.4.0.1', dst: '10.4.0.2', sport, dport: 53 });
  w.write({ tsSec: 1_700_000_000, tsNsec: 0, data });
  writeFileSync(path, w.toBuffer());
  return path;
}

function run(
  args: string[],
  stdin = '',
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: dir });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
    child.stdin.end(stdin);
  });
}

describe('file lists', () => {
  it('one path a line, CRLF or LF, blank lines skipped, spaces kept', () => {
    assert.deepEqual(parseFileList('a.pcap\r\n\n b c.pcap\nd.pcap'), ['a.pcap', ' b c.pcap', 'd.pcap']);
  });

  it('arguments first, then the list from a file or from stdin; none at all is an error that says what to give', async () => {
    const list = join(dir, 'list.txt');
    writeFileSync(list, 'x.pcap\ny.pcap\n');
    assert.deepEqual(await captureFiles(['w.pcap'], list), ['w.pcap', 'x.pcap', 'y.pcap']);
    assert.deepEqual(await captureFiles([], '-', async () => 'z.pcap\n'), ['z.pcap']);
    await assert.rejects(
      captureFiles([], undefined),
      (e: unknown) => e instanceof FileListError && /--files-from/.test(e.message),
    );
    await assert.rejects(captureFiles([], join(dir, 'absent.txt')), /cannot read the file list .*absent\.txt: ENOENT/);
  });

  it('this test process has a command line the guard measures', () => {
    assert.ok(commandLineBytes() > 0 && SAFE_COMMAND_LINE_BYTES < 28_906);
  });

  it('fleetcap sessions --files-from - reads the list on stdin, with arguments beside it', async () => {
    const files = [0, 1, 2].map((i) => capture(join(dir, `s${i}.pcap`), 2000 + i));
    const r = await run(['sessions', '--json', files[0]!, '--files-from', '-'], `${files[1]}\n${files[2]}\n`);
    assert.equal(r.code, 0, r.err);
    const summaries = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((o) => o.type === 'summary');
    assert.deepEqual(
      summaries.map((s) => s.file),
      files,
    );
  });

  it('fleetcap classify with 1,000 arguments of 64+ characters classifies every file (it used to die of SIGSEGV)', async () => {
    const long = join(dir, 'a-folder-whose-name-makes-every-path-long');
    mkdirSync(long);
    const files = Array.from({ length: 1000 }, (_, i) =>
      capture(join(long, `capture-${String(i).padStart(4, '0')}.pcap`), 3000 + i),
    );
    assert.ok(files.every((f) => f.length >= 64));
    const r = await run(['classify', '--json', ...files]);
    assert.equal(r.signal, null, `died of ${r.signal}`);
    assert.equal(r.code, 0, r.err.slice(-2000));
    const summaries = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((o) => o.type === 'summary');
    assert.equal(summaries.length, 1000);
    assert.deepEqual(
      summaries.map((s) => s.file),
      files,
    );
    assert.ok(summaries.every((s) => s.sessions === 1));
  });

  it('fleetcap classify without files says what to give and exits 64', () => {
    const r = spawnSync(process.execPath, [bin, 'classify'], { encoding: 'utf8' });
    assert.equal(r.status, 64);
    assert.match(
      r.stderr,
      /fleetcap classify: no capture files: give them as arguments or list them with --files-from/,
    );
  });
});
