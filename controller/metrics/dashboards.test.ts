// The chart's Grafana dashboard and PrometheusRule read only series the controller exports, with
// the labels it gives them: a renamed metric or label fails here, not silently on a dashboard.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { ControllerMetrics } from './controller-metrics.ts';

const CHART = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'charts', 'virtfleet');

async function exported(): Promise<Map<string, Set<string>>> {
  const registry = new Registry();
  new ControllerMetrics(registry, { fleets: () => [], goldenImages: () => [], migrations: () => [], queues: () => new Map(), leadership: () => ({ name: 'l', leading: true }) });
  const names = new Map<string, Set<string>>();
  for (const m of await registry.getMetricsAsJSON()) {
    const labels = new Set(((m as unknown as { aggregator: string; labelNames?: string[] }).labelNames ?? []));
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] };
    for (const l of metric.labelNames ?? []) labels.add(l);
    names.set(m.name, labels);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.set(`${m.name}${suffix}`, new Set([...labels, 'le']));
  }
  return names;
}

/** Metric names and the label names used with them in PromQL expressions. */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  const out: { metric: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b((?:virtfleet|controller_runtime|workqueue|rest_client|leader_election)_[a-z_]+)(\{([^}]*)\})?/g)) {
    const labels = [...(m[3] ?? '').matchAll(/([a-z_]+)\s*(=~|!=|!~|=)/g)].map((l) => l[1]!);
    out.push({ metric: m[1]!, labels });
  }
  return out;
}

describe('the chart reads what the controller exports', () => {
  const dashboard = JSON.parse(readFileSync(join(CHART, 'dashboards', 'virtfleet.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[]; templating: { list: { query?: { query: string } | string }[] } };
  const rules = readFileSync(join(CHART, 'templates', 'prometheusrule.yaml'), 'utf8');
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (typeof v.query === 'object' ? [v.query.query] : [])),
    ...[...rules.matchAll(/expr: (.+)/g)].map((m) => m[1]!),
  ];

  it('every metric and label in the dashboard and the alerts exists', async () => {
    const names = await exported();
    expect(exprs.length).toBeGreaterThan(15);
    for (const expr of exprs) {
      for (const { metric, labels } of selectors(expr)) {
        expect([metric, names.has(metric)]).toEqual([metric, true]);
        // job is Prometheus's own target label, not the controller's.
        for (const label of labels.filter((l) => l !== 'job')) expect([metric, label, names.get(metric)!.has(label)]).toEqual([metric, label, true]);
      }
    }
  });
});
