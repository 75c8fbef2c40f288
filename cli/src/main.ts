// The `fleetcap` command line. Each subcommand lives in its own module under commands/;
// this file only registers them.
import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Each module and the commands it registers. A run loads only the module of the command it names: loading every
 * module (the stack, the lab, the report's tables) took longer than `fleetcap sessions` takes over a capture of
 * 100,000 packets. Help, and a name not listed here, load them all.
 */
const MODULES: Array<{ commands: string[]; load: () => Promise<Register> }> = [
  {
    commands: ['up', 'down', 'status', 'logs', 'migrate'],
    load: async () => (await import('./commands/stack.ts')).registerStackCommands,
  },
  { commands: ['sessions'], load: async () => (await import('./commands/sessions.ts')).registerSessionsCommand },
  { commands: ['dataset'], load: async () => (await import('./commands/dataset.ts')).registerDatasetCommand },
  { commands: ['classify'], load: async () => (await import('./commands/classify.ts')).registerClassifyCommand },
  {
    commands: ['report', 'agents'],
    load: async () => {
      const [report, credentials] = await Promise.all([
        import('./commands/report.ts'),
        import('./commands/agent-credentials.ts'),
      ]);
      // `agents add|rotate|revoke|list` are subcommands of the `agents` that report.ts registers.
      return (program) => {
        report.registerReportCommands(program);
        credentials.registerAgentCredentialCommands(program);
      };
    },
  },
  {
    commands: ['console-user'],
    load: async () => (await import('./commands/console-user.ts')).registerConsoleUserCommand,
  },
  { commands: ['pcap'], load: async () => (await import('./commands/pcap.ts')).registerPcapCommand },
  {
    commands: ['detections'],
    load: async () => (await import('./commands/detections.ts')).registerDetectionsCommand,
  },
  { commands: ['run'], load: async () => (await import('./commands/run.ts')).registerRunCommand },
  { commands: ['upload'], load: async () => (await import('./commands/upload.ts')).registerUploadCommand },
  { commands: ['bench'], load: async () => (await import('./commands/bench.ts')).registerBenchCommand },
];

const program = new Command();
program.name('fleetcap').description('fleetcap: fleet-wide packet capture, sessionizing and classification');

const named = process.argv[2];
const only = MODULES.filter((m) => named !== undefined && m.commands.includes(named));
for (const register of await Promise.all((only.length > 0 ? only : MODULES).map((m) => m.load()))) register(program);

await program.parseAsync(process.argv);
