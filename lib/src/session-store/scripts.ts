// The session store's Lua scripts, read from the files beside this module (located by import.meta.url, so a
// compiled build that copies the .lua files next to the JS finds them the same way). As in BullMQ, a script's
// file name ends with the number of KEYS it takes (append-session-5.lua: 5 keys), and its header states its
// KEYS, ARGV and output.
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connect.ts';

export interface SessionScript {
  /** The ioredis command it is defined as. */
  command: 'appendSession' | 'finishSession' | 'recordConnection' | 'completeRecord';
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

/**
 * append-session-5.lua over several sessions in one call (append-sessions.lua): that file with the per-session
 * script's text as the body of its function, so that the two can never differ. Its KEYS are five per session.
 */
export const APPEND_SESSIONS = appendSessionsScript(new URL('./append-sessions.lua', import.meta.url));

function appendSessionsScript(file: URL): { command: 'appendSessions'; file: URL; lua: string } {
  const wrapper = readFileSync(file, 'utf8');
  const marker = '\n--APPEND_SESSION\n';
  if (!wrapper.includes(marker)) throw new Error(`${file}: no --APPEND_SESSION line to put the script in`);
  return { command: 'appendSessions', file, lua: wrapper.replace(marker, () => `\n${APPEND_SESSION.lua}\n`) };
}

export const SESSION_SCRIPTS: readonly SessionScript[] = [
  APPEND_SESSION,
  FINISH_SESSION,
  RECORD_CONNECTION,
  COMPLETE_RECORD,
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
  recordConnection(record: string, done: string, meta: string, ...argv: string[]): unknown;
  completeRecord(record: string, done: string, ...argv: string[]): unknown;
}

export type SessionScriptPipeline = SessionScriptCommands & ChainableCommander;

/** Defines the scripts on this connection (EVALSHA, loading the script on NOSCRIPT); harmless when repeated. */
export function defineSessionScripts(redis: RedisClient): void {
  for (const s of SESSION_SCRIPTS) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  redis.defineCommand(APPEND_SESSIONS.command, { lua: APPEND_SESSIONS.lua });
}

/** A pipeline on a connection given to defineSessionScripts, with the scripts' commands. */
export function scriptPipeline(redis: RedisClient): SessionScriptPipeline {
  return redis.pipeline() as unknown as SessionScriptPipeline;
}
