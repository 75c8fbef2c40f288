// The console's metrics (fleetcap_console_*): pages served and how long they took, sign-ins, refusals, agent actions.
import { Counter, createRegistry, Histogram, type Registry } from '@fleetcap/lib/telemetry/metrics';

export interface ConsoleMetrics {
  registry: Registry;
  pages: Histogram<'page' | 'status'>;
  signIns: Counter<'outcome'>;
  refused: Counter<'reason'>;
  agentActions: Counter<'action'>;
}

export function createConsoleMetrics(): ConsoleMetrics {
  const registry = createRegistry('console');
  return {
    registry,
    pages: new Histogram({
      name: 'fleetcap_console_page_seconds',
      help: 'Time to answer a page or download, by page and HTTP status',
      labelNames: ['page', 'status'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    signIns: new Counter({
      name: 'fleetcap_console_sign_ins_total',
      help: 'Sign-in attempts by outcome (ok, wrong-password, unknown-user, disabled, bad-input)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'fleetcap_console_refused_total',
      help: 'Requests refused, by reason (csrf, forbidden, filter, not-found, bad-input)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    agentActions: new Counter({
      name: 'fleetcap_console_agent_actions_total',
      help: 'Agent enrolments and revocations done from the console',
      labelNames: ['action'],
      registers: [registry],
    }),
  };
}
