// KubeVirt live-migration rules: admission of a VirtualMachineInstanceMigration, the parallel
// migration limits, garbage collection of finished migrations, and a migration's duration.
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';

/** KubeVirt: v1.VirtualMachineInstanceMigrationPhase (plus "" before the controller sees it). */
export const MigrationPhase = {
  Pending: 'Pending',
  Scheduling: 'Scheduling',
  Scheduled: 'Scheduled',
  PreparingTarget: 'PreparingTarget',
  TargetReady: 'TargetReady',
  Running: 'Running',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const;
export type MigrationPhase = (typeof MigrationPhase)[keyof typeof MigrationPhase];
export const MIGRATION_PHASES: readonly MigrationPhase[] = Object.values(MigrationPhase);

/** KubeVirt: VirtualMachineInstanceMigration.IsFinal. */
export function isFinalMigrationPhase(phase: string | undefined): boolean {
  return phase === MigrationPhase.Succeeded || phase === MigrationPhase.Failed;
}

/** KubeVirt: KubeVirt CR spec.configuration.migrations defaults. */
export interface MigrationLimits {
  parallelMigrationsPerCluster: number;
  parallelOutboundMigrationsPerNode: number;
}
export const DEFAULT_MIGRATION_LIMITS: MigrationLimits = { parallelMigrationsPerCluster: 5, parallelOutboundMigrationsPerNode: 2 };

/** KubeVirt: pkg/virt-controller/watch/migration defaultFinalizedMigrationGarbageCollectionBuffer. */
export const FINISHED_MIGRATIONS_KEPT_PER_VMI = 5;

export type Admission = { allowed: true } | { allowed: false; message: string };

/**
 * KubeVirt: pkg/virt-api/webhooks/validating-webhook/admitters/migration-create-admitter.go.
 * Refuses a migration when its VMI does not exist, is finished (Succeeded/Failed), reports
 * LiveMigratable=False, or when another migration of the VMI is not in a final phase. KubeVirt's
 * webhook does not refuse a VMI that is merely not Running yet; its migration then waits.
 * `request` names the VMI for the not-found message.
 */
export function admitMigration(
  vmi: V1VirtualMachineInstance | undefined,
  existing: V1VirtualMachineInstanceMigration[],
  request: { namespace?: string; vmiName?: string } = {},
): Admission {
  const namespace = vmi?.metadata?.namespace ?? request.namespace ?? '';
  const vmiName = vmi?.metadata?.name ?? request.vmiName ?? '';
  if (!vmi) return { allowed: false, message: `the VMI "${namespace}/${vmiName}" does not exist` };

  const phase = vmi.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return { allowed: false, message: 'Cannot migrate VMI in finalized state.' };

  const migratable = vmi.status?.conditions?.find((c) => c.type === 'LiveMigratable' && c.status === 'False');
  if (migratable) return { allowed: false, message: `Cannot migrate VMI, Reason: ${migratable.reason ?? ''}, Message: ${migratable.message ?? ''}` };

  const inFlight = existing.find((m) => m.spec.vmiName === vmiName && !isFinalMigrationPhase(m.status?.phase));
  if (inFlight) {
    return {
      allowed: false,
      message: `in-flight migration detected. Active migration job (${inFlight.metadata?.uid ?? ''}) is currently already in progress for VMI ${vmiName}.`,
    };
  }
  return { allowed: true };
}

export interface PendingMigration {
  name: string;
  sourceNode: string;
  /** RFC 3339 timestamp or epoch milliseconds. */
  createdAt: string | number;
}

export interface RunningMigration {
  name: string;
  sourceNode: string;
}

function epochMs(t: string | number | undefined): number {
  if (t === undefined) return Number.POSITIVE_INFINITY;
  return typeof t === 'number' ? t : Date.parse(t);
}

function byAgeThenName(a: { name: string; at: number }, b: { name: string; at: number }): number {
  return a.at - b.at || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * KubeVirt: pkg/virt-controller/watch/migration/migration.go sync — the
 * parallelMigrationsPerCluster and parallelOutboundMigrationsPerNode checks before a target pod
 * is created. Which pending migrations may start now, oldest first (ties by name), so that
 * neither limit is exceeded counting the running ones. A migration that would overload its
 * source node is skipped and a younger one from another node may start.
 */
export function migrationsToStart(pending: PendingMigration[], running: RunningMigration[], limits: Partial<MigrationLimits> = {}): string[] {
  const { parallelMigrationsPerCluster, parallelOutboundMigrationsPerNode } = { ...DEFAULT_MIGRATION_LIMITS, ...limits };
  let active = running.length;
  const outbound = new Map<string, number>();
  for (const m of running) outbound.set(m.sourceNode, (outbound.get(m.sourceNode) ?? 0) + 1);

  const started: string[] = [];
  const ordered = pending.map((m) => ({ ...m, at: epochMs(m.createdAt) })).sort(byAgeThenName);
  for (const m of ordered) {
    if (active >= parallelMigrationsPerCluster) break;
    const fromNode = outbound.get(m.sourceNode) ?? 0;
    if (fromNode >= parallelOutboundMigrationsPerNode) continue;
    started.push(m.name);
    active++;
    outbound.set(m.sourceNode, fromNode + 1);
  }
  return started;
}

/**
 * KubeVirt: migration controller garbageCollectFinalizedMigrations — of one VMI's migrations,
 * the finished ones (not already being deleted) beyond the 5 newest by creation time, oldest
 * first.
 */
export function migrationsToGarbageCollect(migrations: V1VirtualMachineInstanceMigration[]): string[] {
  const finished = migrations
    .filter((m) => isFinalMigrationPhase(m.status?.phase) && !m.metadata?.deletionTimestamp)
    .map((m) => ({ name: m.metadata?.name ?? '', at: epochMs(m.metadata?.creationTimestamp) }))
    .sort(byAgeThenName);
  return finished.slice(0, Math.max(0, finished.length - FINISHED_MIGRATIONS_KEPT_PER_VMI)).map((m) => m.name);
}

/** How long the simulator lets a live migration run: proportional to the guest memory copied. */
export function migrationDurationMs(memoryBytes: number, msPerGiB: number): number {
  return Math.max(0, Math.round((memoryBytes / 1024 ** 3) * msPerGiB));
}
