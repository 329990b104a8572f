// The flags of `virtfleet run` and their defaults, apart from run.ts so that parsing them (and
// `virtfleet up`'s defaults) does not load the controller.
export interface RunFlags {
  kubeconfig?: string;
  namespace?: string;
  qps: string;
  burst: string;
  workers: string;
  resync: string;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  migrationBudget: string;
  migrationBudgetScope: string;
  migrationBackoff: string;
  migrationBackoffMax: string;
  retentionGuardNamespace?: string;
  /** host:port of /metrics; "0" turns it off. */
  metricsBindAddress: string;
  /** host:port of /healthz and /readyz; "0" turns them off. */
  healthProbeBindAddress: string;
  logLevel: string;
}

export const RUN_DEFAULTS = { qps: '50', burst: '100', workers: '4', resync: '10m', leaderElect: false, leaseDuration: '15s', renewDeadline: '10s', retryPeriod: '2s', migrationBudget: '5', migrationBudgetScope: 'cluster', migrationBackoff: '10s', migrationBackoffMax: '5m', metricsBindAddress: '0', healthProbeBindAddress: '0', logLevel: 'info' } satisfies RunFlags;
