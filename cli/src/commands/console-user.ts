// `fleetcap console-user add|passwd|disable|list`: the console's sign-in accounts (console_user, sql/012), as the
// admin account. There is no default account: the first admin is made here. The password is read from stdin
// (--password-stdin: the first line) or generated and printed once; only its argon2id hash is stored.
import { readFileSync } from 'node:fs';
import {
  addConsoleUser,
  checkRole,
  disableConsoleUser,
  generatePassword,
  setConsolePassword,
} from '@fleetcap/lib/auth/console-user';
import type { Command } from 'commander';
import type mysql from 'mysql2/promise';
import { runSubcommand, withAdmin } from './admin-connection.ts';
import { renderTable } from './report.ts';

/** The password: stdin's first line with --password-stdin, else a generated one (and it says so). */
export function choosePassword(fromStdin: boolean, readStdin: () => string = () => readFileSync(0, 'utf8')) {
  if (!fromStdin) return { password: generatePassword(), generated: true };
  const line = readStdin().split(/\r?\n/)[0] ?? '';
  return { password: line, generated: false };
}

const run = (what: string, fn: () => Promise<void>) => runSubcommand('console-user', what, fn);

function announce(name: string, p: { password: string; generated: boolean }): void {
  if (p.generated) {
    console.log(`the password of console user "${name}", shown this once:`);
    console.log(`  ${p.password}`);
  }
}

export function registerConsoleUserCommand(program: Command): void {
  const cmd = program
    .command('console-user')
    .description("the console's sign-in accounts (viewer or admin); no account exists until one is added");
  cmd
    .command('add')
    .argument('<name>')
    .option('--role <role>', 'viewer (reads every page) or admin (may also enrol and revoke agents)', 'viewer')
    .option('--password-stdin', 'read the password from the first line of stdin instead of generating one', false)
    .description('make an account; its password is generated and printed once, or read from stdin')
    .action((name: string, o: { role: string; passwordStdin: boolean }) =>
      run('add', async () => {
        const role = checkRole(o.role);
        const p = choosePassword(o.passwordStdin);
        const id = await withAdmin((c) => addConsoleUser(c, name, role, p.password));
        console.log(`console user "${name}" (${role}, id ${id}) added`);
        announce(name, p);
      }),
    );
  cmd
    .command('passwd')
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of stdin instead of generating one', false)
    .description('a new password for an account (and enables it again if it was disabled)')
    .action((name: string, o: { passwordStdin: boolean }) =>
      run('passwd', async () => {
        const p = choosePassword(o.passwordStdin);
        await withAdmin((c) => setConsolePassword(c, name, p.password));
        console.log(`console user "${name}": new password set`);
        announce(name, p);
      }),
    );
  cmd
    .command('disable')
    .argument('<name>')
    .description('refuse further sign-ins of the account (its open sessions end at their next request)')
    .action((name: string) =>
      run('disable', async () => {
        await withAdmin((c) => disableConsoleUser(c, name));
        console.log(`console user "${name}" disabled`);
      }),
    );
  cmd
    .command('list')
    .description('every account: name, role, created, last sign-in, disabled (never a hash)')
    .action(() =>
      run('list', () =>
        withAdmin(async (c) => {
          const [rows] = await c.query<mysql.RowDataPacket[]>(
            'SELECT id, name, role, created_at, last_sign_in_at, disabled_at FROM console_user ORDER BY name',
          );
          console.log(renderTable(rows));
        }),
      ),
    );
}
