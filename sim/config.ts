// Everything about the simulated cluster that a test, a benchmark or `virtfleet sim` may choose.
// Durations are in simulated milliseconds; `speed` says how many simulated milliseconds pass per
// real one.

export interface NodePoolConfig {
  /** How many nodes to create. */
  count: number;
  /** Node names are `<prefix>-<n>`. */
  prefix: string;
  /** Values of topology.kubernetes.io/zone, assigned round-robin. */
  zones: string[];
  /** Racks per zone, as label `virtfleet.io/rack`. */
  racksPerZone: number;
  /** Allocatable CPU (a quantity such as "32") and memory ("128Gi") per node. */
  cpu: string;
  memory: string;
  /** Extra labels on every node. */
  labels: Record<string, string>;
}

export interface SimConfig {
  /** Namespaces whose KubeVirt and CDI objects this simulator plays; empty means all. */
  namespaces: string[];
  nodes: NodePoolConfig;
  speed: number;
  /** Seed of every random choice (failure injection), so runs repeat. */
  seed: number;
  vmi: {
    pendingMs: number;
    schedulingMs: number;
    scheduledMs: number;
    stoppingMs: number;
    /** Probability that a VMI fails to start. Templates can also ask for it (see lifecycle). */
    startFailureProbability: number;
  };
  migration: {
    parallelMigrationsPerCluster: number;
    parallelOutboundMigrationsPerNode: number;
    /** Each phase before Running takes this long. */
    phaseMs: number;
    /** Running lasts this long per GiB of guest memory. */
    msPerGiB: number;
    /** KubeVirt's progressTimeout: a migration that makes no progress fails after it. */
    progressTimeoutMs: number;
    /** An unschedulable target fails the migration after this long (KubeVirt: 5 minutes). */
    unschedulableTimeoutMs: number;
    failureProbability: number;
    /** Probability that a migration stalls until progressTimeoutMs. */
    stallProbability: number;
    /** Migrations from or to these nodes fail. */
    failingNodes: string[];
  };
  cdi: {
    /** Time from ImportScheduled to Succeeded. */
    importMs: number;
    cloneMs: number;
    failureProbability: number;
    /** Imports whose URL contains one of these strings fail. */
    failingURLs: string[];
    /**
     * Http imports from a loopback URL (127.0.0.0/8, ::1, localhost) are really downloaded, at
     * real speed: these bounds are real milliseconds, not simulated ones.
     */
    download: { connectTimeoutMs: number; idleTimeoutMs: number; totalTimeoutMs: number };
  };
  /** Concurrency and client-side rate limit of the simulator's writes. */
  client: { qps: number; burst: number; workers: number };
}

export function defaultSimConfig(overrides: DeepPartial<SimConfig> = {}): SimConfig {
  const base: SimConfig = {
    namespaces: [],
    nodes: { count: 3, prefix: 'node', zones: ['zone-a', 'zone-b', 'zone-c'], racksPerZone: 2, cpu: '32', memory: '128Gi', labels: {} },
    speed: 1,
    seed: 1,
    vmi: { pendingMs: 500, schedulingMs: 500, scheduledMs: 2_000, stoppingMs: 1_000, startFailureProbability: 0 },
    migration: {
      parallelMigrationsPerCluster: 5,
      parallelOutboundMigrationsPerNode: 2,
      phaseMs: 200,
      msPerGiB: 1_000,
      progressTimeoutMs: 150_000,
      unschedulableTimeoutMs: 300_000,
      failureProbability: 0,
      stallProbability: 0,
      failingNodes: [],
    },
    cdi: {
      importMs: 3_000,
      cloneMs: 1_000,
      failureProbability: 0,
      failingURLs: [],
      // CDI's importer gives up on a transfer that moved no byte for 10 minutes.
      download: { connectTimeoutMs: 30_000, idleTimeoutMs: 600_000, totalTimeoutMs: 3_600_000 },
    },
    client: { qps: 0, burst: 0, workers: 16 },
  };
  return merge(base, overrides);
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge<T>(base: T, overrides: DeepPartial<T>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    const current = out[key];
    out[key] = value !== null && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
      ? merge(current, value as DeepPartial<typeof current>)
      : value;
  }
  return out as T;
}
