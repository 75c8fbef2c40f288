// `fleetcap agents add|rotate|revoke|list`: enrollment and revocation of agents by SQL (the agent_credential
// table, sql/008), as the admin account. The secret is printed once (or written to a 0600 file) and never stored:
// the table holds only its verifiers (lib/src/auth/agent-credential.ts). splitcap and config-sync read the table
// every second, so the change is in force within seconds, with no restart.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import {
  addAgent,
  addAgentSecret,
  checkAgentId,
  type Enrolled,
  listCredentials,
  revokeAgent,
  rotateAgent,
} from '@fleetcap/lib/auth/agent-enrolment';
import type { Command } from 'commander';
import { runSubcommand, withAdmin } from './admin-connection.ts';
import { renderTable } from './report.ts';

export { addAgent, type Enrolled, listCredentials, revokeAgent, rotateAgent };

/** What the operator puts on the agent's host. */
export function agentConfigLines(e: Enrolled, secretFile?: string): string[] {
  const path = '/etc/fleetcap/agent.secret';
  return [
    ...(secretFile
      ? [`the secret of agent "${e.agentId}" (credential ${e.credentialId}) is in ${secretFile} (mode 0600)`]
      : [
          `the secret of agent "${e.agentId}" (credential ${e.credentialId}), shown this once:`,
          `  ${e.secret}`,
          `store it on the agent's host, readable by the listener only:`,
          `  umask 077; printf '%s\\n' '${e.secret}' > ${path}`,
        ]),
    `the listener's settings:`,
    `  FLEETCAP_AGENT_ID=${e.agentId}`,
    `  FLEETCAP_AGENT_SECRET_FILE=${secretFile ?? path}`,
    ...(e.oldUntil ? [`the previous secret stays valid until ${e.oldUntil.toISOString()}`] : []),
  ];
}

const run = (what: string, fn: () => Promise<void>) => runSubcommand('agents', what, fn);

function report(e: Enrolled, secretFile?: string): void {
  if (secretFile) writeFileSync(secretFile, `${e.secret}\n`, { mode: 0o600, flag: 'wx' });
  for (const line of agentConfigLines(e, secretFile)) console.log(line);
}

/** Adds the subcommands to `fleetcap agents` (registered by report.ts, which prints the agents' status). */
export function registerAgentCredentialCommands(program: Command): void {
  const agents = program.commands.find((c) => c.name() === 'agents');
  if (!agents) throw new Error('register the agents command first');
  agents
    .command('add')
    .argument('<agent-id>')
    .option('--note <text>', 'a note kept with the credential', '')
    .option('--secret-file <path>', 'write the secret to this new file (mode 0600) instead of printing it')
    .option(
      '--existing-secret-file <path>',
      'enroll the secret already in this 0600 file (made elsewhere, e.g. by stack.sh secrets); nothing to do when it is enrolled',
    )
    .description('enroll an agent: a new secret, printed once, accepted by splitcap within seconds')
    .action((agentId: string, o: { note: string; secretFile?: string; existingSecretFile?: string }) =>
      run('add', async () => {
        if (o.existingSecretFile === undefined) {
          await withAdmin(async (c) => report(await addAgent(c, agentId, o.note), o.secretFile));
          return;
        }
        if (o.secretFile !== undefined) throw new Error('--secret-file and --existing-secret-file: give one of them');
        const secret = readSecretFile(o.existingSecretFile, '--existing-secret-file');
        const r = await withAdmin((c) => addAgentSecret(c, agentId, secret, o.note));
        console.log(
          r.state === 'added'
            ? `enrolled agent "${agentId}" (credential ${r.credentialId}) with the secret in ${o.existingSecretFile}`
            : `agent "${agentId}" is enrolled with the secret in ${o.existingSecretFile} already (credential ${r.credentialId})`,
        );
      }),
    );
  agents
    .command('add-many')
    .argument('<ids-file>', 'agent ids, one a line (blank lines and # comments skipped)')
    .requiredOption('--secrets-dir <dir>', 'each secret goes to <dir>/<agent-id>.secret (mode 0600); nothing printed')
    .option('--note <text>', 'a note kept with each credential', '')
    .description('enroll many agents in one transaction: all of them or, on any error, none')
    .action((idsFile: string, o: { secretsDir: string; note: string }) =>
      run('add-many', async () => {
        const ids = readFileSync(idsFile, 'utf8')
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter((l) => l !== '');
        const seen = new Set<string>();
        for (const [i, id] of ids.entries()) {
          try {
            checkAgentId(id);
          } catch (err) {
            throw new Error(`${idsFile}: agent ${i + 1}: ${(err as Error).message}`);
          }
          if (seen.has(id)) throw new Error(`${idsFile}: agent "${id}" is listed twice`);
          seen.add(id);
        }
        if (!statSync(o.secretsDir, { throwIfNoEntry: false })?.isDirectory())
          throw new Error(`--secrets-dir ${o.secretsDir}: no such directory (mkdir -m 700 ${o.secretsDir})`);
        const file = (id: string) => join(o.secretsDir, `${id}.secret`);
        const present = ids.filter((id) => existsSync(file(id)));
        if (present.length > 0)
          throw new Error(
            `${file(present[0]!)} exists (${present.length} such file(s)): a secret is never overwritten`,
          );
        const t0 = Date.now();
        const enrolled = await withAdmin(async (c) => {
          await c.beginTransaction();
          try {
            const out: Enrolled[] = [];
            for (const id of ids) out.push(await addAgent(c, id, o.note));
            await c.commit();
            return out;
          } catch (err) {
            await c.rollback();
            throw new Error(`nothing enrolled: ${(err as Error).message}`);
          }
        });
        for (const e of enrolled) writeFileSync(file(e.agentId), `${e.secret}\n`, { mode: 0o600, flag: 'wx' });
        console.log(
          `enrolled ${enrolled.length} agents in ${((Date.now() - t0) / 1000).toFixed(1)} s; their secrets are in ${o.secretsDir}/<agent-id>.secret (mode 0600)`,
        );
      }),
    );
  agents
    .command('rotate')
    .argument('<agent-id>')
    .option('--overlap <seconds>', 'how long the previous secret stays valid', '3600')
    .option('--secret-file <path>', 'write the new secret to this new file (mode 0600) instead of printing it')
    .description('a new secret for the agent; the previous one keeps working for --overlap seconds')
    .action((agentId: string, o: { overlap: string; secretFile?: string }) =>
      run('rotate', async () => {
        const overlap = Number(o.overlap);
        if (!Number.isInteger(overlap) || overlap < 0)
          throw new Error(`--overlap ${o.overlap}: must be a whole number of seconds, 0 or more`);
        await withAdmin(async (c) => report(await rotateAgent(c, agentId, overlap), o.secretFile));
      }),
    );
  agents
    .command('revoke')
    .argument('<agent-id>')
    .description('revoke every credential of the agent: splitcap refuses its uploads within seconds')
    .action((agentId: string) =>
      run('revoke', () =>
        withAdmin(async (c) => {
          const n = await revokeAgent(c, agentId);
          console.log(
            n === 0 ? `agent "${agentId}" had no valid credential` : `revoked ${n} credential(s) of agent "${agentId}"`,
          );
        }),
      ),
    );
  agents
    .command('list')
    .description('every credential: agent, created, expiry, revoked, state (never a secret)')
    .action(() => run('list', () => withAdmin(async (c) => console.log(renderTable(await listCredentials(c))))));
}
