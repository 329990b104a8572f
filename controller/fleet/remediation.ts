// The shell side of drift remediation: what the caches say about migrations, the cluster-wide
// migration budget shared by every fleet's reconciles, and the objects and annotations written.
import type { V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { DriftKind } from '../core/fleet/drift.ts';
import { fleetOwnerReference, type FleetRef } from '../core/fleet/desired.ts';
import { MIGRATION_FINAL_PHASES, type DriftReport, type MigrateAction, type ObservedMigration, type RemediationAction } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { epoch } from './observe.ts';

export type Migration = V1VirtualMachineInstanceMigration;

/** The drift kind a migration of ours repairs. */
export const DRIFT_LABEL = 'virtfleet.io/drift';
/** Our attempt number for the VMI; names are `<vmi>-migrate-<attempt>`. */
export const ATTEMPT_LABEL = 'virtfleet.io/attempt';
/** On a VM: what drifts and the remedy, for `kubectl describe`. */
export const DRIFT_ANNOTATION = 'virtfleet.io/drift';

export const DEFAULT_MIGRATION_BUDGET = 5;

/**
 * The key of the fleet a migration concerns: by its fleet label (ours), else by its VMI's (a
 * migration KubeVirt or a user started for one of the fleet's VMIs).
 */
export function fleetKeyOfMigration(m: Migration, vmiLabels: (name: string, namespace: string) => Record<string, string> | undefined): string | undefined {
  const ns = m.metadata?.namespace;
  if (!ns) return undefined;
  const fleet = m.metadata?.labels?.[FLEET_LABEL] ?? vmiLabels(m.spec?.vmiName ?? '', ns)?.[FLEET_LABEL];
  return fleet ? `${ns}/${fleet}` : undefined;
}

/** The planner's view of one migration; `ours` when this fleet created it (label and owner). */
export function observeMigration(m: Migration, fleet: FleetRef): ObservedMigration {
  const labels = m.metadata?.labels ?? {};
  const ours = labels[FLEET_LABEL] === fleet.name && !!m.metadata?.ownerReferences?.some((o) => o.uid === fleet.uid);
  const phase = m.status?.phase ?? '';
  const finished = MIGRATION_FINAL_PHASES.includes(phase)
    ? epoch([...(m.status?.phaseTransitionTimestamps ?? [])].reverse().find((p) => p.phase === phase)?.phaseTransitionTimestamp)
    : undefined;
  const failure = (m.status?.conditions as { type: string; message?: string }[] | undefined)?.find((c) => c.type === 'Failed')?.message;
  return {
    name: m.metadata!.name!,
    phase,
    ours,
    attempt: ours ? Number(labels[ATTEMPT_LABEL]) || 0 : 0,
    ...(ours && labels[DRIFT_LABEL] ? { reason: labels[DRIFT_LABEL] as DriftKind } : {}),
    createdAt: epoch(m.metadata?.creationTimestamp) ?? 0,
    ...(m.metadata?.uid ? { uid: m.metadata.uid } : {}),
    ...(finished !== undefined ? { finishedAt: finished } : {}),
    deleting: !!m.metadata?.deletionTimestamp,
    ...(failure ? { failureReason: failure } : {}),
  };
}

/** The VirtualMachineInstanceMigration for a Migrate action. */
export function migrationObject(fleet: FleetRef, action: Extract<RemediationAction, { type: 'Migrate' }>): Migration {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceMigration',
    metadata: {
      name: action.name,
      namespace: fleet.namespace,
      labels: { [FLEET_LABEL]: fleet.name, [DRIFT_LABEL]: action.reason, [ATTEMPT_LABEL]: String(action.attempt) },
      ownerReferences: [fleetOwnerReference(fleet)],
    },
    spec: { vmiName: action.vm, ...(action.addedNodeSelector ? { addedNodeSelector: action.addedNodeSelector } : {}) },
  };
}

/** The VM annotation for a drift report: stable while the drift and its remedy stay the same. */
export function driftAnnotation(report: DriftReport, notMigratableReason: string | undefined): string {
  const what = report.drift.map((d) => `${d.kind}: ${d.message}`).join('; ');
  const remedy = notMigratableReason ? `${report.remedy} (not live-migratable: ${notMigratableReason})` : report.remedy;
  return `${what} | remedy: ${remedy}`;
}

interface Reservation {
  fleet: string;
  vm: string;
  migration: ObservedMigration;
  at: number;
}

/** A reservation the cache never confirmed (the create failed unseen) stops counting after this. */
const RESERVATION_TTL_MS = 60_000;

/**
 * The cluster-wide budget of migrations in flight (invariant 2), shared by all reconciles: every
 * in-flight migration the cache shows (anyone's), plus those created but not yet observed.
 * Reserving is synchronous, so two fleets reconciled at once cannot both take the last slot.
 */
export class MigrationBudget {
  readonly limit: number;
  private readonly inFlight = new Set<string>();
  private readonly reserved = new Map<string, Reservation>();

  constructor(limit: number = DEFAULT_MIGRATION_BUDGET) {
    this.limit = limit;
  }

  /** Fed by the migration informer. */
  observe(type: 'add' | 'update' | 'delete', m: Migration): void {
    const key = `${m.metadata?.namespace}/${m.metadata?.name}`;
    this.reserved.delete(key);
    const flying = type !== 'delete' && !MIGRATION_FINAL_PHASES.includes(m.status?.phase ?? '');
    if (flying) this.inFlight.add(key);
    else this.inFlight.delete(key);
  }

  available(now: number = Date.now()): number {
    for (const [key, r] of this.reserved) if (now - r.at > RESERVATION_TTL_MS) this.reserved.delete(key);
    return Math.max(0, this.limit - this.inFlight.size - this.reserved.size);
  }

  /** Takes a slot for the fleet's migration about to be created; it counts as ours, unadmitted, from now. */
  reserve(namespace: string, fleet: string, action: MigrateAction, now: number): void {
    const migration: ObservedMigration = { name: action.name, phase: '', ours: true, attempt: action.attempt, reason: action.reason, createdAt: now, deleting: false };
    this.reserved.set(`${namespace}/${action.name}`, { fleet, vm: action.vm, migration, at: now });
  }

  release(namespace: string, name: string): void {
    this.reserved.delete(`${namespace}/${name}`);
  }

  /** `namespace/name` of every migration in flight the cache shows. */
  inFlightKeys(): IterableIterator<string> {
    return this.inFlight.values();
  }

  /** Migrations this fleet created that the cache does not show yet, by VM. */
  pendingOf(fleet: string): Map<string, ObservedMigration[]> {
    const out = new Map<string, ObservedMigration[]>();
    for (const r of this.reserved.values()) if (r.fleet === fleet) out.set(r.vm, [...(out.get(r.vm) ?? []), r.migration]);
    return out;
  }
}

/** Migrations by the VMI they move, for one namespace. */
export function migrationsByVmi(migrations: readonly Migration[]): Map<string, Migration[]> {
  const out = new Map<string, Migration[]>();
  for (const m of migrations) {
    const vmi = m.spec?.vmiName;
    if (vmi) out.set(vmi, [...(out.get(vmi) ?? []), m]);
  }
  return out;
}
