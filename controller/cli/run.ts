// `virtfleet run`: the controller, against the cluster of the current kubeconfig; when there is
// none, against a local cluster started on the spot (as `virtfleet up` does).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseDuration } from '../core/duration.ts';
import { VirtFleetManager } from '../virtfleet.ts';
import type { RunFlags } from './run-flags.ts';


/** The kubeconfig to use, or undefined when none is configured (KUBECONFIG, ~/.kube/config). */
export function findKubeconfig(flag: string | undefined): string | undefined {
  if (flag) return flag;
  const env = process.env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  if (env) return env;
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
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
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, not "${value}"`);
  return n;
}

function budgetScope(value: string, namespace: string | undefined): 'cluster' | 'namespace' {
  if (value !== 'cluster' && value !== 'namespace') throw new Error(`--migration-budget-scope must be cluster or namespace, not "${value}"`);
  if (value === 'namespace' && !namespace) throw new Error('--migration-budget-scope namespace needs -n <namespace>');
  return value;
}

/**
 * Starts the controller with the flags; returns it and its request counts by HTTP verb.
 * `onLeadershipLost` is called (with the counts) when a leader loses its Lease.
 */
export async function startController(
  kc: KubeConfig,
  flags: RunFlags,
  onLeadershipLost?: (reason: string, requests: Record<string, number>) => void,
): Promise<{ manager: VirtFleetManager; requests: Record<string, number> }> {
  const requests: Record<string, number> = {};
  const manager = new VirtFleetManager({
    kubeConfig: kc,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    qps: Number(flags.qps),
    burst: Number(flags.burst),
    workers: Number(flags.workers),
    resyncMs: parseDuration(flags.resync),
    migrationBudget: positiveInteger('--migration-budget', flags.migrationBudget),
    migrationBudgetScope: budgetScope(flags.migrationBudgetScope, flags.namespace),
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
  await manager.start();
  return { manager, requests };
}

export async function run(flags: RunFlags): Promise<void> {
  const path = findKubeconfig(flags.kubeconfig);
  if (!path) {
    console.log('no kubeconfig found (KUBECONFIG, ~/.kube/config): starting a local cluster with simulated KubeVirt');
    const { up } = await import('./local.ts');
    return up({ nodes: '3', speed: '1', seed: '1', controller: true });
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  // A leader that lost its Lease exits with code 1 on purpose, as controller-runtime does ("leader
  // election lost"): its client is already fenced, and the Deployment restarts the pod, which
  // campaigns afresh. (Writes to a pipe or file are synchronous on Linux, so the line is out.)
  const { manager, requests } = await startController(kc, flags, (reason, counts) => {
    console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'stopped: leader election lost', reason, exitCode: 1, requests: counts }));
    process.exit(1);
  });
  await untilSignalled();
  await manager.stop();
  console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), msg: 'stopped', identity: manager.identity, requests }));
}
