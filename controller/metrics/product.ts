// The product's own gauges, computed from what the caches hold when Prometheus scrapes (never
// counters kept beside them, which would drift from the objects): pure functions from objects
// to samples, so they can be property-tested.
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { VERSION_PHASES } from '../api/schema/goldenimage.ts';
import { DRIFT_KIND_NAMES } from '../api/schema/vmfleet.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { DRIFT_LABEL } from '../fleet/remediation.ts';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** A VirtualMachineInstanceMigration as far as the gauges read it. */
export interface MigrationLike {
  metadata?: { namespace?: string; labels?: Record<string, string> };
  status?: { phase?: string };
}

const FINISHED = new Set(['Succeeded', 'Failed']);
const FLEET_STATES = ['desired', 'ready', 'available', 'updated'] as const;
const DRIFT_KINDS = DRIFT_KIND_NAMES;
const IMAGE_PHASES = VERSION_PHASES;
/** Source problems an image retries by itself (shown as Reconciling, not Stalled). */
const RETRIED_SOURCE_PROBLEMS = new Set(['SourceUnreachable', 'RateLimited', 'ServerError']);

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

/** virtfleet_migrations_in_flight{namespace,fleet,reason}: the fleets' migrations not yet finished, by drift kind. */
export function migrationsInFlight(migrations: readonly MigrationLike[]): Sample[] {
  return countBy(migrations, (m) => {
    const labels = m.metadata?.labels ?? {};
    if (!labels[FLEET_LABEL] || FINISHED.has(m.status?.phase ?? '')) return undefined;
    return { namespace: m.metadata?.namespace ?? '', fleet: labels[FLEET_LABEL], reason: labels[DRIFT_LABEL] ?? 'unknown' };
  });
}

/** virtfleet_migrations_finished{namespace,fleet,result,reason}: the fleets' finished migrations still kept, by phase and drift kind. */
export function migrationsFinished(migrations: readonly MigrationLike[]): Sample[] {
  return countBy(migrations, (m) => {
    const labels = m.metadata?.labels ?? {};
    const phase = m.status?.phase ?? '';
    if (!labels[FLEET_LABEL] || !FINISHED.has(phase)) return undefined;
    return { namespace: m.metadata?.namespace ?? '', fleet: labels[FLEET_LABEL], result: phase === 'Succeeded' ? 'success' : 'failure', reason: labels[DRIFT_LABEL] ?? 'unknown' };
  });
}

/** virtfleet_fleet_condition{namespace,fleet,type,status,reason}: 1 for each condition a fleet has. */
export function fleetConditions(fleets: readonly VMFleet[]): Sample[] {
  return fleets.flatMap((f) => (f.status?.conditions ?? []).map((c) => ({ labels: { ...fleetLabels(f), type: c.type, status: c.status, reason: c.reason }, value: 1 })));
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
 * virtfleet_image_polls{namespace,image,result,reason}: 1 per GoldenImage, by how its latest
 * look at the source went, read from its conditions: a problem it retries by itself
 * (Reconciling with SourceUnreachable, RateLimited or ServerError) or one that stalls it
 * (Unauthorized, TagNotFound, …) is an error, with that reason.
 */
export function imagePolls(images: readonly GoldenImage[]): Sample[] {
  return images.map((img) => {
    const conditions = img.status?.conditions ?? [];
    const retried = conditions.find((c) => c.type === 'Reconciling' && c.status === 'True' && RETRIED_SOURCE_PROBLEMS.has(c.reason));
    const stalled = conditions.find((c) => c.type === 'Stalled' && c.status === 'True');
    const problem = retried ?? stalled;
    const labels = { namespace: img.metadata?.namespace ?? '', image: img.metadata?.name ?? '' };
    return { labels: { ...labels, result: problem ? 'error' : 'success', reason: problem?.reason ?? '' }, value: 1 };
  });
}
