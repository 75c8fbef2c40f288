// The one shape of every app's /healthz: `{ok, checks}`, one check per dependency, each `ok` or `down: <why>`.
// 200 when every check is ok, 503 otherwise; `fleetcap status` reads the same shape from every app.

export type Check = 'ok' | `down: ${string}`;
export type Checks = Record<string, Check>;

export interface HealthReport {
  ok: boolean;
  checks: Checks;
}

/** What an app reports about its dependencies, asked at every /healthz request. */
export type HealthProbe = () => Checks | Promise<Checks>;

/** `ok` when up, else `down: <why>`. */
export function check(up: boolean, whyDown: string): Check {
  return up ? 'ok' : `down: ${whyDown}`;
}

export function healthReport(checks: Checks): HealthReport {
  return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
}

/** Asks the probe; a probe that throws is itself a failed check (`health`), never an unanswered request. */
export async function probeHealth(probe: HealthProbe): Promise<HealthReport> {
  try {
    return healthReport(await probe());
  } catch (err) {
    return healthReport({ health: `down: ${(err as Error).message}` });
  }
}

export function isHealthReport(value: unknown): value is HealthReport {
  if (typeof value !== 'object' || value === null) return false;
  const { ok, checks } = value as Partial<HealthReport>;
  return (
    typeof ok === 'boolean' &&
    typeof checks === 'object' &&
    checks !== null &&
    Object.values(checks).every((c) => typeof c === 'string')
  );
}

/** One line for people: `redis ok, rabbitmq down: connect ECONNREFUSED ...`. */
export function describeChecks(checks: Checks): string {
  const entries = Object.entries(checks);
  if (entries.length === 0) return 'no dependencies to check';
  return entries.map(([name, c]) => `${name} ${c}`).join(', ');
}
