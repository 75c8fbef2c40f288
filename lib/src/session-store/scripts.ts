// The session store's Lua scripts, read from the files beside this module (located by import.meta.url, so a
// compiled build that copies the .lua files next to the JS finds them the same way). As in BullMQ, a script's
// file name ends with the number of KEYS it takes (append-session-5.lua: 5 keys), and its header states its
// KEYS, ARGV and output.
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connect.ts';

export interface SessionScript {
  /** The ioredis command it is defined as. */
  command: 'appendSession' | 'finishSession' | 'recordConnection' | 'completeRecord' | 'loadSession';
  file: URL;
  numberOfKeys: number;
  lua: string;
}

function script(command: SessionScript['command'], fileName: string): SessionScript {
  const file = new URL(`./${fileName}`, import.meta.url);
  const keys = /-(\d+)\.lua$/.exec(fileName);
  if (keys === null) throw new Error(`${fileName}: a script's name ends with its number of KEYS, e.g. name-4.lua`);
  return { command, file, numberOfKeys: Number(keys[1]), lua: readFileSync(file, 'utf8') };
}

export const APPEND_SESSION = script('appendSession', 'append-session-5.lua');
export const FINISH_SESSION = script('finishSession', 'finish-session-4.lua');
export const RECORD_CONNECTION = script('recordConnection', 'record-connection-3.lua');
export const COMPLETE_RECORD = script('completeRecord', 'complete-record-2.lua');
export const LOAD_SESSION = script('loadSession', 'load-session-3.lua');

/**
 * append-session-5.lua over several sessions in one call (append-sessions.lua): that file with the per-session
 * script's text as the body of its function, so that the two can never differ. Its KEYS are five per session.
 */
export const APPEND_SESSIONS = wrappedScript('appendSessions', 'append-sessions.lua', 'APPEND_SESSION', APPEND_SESSION);

/** record-connection-3.lua over several sessions in one call (record-connections.lua), made as APPEND_SESSIONS is. */
export const RECORD_CONNECTIONS = wrappedScript(
  'recordConnections',
  'record-connections.lua',
  'RECORD_CONNECTION',
  RECORD_CONNECTION,
);

/** load-session-3.lua over several sessions in one call (load-sessions.lua), made as APPEND_SESSIONS is. */
export const LOAD_SESSIONS = wrappedScript('loadSessions', 'load-sessions.lua', 'LOAD_SESSION', LOAD_SESSION);

/** The connection records and done markers of several sessions in one call (read-records.lua): two KEYS a session. */
export const READ_RECORDS = {
  command: 'readRecords' as const,
  file: new URL('./read-records.lua', import.meta.url),
  lua: readFileSync(new URL('./read-records.lua', import.meta.url), 'utf8'),
};

/** The multi-session scripts: their number of KEYS is given with each call. */
export const BATCH_SCRIPTS = [APPEND_SESSIONS, RECORD_CONNECTIONS, READ_RECORDS, LOAD_SESSIONS] as const;

function wrappedScript<C extends string>(
  command: C,
  fileName: string,
  marker: string,
  inner: SessionScript,
): { command: C; file: URL; lua: string } {
  const file = new URL(`./${fileName}`, import.meta.url);
  const wrapper = readFileSync(file, 'utf8');
  const line = `\n--${marker}\n`;
  if (!wrapper.includes(line)) throw new Error(`${file}: no --${marker} line to put the script in`);
  return { command, file, lua: wrapper.replace(line, () => `\n${inner.lua}\n`) };
}

export const SESSION_SCRIPTS: readonly SessionScript[] = [
  APPEND_SESSION,
  FINISH_SESSION,
  RECORD_CONNECTION,
  COMPLETE_RECORD,
  LOAD_SESSION,
];

/** The scripts as commands, typed: (packets, meta, batches, done keys, then ARGV as the headers say). */
export interface SessionScriptCommands {
  appendSession(
    packets: string,
    meta: string,
    batches: string,
    done: string,
    record: string,
    ...argv: (string | Buffer)[]
  ): unknown;
  finishSession(
    packets: string,
    meta: string,
    batches: string,
    done: string,
    occurrence: string,
    ttl: string,
    packetsSeen: string,
  ): unknown;
  /** Five keys per session, then ARGV (append-sessions.lua): `keys` is their number. */
  appendSessions(keys: number, ...keysAndArgv: (string | Buffer)[]): unknown;
  /** Three keys per session, then ARGV (record-connections.lua). */
  recordConnections(keys: number, ...keysAndArgv: string[]): unknown;
  /** Two keys per session (read-records.lua). */
  readRecords(keys: number, ...keysAndArgv: string[]): unknown;
  recordConnection(record: string, done: string, meta: string, ...argv: string[]): unknown;
  completeRecord(record: string, done: string, ...argv: string[]): unknown;
  /** Three keys per session, then one ARGV (load-sessions.lua); replies with Buffers (records end with frames). */
  loadSessionsBuffer(keys: number, ...keysAndArgv: string[]): unknown;
}

export type SessionScriptPipeline = SessionScriptCommands & ChainableCommander;

/** Defines the scripts on this connection (EVALSHA, loading the script on NOSCRIPT); harmless when repeated. */
export function defineSessionScripts(redis: RedisClient): void {
  for (const s of SESSION_SCRIPTS) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  for (const s of BATCH_SCRIPTS) redis.defineCommand(s.command, { lua: s.lua });
}

/** A pipeline on a connection given to defineSessionScripts, with the scripts' commands. */
export function scriptPipeline(redis: RedisClient): SessionScriptPipeline {
  return redis.pipeline() as unknown as SessionScriptPipeline;
}
