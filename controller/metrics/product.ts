// The product's own gauges, computed from what the caches hold when Prometheus scrapes (never
// counters kept beside them, which would drift from the objects): pure functions from objects
// to samples, so they can be property-tested.
import type { GoldenImage, VMFleet } from '../api/objects.ts';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** A VirtualMachineInstanceMigration as far as the gauges read it. */
export interface MigrationLike {
  metadata?: { labels?: Record<string, string> };
  status?: { phase?: string };
}

const FLEET_LABEL = 'virtfleet.io/fleet';
const DRIFT_LABEL = 'virtfleet.io/drift';
const FINISHED = new Set(['Succeeded', 'Failed']);
const FLEET_STATES = ['desired', 'ready', 'available', 'updated'] as const;
const DRIFT_KINDS = ['placement', 'pendingLiveUpdate', 'manualEdit', 'imbalance', 'obsoleteImage', 'notMigratable'] as const;
const IMAGE_PHASES = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'] as const;

function fleetLabels(f: VMFleet): Record<string, string> {
  return { namespace: f.metadata?.namespace ?? '', fleet: f.metadata?.name ?? '' };
}

/** virtfleet_fleet_replicas{namespace,fleet,state}: desired is spec.replicas, the rest status counts. */
export function fleetReplicas(fleets: readonly VMFleet[]): Sample[] {
  return fleets.flatMap((f) => {
    const s = f.status ?? {};
    const values: Record<(typeof FLEET_STATES)[number], number> = {
      desired: f.spec.replicas ?? 1,
      ready: s.readyReplicas ?? 0,
      available: s.availableReplicas ?? 0,
      updated: s.updatedReplicas ?? 0,
    };
    return FLEET_STATES.map((state) => ({ labels: { ...fleetLabels(f), state }, value: values[state] }));
  });
}

/** virtfleet_fleet_drifted_replicas{namespace,fleet,kind}. */
export function fleetDrift(fleets: readonly VMFleet[]): Sample[] {
  return fleets.flatMap((f) => {
    const byKind = f.status?.driftedReplicasByKind ?? {};
    return DRIFT_KINDS.map((kind) => ({ labels: { ...fleetLabels(f), kind }, value: byKind[kind] ?? 0 }));
  });
}

/** virtfleet_fleet_rollout_progress{namespace,fleet}: updated / desired replicas (1 for an empty fleet). */
export function rolloutProgress(fleets: readonly VMFleet[]): Sample[] {
  return fleets.map((f) => {
    const desired = f.spec.replicas ?? 1;
    const updated = f.status?.updatedReplicas ?? 0;
    return { labels: fleetLabels(f), value: desired === 0 ? 1 : Math.min(1, updated / desired) };
  });
}

function countBy<T>(items: readonly T[], labelsOf: (item: T) => Record<string, string> | undefined): Sample[] {
  const counts = new Map<string, Sample>();
  for (const item of items) {
    const labels = labelsOf(item);
    if (!labels) continue;
    const key = JSON.stringify(labels);
    const known = counts.get(key);
    if (known) known.value++;
    else counts.set(key, { labels, value: 1 });
  }
  return [...counts.values()];
}

/** virtfleet_migrations_in_flight{reason}: the fleets' migrations not yet finished, by drift kind. */
export function migrationsInFlight(migrations: readonly MigrationLike[]): Sample[] {
  return countBy(migrations, (m) => {
    const labels = m.metadata?.labels ?? {};
    if (!labels[FLEET_LABEL] || FINISHED.has(m.status?.phase ?? '')) return undefined;
    return { reason: labels[DRIFT_LABEL] ?? 'unknown' };
  });
}

/** virtfleet_migrations_finished{result,reason}: the fleets' finished migrations still kept, by phase and drift kind. */
export function migrationsFinished(migrations: readonly MigrationLike[]): Sample[] {
  return countBy(migrations, (m) => {
    const labels = m.metadata?.labels ?? {};
    const phase = m.status?.phase ?? '';
    if (!labels[FLEET_LABEL] || !FINISHED.has(phase)) return undefined;
    return { result: phase === 'Succeeded' ? 'success' : 'failure', reason: labels[DRIFT_LABEL] ?? 'unknown' };
  });
}

/** virtfleet_image_versions{namespace,image,phase}: every phase, zeros included, per GoldenImage. */
export function imageVersions(images: readonly GoldenImage[]): Sample[] {
  return images.flatMap((img) => {
    const versions = img.status?.versions ?? [];
    return IMAGE_PHASES.map((phase) => ({
      labels: { namespace: img.metadata?.namespace ?? '', image: img.metadata?.name ?? '', phase },
      value: versions.filter((v) => v.phase === phase).length,
    }));
  });
}

/**
 * virtfleet_image_polls{result,reason}: GoldenImages by how their latest source poll went, read
 * from the Stalled condition (a Source* reason is a failed poll; anything else a good one).
 */
export function imagePolls(images: readonly GoldenImage[]): Sample[] {
  return countBy(images, (img) => {
    const stalled = img.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
    return stalled?.reason.startsWith('Source') ? { result: 'error', reason: stalled.reason } : { result: 'success', reason: '' };
  });
}
