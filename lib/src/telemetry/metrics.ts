// Every app's prom-client registry comes from createRegistry: the default process metrics, an `app` label on every
// series, and every metric named fleetcap_* (a registry refuses any other name), so that one Prometheus can scrape
// the whole pipeline and tell the apps apart.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const METRIC_PREFIX = 'fleetcap_';

class FleetcapRegistry extends Registry {
  override registerMetric<T extends string>(metric: Metric<T>): void {
    const { name } = metric as unknown as { name: string };
    if (!name.startsWith(METRIC_PREFIX)) {
      throw new Error(`metric ${name} is not named ${METRIC_PREFIX}<app>_<what>: every fleetcap metric is`);
    }
    super.registerMetric(metric);
  }
}

export function createRegistry(app: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new FleetcapRegistry();
  registry.setDefaultLabels({ app });
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

/** Shorthands that register on the given registry (prom-client's global registry is never used). */
export function counter(registry: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge(registry: Registry, name: string, help: string, labelNames: string[] = []): Gauge<string> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: number[],
  labelNames: string[] = [],
): Histogram<string> {
  return new Histogram({ name, help, buckets, labelNames, registers: [registry] });
}
