// The process's Prometheus metrics, under controller-runtime's and client-go's names so that
// dashboards made for Go controllers work unchanged, plus the product's own (virtfleet_*). The
// core reports through small observer interfaces (runtime/controller.ts, runtime/workqueue.ts,
// kube/http.ts) and never sees prom-client; everything registers on the registry passed in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { RequestObserver } from '../kube/http.ts';
import type { ReconcileObserver, ReconcileOutcome } from '../runtime/controller.ts';
import type { QueueObserver } from '../runtime/workqueue.ts';
import { fleetDrift, fleetReplicas, imagePolls, imageVersions, migrationsFinished, migrationsInFlight, rolloutProgress, type MigrationLike, type Sample, fleetConditions } from './product.ts';

/** What the gauges read when scraped; each returns what the caches hold now (nothing while standby). */
export interface MetricSources {
  fleets(): readonly VMFleet[];
  goldenImages(): readonly GoldenImage[];
  migrations(): readonly MigrationLike[];
  /** The queues of the controllers running now, by controller name. */
  queues(): ReadonlyMap<string, { readonly length: number; longestRunningMs(): number }>;
  /** Lease name and whether this process leads (always true without election). */
  leadership(): { name: string; leading: boolean };
}

// controller-runtime's buckets for reconcile time and client-go's for the work queue.
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];

function setAll(gauge: Gauge, samples: Sample[]): void {
  gauge.reset(); // objects gone since the last scrape leave no series behind
  for (const s of samples) gauge.set(s.labels, s.value);
}

export class ControllerMetrics implements ReconcileObserver, RequestObserver {
  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly queueAdds: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly requests: Counter<'code' | 'method' | 'host'>;

  constructor(registry: Registry, sources: MetricSources) {
    const registers = [registry];
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: RECONCILE_BUCKETS, registers });
    this.queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers });
    this.requests = new Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests, partitioned by status code, method, and host', labelNames: ['code', 'method', 'host'], registers });

    const queues = (read: (q: { readonly length: number; longestRunningMs(): number }) => number) => function (this: Gauge) {
      this.reset();
      for (const [name, q] of sources.queues()) this.set({ name }, read(q));
    };
    new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers, collect: queues((q) => q.length) });
    new Gauge({ name: 'workqueue_longest_running_processor_seconds', help: 'How many seconds has the longest running processor for workqueue been running', labelNames: ['name'], registers, collect: queues((q) => q.longestRunningMs() / 1000) });
    new Gauge({
      name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers,
      collect(this: Gauge) {
        const { name, leading } = sources.leadership();
        this.set({ name }, leading ? 1 : 0);
      },
    });
    const product = (name: string, help: string, labelNames: string[], samples: () => Sample[]) =>
      new Gauge({ name, help, labelNames, registers, collect(this: Gauge) { setAll(this, samples()); } });
    product('virtfleet_fleet_replicas', 'Replicas of each VMFleet by state (desired, ready, available, updated)', ['namespace', 'fleet', 'state'], () => fleetReplicas(sources.fleets()));
    product('virtfleet_fleet_drifted_replicas', 'Drifted replicas of each VMFleet by kind of drift', ['namespace', 'fleet', 'kind'], () => fleetDrift(sources.fleets()));
    product('virtfleet_fleet_rollout_progress', 'Updated replicas of each VMFleet over its desired replicas (1 when done)', ['namespace', 'fleet'], () => rolloutProgress(sources.fleets()));
    product('virtfleet_fleet_condition', 'Conditions of each VMFleet: 1 per condition, by type, status and reason', ['namespace', 'fleet', 'type', 'status', 'reason'], () => fleetConditions(sources.fleets()));
    product('virtfleet_migrations_in_flight', 'Live migrations of fleets not yet finished, by fleet and drift kind', ['namespace', 'fleet', 'reason'], () => migrationsInFlight(sources.migrations()));
    product('virtfleet_migrations_finished', 'Finished live migrations of fleets still in the cluster, by fleet, result and drift kind', ['namespace', 'fleet', 'result', 'reason'], () => migrationsFinished(sources.migrations()));
    product('virtfleet_image_versions', 'Versions of each GoldenImage by phase', ['namespace', 'image', 'phase'], () => imageVersions(sources.goldenImages()));
    product('virtfleet_image_polls', 'Each GoldenImage by the result of its latest look at its source (reason of a failed one)', ['namespace', 'image', 'result', 'reason'], () => imagePolls(sources.goldenImages()));
  }

  reconciled(controller: string, _key: string, outcome: ReconcileOutcome, seconds: number): void {
    this.reconcileTotal.inc({ controller, result: outcome });
    if (outcome === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  completed(method: string, code: string, host: string): void {
    this.requests.inc({ code, method, host });
  }

  /** The observer of one controller's queue (client-go names queues after their controller). */
  queue(name: string): QueueObserver {
    return {
      added: () => this.queueAdds.inc({ name }),
      started: (waitedMs) => this.queueDuration.observe({ name }, waitedMs / 1000),
      finished: (workedMs) => this.workDuration.observe({ name }, workedMs / 1000),
      retried: () => this.retries.inc({ name }),
    };
  }
}
