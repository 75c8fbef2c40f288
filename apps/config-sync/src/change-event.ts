// The change events of sniffer_config, in the two formats config-sync accepts, told apart per message:
//   - Debezium's envelope {before, after, source, op: c|u|d|r, ts_ms} (schemaless JSON, or {schema, payload});
//   - Canal's flat message {data: [...], old: [...], type: INSERT|UPDATE|DELETE, database, table, isDdl, es, ts,
//     pkNames}, where every value is a string and one message may carry several rows.
// Both become RowChange values; a message that is neither, or that cannot be routed to an agent, is a
// ChangeEventError that says what is wrong and where.
import type { SnifferConfigRow } from '@fleetcap/lib/config/agent-config';

export type ChangeOp = 'create' | 'update' | 'delete' | 'snapshot';

export interface RowChange {
  format: 'debezium' | 'canal';
  op: ChangeOp;
  agentId: string;
  /** The row after the change (null for a delete). */
  after: SnifferConfigRow | null;
  /** The row before the change, when the format carries it (always for a Debezium update or delete). */
  before: SnifferConfigRow | null;
  /** The revision of the row after the change, or of the deleted row; null when absent or not a whole number. */
  revision: number | null;
  /** When the database made the change (ms since the epoch), if the message says. */
  sourceTsMs: number | null;
}

export type ParsedMessage =
  | { kind: 'changes'; changes: RowChange[] }
  /** A well-formed message that is not for config-sync (a DDL statement, another table, a tombstone). */
  | { kind: 'ignored'; reason: string };

export class ChangeEventError extends Error {
  override name = 'ChangeEventError';
  constructor(
    message: string,
    /** Where in the message the problem is (a JSON path such as "after.agent_id", or "(message)"). */
    readonly where: string,
  ) {
    super(`${where}: ${message}`);
  }
}

export interface ParseOptions {
  /** The table the changes must be for (checked when the message names its table). */
  table?: string;
  /** The database the changes must be for (checked when the message names its database). */
  database?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** A revision is a whole number >= 0; BIGINT arrives as a number or (Canal) as a string. */
export function revisionOf(row: Json | null): number | null {
  const v = row?.revision;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v.trim())) return Number(v.trim());
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return null;
}

function agentIdOf(row: Json, where: string): string {
  const id = row.agent_id;
  if (typeof id !== 'string' || id.length === 0) {
    throw new ChangeEventError(`agent_id must be a non-empty string, got ${describeType(id)}`, `${where}.agent_id`);
  }
  return id;
}

function toMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** Parses one Kafka message value. Throws ChangeEventError when it is malformed. */
export function parseChangeMessage(
  value: Buffer | string | null | undefined,
  options: ParseOptions = {},
): ParsedMessage {
  if (value === null || value === undefined || value.length === 0) {
    return { kind: 'ignored', reason: 'tombstone (empty message value)' };
  }
  let message: unknown;
  try {
    message = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    throw new ChangeEventError(`not JSON (${(err as Error).message})`, '(message)');
  }
  if (!isObject(message))
    throw new ChangeEventError(`expected a JSON object, got ${describeType(message)}`, '(message)');

  // Debezium with schemas enabled wraps the envelope: {schema, payload}.
  if ('payload' in message && 'schema' in message) {
    if (message.payload === null) return { kind: 'ignored', reason: 'tombstone (null payload)' };
    if (!isObject(message.payload)) {
      throw new ChangeEventError(`expected the Debezium envelope, got ${describeType(message.payload)}`, 'payload');
    }
    return parseDebezium(message.payload, options, 'payload.');
  }
  if ('op' in message && ('after' in message || 'before' in message)) return parseDebezium(message, options, '');
  if ('type' in message && ('data' in message || 'isDdl' in message)) return parseCanal(message, options);
  throw new ChangeEventError(
    `neither a Debezium envelope (op, before, after) nor a Canal flat message (type, data, table); keys: ${Object.keys(message).join(', ') || '(none)'}`,
    '(message)',
  );
}

const debeziumOps: Record<string, ChangeOp> = { c: 'create', u: 'update', d: 'delete', r: 'snapshot' };

function parseDebezium(env: Json, options: ParseOptions, prefix: string): ParsedMessage {
  const opCode = env.op;
  if (typeof opCode !== 'string') {
    throw new ChangeEventError(`op must be one of "c", "u", "d", "r", got ${describeType(opCode)}`, `${prefix}op`);
  }
  if (opCode === 't' || opCode === 'm')
    return { kind: 'ignored', reason: `Debezium op "${opCode}" (truncate/message)` };
  const op = debeziumOps[opCode];
  if (!op)
    throw new ChangeEventError(`op must be one of "c", "u", "d", "r", got ${JSON.stringify(opCode)}`, `${prefix}op`);

  if (isObject(env.source)) {
    const { table, db } = env.source;
    if (options.table && typeof table === 'string' && table !== options.table) {
      return { kind: 'ignored', reason: `change of table ${String(db)}.${table}` };
    }
    if (options.database && typeof db === 'string' && db !== options.database) {
      return { kind: 'ignored', reason: `change of database ${db}` };
    }
  }
  for (const side of ['before', 'after'] as const) {
    const v = env[side];
    if (v !== null && v !== undefined && !isObject(v)) {
      throw new ChangeEventError(`must be a row object or null, got ${describeType(v)}`, `${prefix}${side}`);
    }
  }
  const before = (env.before ?? null) as Json | null;
  const after = (env.after ?? null) as Json | null;
  if (op === 'delete') {
    if (!before)
      throw new ChangeEventError('a delete (op "d") must carry the deleted row in before', `${prefix}before`);
  } else if (!after) {
    throw new ChangeEventError(`op "${opCode}" must carry the new row in after`, `${prefix}after`);
  }
  const row = (after ?? before) as Json;
  const agentId = agentIdOf(row, `${prefix}${after ? 'after' : 'before'}`);
  if (before && after && before.agent_id !== after.agent_id) {
    // An UPDATE of the primary key: Debezium normally emits delete + create instead; handle it as both.
    const oldId = agentIdOf(before, `${prefix}before`);
    return {
      kind: 'changes',
      changes: [
        {
          format: 'debezium',
          op: 'delete',
          agentId: oldId,
          after: null,
          before: before as SnifferConfigRow,
          revision: revisionOf(before),
          sourceTsMs: sourceTs(env),
        },
        {
          format: 'debezium',
          op: 'create',
          agentId,
          after: after as SnifferConfigRow,
          before: null,
          revision: revisionOf(after),
          sourceTsMs: sourceTs(env),
        },
      ],
    };
  }
  return {
    kind: 'changes',
    changes: [
      {
        format: 'debezium',
        op,
        agentId,
        after: after as SnifferConfigRow | null,
        before: before as SnifferConfigRow | null,
        revision: revisionOf(row),
        sourceTsMs: sourceTs(env),
      },
    ],
  };
}

function sourceTs(env: Json): number | null {
  return (isObject(env.source) ? toMs(env.source.ts_ms) : null) ?? toMs(env.ts_ms);
}

const canalTypes: Record<string, ChangeOp> = { INSERT: 'create', UPDATE: 'update', DELETE: 'delete' };

function parseCanal(msg: Json, options: ParseOptions): ParsedMessage {
  if (msg.isDdl === true) return { kind: 'ignored', reason: `Canal DDL (${String(msg.type)})` };
  const type = msg.type;
  if (typeof type !== 'string') throw new ChangeEventError(`type must be a string, got ${describeType(type)}`, 'type');
  const op = canalTypes[type.toUpperCase()];
  if (!op) {
    if (
      [
        'QUERY',
        'CREATE',
        'ALTER',
        'ERASE',
        'TRUNCATE',
        'RENAME',
        'CINDEX',
        'DINDEX',
        'GTID',
        'XACOMMIT',
        'XAROLLBACK',
        'MHEARTBEAT',
      ].includes(type.toUpperCase())
    ) {
      return { kind: 'ignored', reason: `Canal ${type} message` };
    }
    throw new ChangeEventError(`type must be INSERT, UPDATE or DELETE, got ${JSON.stringify(type)}`, 'type');
  }
  if (options.table && typeof msg.table === 'string' && msg.table !== options.table) {
    return { kind: 'ignored', reason: `change of table ${String(msg.database)}.${msg.table}` };
  }
  if (options.database && typeof msg.database === 'string' && msg.database !== options.database) {
    return { kind: 'ignored', reason: `change of database ${msg.database}` };
  }
  const data = msg.data;
  if (!Array.isArray(data) || data.length === 0) {
    throw new ChangeEventError(
      `a Canal ${type} must carry its rows in a non-empty data array, got ${describeType(data)}`,
      'data',
    );
  }
  const old = msg.old ?? null;
  if (old !== null && !Array.isArray(old))
    throw new ChangeEventError(`must be an array or null, got ${describeType(old)}`, 'old');
  if (op === 'update' && Array.isArray(old) && old.length !== data.length) {
    throw new ChangeEventError(`has ${old.length} entries for ${data.length} rows in data`, 'old');
  }
  const ts = toMs(msg.es) ?? toMs(msg.ts);
  const changes = data.map((row, i): RowChange => {
    if (!isObject(row)) throw new ChangeEventError(`must be a row object, got ${describeType(row)}`, `data[${i}]`);
    const agentId = agentIdOf(row, `data[${i}]`);
    const oldCols = Array.isArray(old) && isObject(old[i]) ? (old[i] as Json) : null;
    // Canal's old holds only the columns that changed; the row before is data with those values put back.
    const before = op === 'update' && oldCols ? ({ ...row, ...oldCols } as SnifferConfigRow) : null;
    if (op === 'delete') {
      return {
        format: 'canal',
        op,
        agentId,
        after: null,
        before: row as SnifferConfigRow,
        revision: revisionOf(row),
        sourceTsMs: ts,
      };
    }
    if (before && before.agent_id !== agentId) {
      throw new ChangeEventError(
        'an UPDATE of agent_id (the primary key) is not supported in Canal messages',
        `old[${i}].agent_id`,
      );
    }
    return {
      format: 'canal',
      op,
      agentId,
      after: row as SnifferConfigRow,
      before,
      revision: revisionOf(row),
      sourceTsMs: ts,
    };
  });
  return { kind: 'changes', changes };
}
