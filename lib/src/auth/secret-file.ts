// Reading a secret from a file, alone in its module: lib/src/config/secrets.ts (which every app's env parsing loads)
// needs only this, and agent-credential.ts would bring node-zookeeper-client and the argon2 binding with it, which
// cost a compiled sniffer about a third of its start (docs/ARCHITECTURE.md, The agent's footprint).
import { readFileSync, statSync } from 'node:fs';

/**
 * Reads a secret from a file (FLEETCAP_AGENT_SECRET_FILE and the like): the first line, trimmed. A file that
 * others may read is refused, as ssh refuses a private key that is group- or world-readable.
 */
export function readSecretFile(path: string, what: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new Error(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if ((mode & 0o077) !== 0)
    throw new Error(
      `${what}: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path} and start again`,
    );
  const text = readFileSync(path, 'utf8').split('\n')[0]?.trim() ?? '';
  if (text === '') throw new Error(`${what}: ${path} is empty`);
  return text;
}
