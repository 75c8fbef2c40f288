// The `fleetcap` command line. Each subcommand lives in its own module under commands/;
// this file only registers them.
import { Command } from 'commander';
import { registerClassifyCommand } from './commands/classify.ts';
import { registerDatasetCommand } from './commands/dataset.ts';
import { registerPcapCommand } from './commands/pcap.ts';
import { registerReportCommands } from './commands/report.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSessionsCommand } from './commands/sessions.ts';
import { registerStackCommands } from './commands/stack.ts';
import { registerUploadCommand } from './commands/upload.ts';

const program = new Command();
program.name('fleetcap').description('fleetcap: fleet-wide packet capture, sessionizing and classification');

registerStackCommands(program);
registerSessionsCommand(program);
registerDatasetCommand(program);
registerClassifyCommand(program);
registerReportCommands(program);
registerPcapCommand(program);
registerRunCommand(program);
registerUploadCommand(program);

await program.parseAsync(process.argv);
