// Parsing of recorded Debezium events (real, from the local stack) and Canal flat messages, and precise errors for
// malformed ones.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ChangeEventError, parseChangeMessage } from './change-event.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'));
const debezium = (name: string) => JSON.stringify(fixture(`debezium-${name}`).value);
const canal = (name: string) => JSON.stringify(fixture(`canal-${name}`));
const opts = { table: 'sniffer_config', database: 'fleetcap' };

function changes(text: string | Buffer | null) {
  const parsed = parseChangeMessage(text, opts);
  assert.equal(parsed.kind, 'changes', JSON.stringify(parsed));
  return parsed.kind === 'changes' ? parsed.changes : [];
}

function throwsAt(text: string, where: string, message: RegExp) {
  assert.throws(
    () => parseChangeMessage(text, opts),
    (err: unknown) => {
      assert.ok(err instanceof ChangeEventError, `a ChangeEventError, got ${String(err)}`);
      assert.equal(err.where, where);
      assert.match(err.message, message);
      return true;
    },
  );
}

test('Debezium create (recorded): op create, the new row, its revision and the binlog time', () => {
  const [c, ...rest] = changes(debezium('create'));
  assert.equal(rest.length, 0);
  assert.ok(c);
  assert.equal(c.format, 'debezium');
  assert.equal(c.op, 'create');
  assert.equal(c.agentId, fixture('debezium-create').key.agent_id);
  assert.equal(c.before, null);
  assert.equal(c.after?.bpf_filter, 'tcp port 80');
  assert.equal(c.revision, 1);
  assert.equal(c.sourceTsMs, fixture('debezium-create').value.source.ts_ms);
});

test('Debezium update (recorded): before and after, the revision of after', () => {
  const [c] = changes(debezium('update'));
  assert.equal(c?.op, 'update');
  assert.equal(c?.before?.bpf_filter, 'tcp port 80');
  assert.equal(c?.after?.bpf_filter, 'udp port 53');
  assert.equal(c?.revision, 2);
});

test("Debezium update to an invalid row (recorded) still parses: validation is the mirror's job", () => {
  const [c] = changes(debezium('update-negative-batch'));
  assert.equal(c?.after?.batch_packets, -5);
  assert.equal(c?.revision, 3);
});

test('Debezium delete (recorded): the deleted row in before, its revision', () => {
  const [c] = changes(debezium('delete'));
  assert.equal(c?.op, 'delete');
  assert.equal(c?.after, null);
  assert.equal(c?.before?.agent_id, fixture('debezium-delete').key.agent_id);
  assert.equal(c?.revision, 4);
});

test('Debezium snapshot read (recorded, op r) is an upsert like a create; a Buffer value parses the same', () => {
  const recorded = fixture('debezium-snapshot');
  assert.equal(recorded.value.op, 'r');
  const [c] = changes(Buffer.from(JSON.stringify(recorded.value)));
  assert.equal(c?.op, 'snapshot');
  assert.equal(c?.agentId, recorded.key.agent_id);
  assert.equal(c?.after?.batch_ms, 250);
  assert.equal(c?.revision, 1);
});

test('Debezium with schemas enabled ({schema, payload}) is unwrapped', () => {
  const [c] = changes(JSON.stringify({ schema: { type: 'struct' }, payload: fixture('debezium-update').value }));
  assert.equal(c?.op, 'update');
  assert.equal(c?.revision, 2);
});

test('tombstones and other tables are ignored, not errors', () => {
  assert.deepEqual(parseChangeMessage(null, opts), { kind: 'ignored', reason: 'tombstone (empty message value)' });
  assert.equal(parseChangeMessage(Buffer.alloc(0), opts).kind, 'ignored');
  assert.equal(parseChangeMessage(JSON.stringify({ schema: {}, payload: null }), opts).kind, 'ignored');
  const other = {
    ...fixture('debezium-create').value,
    source: { ...fixture('debezium-create').value.source, table: 'agent_status' },
  };
  const parsed = parseChangeMessage(JSON.stringify(other), opts);
  assert.equal(parsed.kind, 'ignored');
  assert.match(parsed.kind === 'ignored' ? parsed.reason : '', /agent_status/);
});

test('Canal INSERT: string values, revision as a number, es as the time', () => {
  const [c] = changes(canal('insert'));
  assert.equal(c?.format, 'canal');
  assert.equal(c?.op, 'create');
  assert.equal(c?.agentId, 'canal-host-1');
  assert.equal(c?.after?.snaplen, '262144');
  assert.equal(c?.revision, 1);
  assert.equal(c?.sourceTsMs, 1795520000000);
});

test('Canal UPDATE: before is data with the old columns put back', () => {
  const [c] = changes(canal('update'));
  assert.equal(c?.op, 'update');
  assert.equal(c?.after?.bpf_filter, 'udp port 53');
  assert.equal(c?.before?.bpf_filter, 'tcp port 80');
  assert.equal(c?.before?.revision, '1');
  assert.equal(c?.before?.device, 'eth0');
  assert.equal(c?.revision, 2);
});

test('Canal DELETE: the deleted row in before', () => {
  const [c] = changes(canal('delete'));
  assert.equal(c?.op, 'delete');
  assert.equal(c?.after, null);
  assert.equal(c?.before?.agent_id, 'canal-host-1');
  assert.equal(c?.revision, 2);
});

test('Canal message with two rows gives two changes, in order', () => {
  const cs = changes(canal('update-two-rows'));
  assert.deepEqual(
    cs.map((c) => [c.agentId, c.revision, c.before?.bpf_filter]),
    [
      ['canal-host-2', 4, ''],
      ['canal-host-3', 9, 'port 22'],
    ],
  );
});

test('Canal DDL is ignored', () => {
  const parsed = parseChangeMessage(canal('ddl'), opts);
  assert.equal(parsed.kind, 'ignored');
});

test('malformed messages: precise errors naming where', () => {
  throwsAt('{"op": "c", "after": ', '(message)', /not JSON/);
  throwsAt('[1,2]', '(message)', /expected a JSON object, got an array/);
  throwsAt('{"hello": 1}', '(message)', /neither a Debezium envelope .* nor a Canal flat message.*keys: hello/);
  const create = fixture('debezium-create').value;
  throwsAt(JSON.stringify({ ...create, op: 'x' }), 'op', /op must be one of "c", "u", "d", "r", got "x"/);
  throwsAt(JSON.stringify({ ...create, op: 7 }), 'op', /got number 7/);
  throwsAt(JSON.stringify({ ...create, after: null }), 'after', /op "c" must carry the new row in after/);
  throwsAt(JSON.stringify({ ...create, after: 'row' }), 'after', /must be a row object or null, got string "row"/);
  throwsAt(
    JSON.stringify({ ...fixture('debezium-delete').value, before: null }),
    'before',
    /delete .* must carry the deleted row in before/,
  );
  throwsAt(
    JSON.stringify({ ...create, after: { ...create.after, agent_id: 42 } }),
    'after.agent_id',
    /non-empty string, got number 42/,
  );
  throwsAt(
    JSON.stringify({ ...create, after: { ...create.after, agent_id: '' } }),
    'after.agent_id',
    /non-empty string/,
  );
  throwsAt(JSON.stringify({ schema: {}, payload: [1] }), 'payload', /expected the Debezium envelope, got an array/);
  const ins = fixture('canal-insert');
  throwsAt(JSON.stringify({ ...ins, type: 'UPSERT' }), 'type', /INSERT, UPDATE or DELETE, got "UPSERT"/);
  throwsAt(JSON.stringify({ ...ins, data: [] }), 'data', /non-empty data array, got an array/);
  throwsAt(JSON.stringify({ ...ins, data: null }), 'data', /non-empty data array, got null/);
  throwsAt(JSON.stringify({ ...ins, data: ['x'] }), 'data[0]', /must be a row object, got string "x"/);
  throwsAt(JSON.stringify({ ...ins, data: [{ ...ins.data[0], agent_id: null }] }), 'data[0].agent_id', /got null/);
  const upd = fixture('canal-update');
  throwsAt(JSON.stringify({ ...upd, old: [{}, {}] }), 'old', /has 2 entries for 1 rows/);
  throwsAt(JSON.stringify({ ...upd, old: { bpf_filter: '' } }), 'old', /must be an array or null/);
  throwsAt(JSON.stringify({ ...upd, old: [{ agent_id: 'other' }] }), 'old[0].agent_id', /primary key/);
});

test('a missing or non-numeric revision parses to null (the mirror reports it)', () => {
  const create = fixture('debezium-create').value;
  const [c] = changes(JSON.stringify({ ...create, after: { ...create.after, revision: 'abc' } }));
  assert.equal(c?.revision, null);
  const { revision: _omit, ...noRevision } = create.after;
  const [d] = changes(JSON.stringify({ ...create, after: noRevision }));
  assert.equal(d?.revision, null);
});
