// `virtfleet run`: the controller, against the cluster of --kubeconfig, KUBECONFIG, the in-cluster
// config or ~/.kube/config (controller-runtime's order). It never starts a local cluster (`up`
// does): a missing or unusable config is a one-line error and exit code 2. Optionally it serves
// Prometheus metrics and the /healthz and /readyz probes.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeConfigLike } from '../kube/kubeconfig.ts';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { parseDuration } from '../core/duration.ts';
import { DEFAULT_RETENTION_GUARD_NAMESPACE, RETENTION_GUARD_NAME } from '../image/retention-guard.ts';
import { RESOURCES } from '../kube/resources.ts';
import { ControllerMetrics } from '../metrics/controller-metrics.ts';
import { listen, metricsHandler, parseBindAddress, probesHandler, type RunningServer } from '../metrics/servers.ts';
import type { ReconcileObserver } from '../runtime/controller.ts';
import type { Logger } from '../runtime/logger.ts';
import type { ManagerObservers } from '../runtime/manager.ts';
import type { WorkQueue } from '../runtime/workqueue.ts';
import { VirtFleetManager } from '../virtfleet.ts';
import { loadClientConfig, UsageError } from './client-config.ts';
import type { RunFlags } from './run-flags.ts';


const LOG_LEVELS = ['debug', 'info', 'error'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

function logLevel(value: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === value);
  if (!level) throw new UsageError(`--log-level must be debug, info or error, not "${value}"`);
  return level;
}

/** JSON lines: info to stdout, errors to stderr; `error` keeps only errors. */
export function jsonLogger(level: LogLevel): Logger & { debug(msg: string, fields?: Record<string, unknown>): void } {
  const line = (lvl: string, msg: string, fields?: Record<string, unknown>) => JSON.stringify({ level: lvl, time: new Date().toISOString(), msg, ...fields });
  return {
    debug: (msg, fields) => void (level === 'debug' && console.log(line('debug', msg, fields))),
    info: (msg, fields) => void (level !== 'error' && console.log(line('info', msg, fields))),
    error: (msg, fields) => console.error(line('error', msg, fields)),
  };
}


/** Resolves on SIGINT or SIGTERM. */
export function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function positiveInteger(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, not "${value}"`);
  return n;
}

function budgetScope(value: string, namespace: string | undefined): 'cluster' | 'namespace' {
  if (value !== 'cluster' && value !== 'namespace') throw new UsageError(`--migration-budget-scope must be cluster or namespace, not "${value}"`);
  if (value === 'namespace' && !namespace) throw new UsageError('--migration-budget-scope namespace needs -n <namespace>');
  return value;
}

/**
 * Starts the controller with the flags; returns it and its request counts by HTTP verb.
 * `onLeadershipLost` is called (with the counts) when a leader loses its Lease.
 */
export async function startController(
  kc: KubeConfigLike,
  flags: RunFlags,
  onLeadershipLost?: (reason: string, requests: Record<string, number>) => void,
  wiring: { log?: Logger; observers?: ManagerObservers; onManager?: (m: VirtFleetManager) => void } = {},
): Promise<{ manager: VirtFleetManager; requests: Record<string, number> }> {
  const requests: Record<string, number> = {};
  const manager = new VirtFleetManager({
    ...(wiring.log ? { log: wiring.log } : {}),
    ...(wiring.observers ? { observers: wiring.observers } : {}),
    kubeConfig: kc,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    qps: Number(flags.qps),
    burst: Number(flags.burst),
    workers: Number(flags.workers),
    resyncMs: parseDuration(flags.resync),
    migrationBudget: positiveInteger('--migration-budget', flags.migrationBudget),
    migrationBudgetScope: budgetScope(flags.migrationBudgetScope, flags.namespace),
    retentionGuard: { namespace: flags.retentionGuardNamespace ?? process.env.POD_NAMESPACE ?? DEFAULT_RETENTION_GUARD_NAMESPACE, name: RETENTION_GUARD_NAME },
    migrationBackoff: { baseMs: parseDuration(flags.migrationBackoff), maxMs: parseDuration(flags.migrationBackoffMax) },
    ...(flags.leaderElect
      ? {
          leaderElection: {
            namespace: flags.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? flags.namespace ?? 'virtfleet-system',
            leaseDurationMs: parseDuration(flags.leaseDuration),
            renewDeadlineMs: parseDuration(flags.renewDeadline),
            retryPeriodMs: parseDuration(flags.retryPeriod),
          },
        }
      : {}),
    onRequest: (method) => void (requests[method] = (requests[method] ?? 0) + 1),
    ...(onLeadershipLost ? { onLeadershipLost: (reason: string) => onLeadershipLost(reason, requests) } : {}),
  });
  // The manager is handed out before it starts: the probes answer (not ready) while caches sync.
  wiring.onManager?.(manager);
  await manager.start();
  return { manager, requests };
}

/** How long SIGTERM may take before the process exits anyway (Kubernetes' grace period is 30 s). */
const SHUTDOWN_DEADLINE_MS = 25_000;

export async function run(flags: RunFlags): Promise<void> {
  let config: ReturnType<typeof prepare>;
  try {
    config = prepare(flags);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`virtfleet run: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const { kc, source, log, metricsAddress, probeAddress } = config;
  const signalled = untilSignalled();
  const registry = new Registry();
  // The process's own gauges (resident memory, heap, event-loop lag, GC), as every controller
  // exports them (controller-runtime's process_* and go_*): what a memory alert reads.
  collectDefaultMetrics({ register: registry });
  let manager: VirtFleetManager | undefined;
  const metrics = new ControllerMetrics(registry, {
    fleets: () => manager?.manager.cached<VMFleet & KubernetesObject>(RESOURCES.vmFleet) ?? [],
    goldenImages: () => manager?.manager.cached<GoldenImage & KubernetesObject>(RESOURCES.goldenImage) ?? [],
    migrations: () => manager?.manager.cached(RESOURCES.vmim) ?? [],
    queues: () => manager?.manager.queues() ?? new Map(),
    leadership: () => ({ name: manager?.manager.leaseName ?? '', leading: manager?.manager.leading ?? false }),
  });
  const reconciles: ReconcileObserver = {
    reconciled: (controller, key, outcome, seconds, err) => {
      metrics.reconciled(controller, key, outcome, seconds);
      log.debug('reconciled', { controller, key, result: outcome, seconds, ...(err ? { error: String(err) } : {}) });
    },
  };
  const servers: RunningServer[] = [];
  try {
    if (probeAddress) {
      const probes = {
        health: () => manager?.manager.health() ?? { healthy: true, reason: 'starting' },
        readiness: () => manager?.manager.readiness() ?? { ready: false, reason: 'starting' },
      };
      servers.push(await listen(probeAddress, probesHandler(probes)));
      log.info('serving probes', { address: servers.at(-1)!.address, paths: ['/healthz', '/readyz'] });
    }
    if (metricsAddress) {
      servers.push(await listen(metricsAddress, metricsHandler(registry)));
      log.info('serving metrics', { address: servers.at(-1)!.address, path: '/metrics' });
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    console.error(`virtfleet run: cannot listen: ${(err as Error).message}`);
    process.exitCode = 2;
    return;
  }
  log.info('starting', { config: source, server: kc.getCurrentCluster()?.server });
  // A leader that lost its Lease exits with code 1 on purpose, as controller-runtime does ("leader
  // election lost"): its client is already fenced, and the Deployment restarts the pod, which
  // campaigns afresh. (Writes to a pipe or file are synchronous on Linux, so the line is out.)
  const started = startController(kc, flags, (reason, counts) => {
    console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'stopped: leader election lost', reason, exitCode: 1, requests: counts }));
    process.exit(1);
  }, { log, observers: { requests: metrics, reconciles, queue: (name) => metrics.queue(name) }, onManager: (m) => (manager = m) });
  // SIGTERM may come while the caches still sync.
  const outcome = await Promise.race([started.then(() => 'started' as const), signalled.then(() => 'signalled' as const)]);
  if (outcome === 'started') await signalled;
  const deadline = setTimeout(() => {
    // What held it: the reconciles still running (a request that never settles would show here).
    const running = [...(manager?.manager.queues() ?? new Map<string, WorkQueue<string>>())].flatMap(([controller, queue]) => queue.running().map((r) => `${controller} ${r.key} for ${Math.round(r.ms / 1000)} s`));
    console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: `did not stop within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`, running }));
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  await manager?.stop();
  await Promise.all(servers.map((s) => s.close()));
  const requests = outcome === 'started' ? (await started).requests : {};
  console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), msg: 'stopped', identity: manager?.identity, requests }));
}

/** Everything `run` checks before it starts: flags and the client config. Throws UsageError. */
function prepare(flags: RunFlags) {
  const log = jsonLogger(logLevel(flags.logLevel));
  const bind = (flag: string, value: string) => {
    try {
      return parseBindAddress(flag, value);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
  const metricsAddress = bind('--metrics-bind-address', flags.metricsBindAddress);
  const probeAddress = bind('--health-probe-bind-address', flags.healthProbeBindAddress);
  positiveInteger('--migration-budget', flags.migrationBudget);
  budgetScope(flags.migrationBudgetScope, flags.namespace);
  return { ...loadClientConfig(flags.kubeconfig), log, metricsAddress, probeAddress };
}
