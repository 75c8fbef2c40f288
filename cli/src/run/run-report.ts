// What `fleetcap run` prints at its end: the tables of `fleetcap report`, the agents' summary of `fleetcap agents`,
// and, after lab traffic, the run's verdicts scored against the lab's own labels.
import type { RunLabels } from '@fleetcap/lib/features/labels';
import { agentsSummarySql, printAgents, printReport, renderTable } from '../commands/report.ts';
import { labScoreRows, type ScoredVerdict, scoreLabRuns } from '../lab/score.ts';

export interface LabOutcome {
  /** The labels of every scenario run, in the order they ran. */
  runs: RunLabels[];
  /** The agent's verdicts of the sessions since the traffic started. */
  verdicts: ScoredVerdict[];
  /** Where the lab wrote each run's capture and labels. */
  runsDir: string;
  seed: number;
}

export async function printRunReport(lab: LabOutcome | null, out: (line: string) => void = console.log): Promise<void> {
  await printReport(out);
  out('\nAgents (the config each agent applied, from report_agents; all columns: npx fleetcap agents)');
  await printAgents(out, agentsSummarySql);
  if (lab) for (const line of labScoreLines(lab)) out(line);
}

/** The lab part of the report: the score table, what it left out, where the runs are. */
export function labScoreLines(lab: LabOutcome): string[] {
  const score = scoreLabRuns(lab.runs, lab.verdicts);
  const lines = [
    `\nLab scenarios: this run's verdicts against the lab's labels (lab/README.md "Labels"; model card: model/MODEL_CARD.md)`,
    renderTable(labScoreRows(score)),
  ];
  if (score.excluded + score.outside > 0) {
    lines.push(
      `     not scored: ${score.excluded} sessions the lab's rules exclude, ${score.outside} outside every run's time window`,
    );
  }
  lines.push(`     captures and labels: ${lab.runsDir}/<scenario>-${lab.seed}/`);
  return lines;
}

/** Where the console is, and how to get an account (there is no default one). */
export function consoleLines(url: string): string[] {
  return [
    `\nConsole: ${url} (HTTPS with the stack's certificate; trust .stack/tls/ca.crt in the browser)`,
    '     sign in with an account made by: npx fleetcap console-user add <name> --role admin',
  ];
}
