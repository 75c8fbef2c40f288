// `fleetcap up|down|status|logs|migrate`: thin wrappers over stack/stack.sh and the migration runner,
// so operators have one entry point.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const stackScript = fileURLToPath(new URL('../../../stack/stack.sh', import.meta.url));

function runStack(args: string[]): never {
  const res = spawnSync('bash', [stackScript, ...args], { stdio: 'inherit' });
  process.exit(res.status ?? 1);
}

export function registerStackCommands(program: Command): void {
  program
    .command('up')
    .description(
      'install what is missing, start every server of the local stack on loopback, apply the schema, start the console',
    )
    .option(
      '--cluster',
      'the cluster stack: MariaDB, a Redis Cluster, a RabbitMQ cluster, a ZooKeeper ensemble, HAProxy (docs/OPERATIONS.md)',
    )
    .action(async (options: { cluster?: boolean }) => {
      const res = spawnSync('bash', [stackScript, 'up', ...(options.cluster ? ['--cluster'] : [])], {
        stdio: 'inherit',
      });
      if (res.status !== 0) process.exit(res.status ?? 1);
      const { startConsoleDaemon } = await import('../console-daemon.ts');
      try {
        console.log(await startConsoleDaemon());
      } catch (err) {
        console.error(`fleetcap up: the servers are up, the console is not: ${(err as Error).message}`);
        process.exit(1);
      }
    });
  program
    .command('down')
    .description('stop the console and every server of the local stack (data is kept under .stack/)')
    .action(async () => {
      const { stopConsoleDaemon } = await import('../console-daemon.ts');
      const stopped = await stopConsoleDaemon();
      if (stopped) console.log(stopped);
      runStack(['down']);
    });
  program
    .command('status')
    .description('show every server of the local stack and every app, healthy or not, and why')
    .action(async () => {
      const res = spawnSync('bash', [stackScript, 'status'], { stdio: 'inherit' });
      const { localApps, probeApp } = await import('../local-apps.ts');
      const health = await Promise.all(localApps().map((a) => probeApp(a)));
      console.log('\napps (as fleetcap run starts them; /healthz)');
      for (const h of health) console.log(`  ${h.name.padEnd(18)} ${h.state.padEnd(12)} ${h.url}  ${h.detail}`);
      // The servers decide the exit code: apps that are not running are normal outside `fleetcap run --keep`.
      process.exit(res.status ?? 1);
    });
  program
    .command('logs')
    .argument('[server]', 'redis | rabbitmq | mariadb | zookeeper | kafka | connect')
    .description('print the log file paths, or follow one server log')
    .action((server?: string) => runStack(server ? ['logs', server] : ['logs']));
  program
    .command('migrate')
    .description('apply the SQL migrations under sql/ that are not applied yet')
    .action(async () => {
      const { migrateFromEnv } = await import('@fleetcap/lib/db/migrate');
      await migrateFromEnv();
    });
}
