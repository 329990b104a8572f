// The status a fleet reports (README "How a fleet is reconciled"), computed from one reconcile's plan.
// Pure. Conditions follow metav1.Condition and kstatus: Ready, Available, Progressing,
// Reconciling, Stalled and Drifted, each with observedGeneration; lastTransitionTime only moves when the
// condition's status does.
import type { VMFleetStatus } from '../api/generated/types.ts';
import type { Plan, RolloutSpec } from '../core/fleet/rollout.ts';
import { condition, withTransitionTimes } from '../core/conditions.ts';

export { statusDiffers, withTransitionTimes } from '../core/conditions.ts';

export type FleetCondition = NonNullable<VMFleetStatus['conditions']>[number];

/** Invalid input or an unusable image: nothing is done until the user fixes it. */
export interface StalledReason {
  reason: string;
  message: string;
}

/** Drift findings of one reconcile, for driftedReplicas, migratingReplicas and the Drifted condition. */
export interface DriftSummary {
  drifted: number;
  byKind: NonNullable<VMFleetStatus['driftedReplicasByKind']>;
  migrating: number;
  /** Remedies under way or possible (migrations, restarts, reverts): the fleet is reconciling. */
  repairing: boolean;
  /** The Drifted condition's reason and message when something drifts. */
  reason?: string;
  message?: string;
}

/** VMs a finished rollout leaves below the update revision, and why (partition, OnDelete, paused). */
export interface HeldBack {
  vms: string[];
  /** The revisions they stay at. */
  revisions: string[];
  why: string;
}

const indexOf = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? Number.NaN);

/** The VMs below `updateRevision` once the rollout has done what its strategy allows, and why they wait. */
export function heldBack(vms: readonly { name: string; revision: string | undefined }[], updateRevision: string, rollout: Pick<RolloutSpec, 'strategy' | 'paused' | 'partition'>): HeldBack | undefined {
  const waiting = vms.filter((vm) => vm.revision !== updateRevision).sort((a, b) => indexOf(a.name) - indexOf(b.name) || a.name.localeCompare(b.name));
  if (waiting.length === 0) return undefined;
  const why = rollout.strategy === 'OnDelete'
    ? 'strategy OnDelete: a VM takes the new revision when it is deleted'
    : rollout.paused ? 'the rollout is paused (spec.paused)' : `partition ${rollout.partition}: VMs with an index below it keep their revision`;
  return { vms: waiting.map((vm) => vm.name), revisions: [...new Set(waiting.map((vm) => vm.revision ?? '(none)'))].sort(), why };
}

/** Per-version VM counts, the fleet's target version first, then by count; VMs booting no recorded version are left out. */
export function imageVersionCounts(runs: Readonly<Record<string, string>>, target: string | undefined): { version: string; replicas: number }[] {
  const counts = new Map<string, number>();
  for (const version of Object.values(runs)) counts.set(version, (counts.get(version) ?? 0) + 1);
  return [...counts].map(([version, replicas]) => ({ version, replicas }))
    .sort((a, b) => Number(b.version === target) - Number(a.version === target) || b.replicas - a.replicas || a.version.localeCompare(b.version));
}

const MAX_LISTED = 10;
const listed = (names: readonly string[]) => (names.length > MAX_LISTED ? `${names.slice(0, MAX_LISTED).join(', ')} and ${names.length - MAX_LISTED} more` : names.join(', '));

export interface StatusInput {
  generation: number;
  replicas: number;
  maxUnavailable: number;
  selector: Record<string, string>;
  /** Undefined when the fleet is stalled before planning (no image, invalid template). */
  plan?: Plan;
  stalled?: StalledReason;
  /** The image is not ready yet (a channel without a version, a version still importing). */
  waiting?: StalledReason;
  imageVersion?: string;
  /** The image version each VM boots (decideFleet's runs), for imageVersions and the "(n/m)" of imageVersion. */
  runs?: Readonly<Record<string, string>>;
  /** VMs the rollout leaves at an older revision (heldBack). */
  held?: HeldBack;
  /** The plan's actions were (or are being) carried out in this reconcile. */
  acting: boolean;
  previous: VMFleetStatus | undefined;
  now: string;
  drift?: DriftSummary;
  /** Names the fleet would use that objects it does not own hold (it uses other names instead). */
  conflicts?: readonly string[];
  /** The fleet's image version is Deprecated: why, and what to move to. */
  deprecated?: string | undefined;
  /** An action of this reconcile failed (it is retried with backoff): the error. */
  failure?: string;
}

/** `a=b,c=d`, the string form of a label selector the scale subresource reports. */
export function selectorString(matchLabels: Record<string, string>): string {
  return Object.keys(matchLabels).sort().map((k) => `${k}=${matchLabels[k]}`).join(',');
}

export function fleetStatus(input: StatusInput): VMFleetStatus {
  const { generation: g, plan, stalled, previous } = input;
  const counts = plan?.status;
  const prev = previous ?? {};
  const replicas = counts?.replicas ?? prev.replicas ?? 0;
  const ready = counts?.readyReplicas ?? prev.readyReplicas ?? 0;
  const available = counts?.availableReplicas ?? prev.availableReplicas ?? 0;
  const conditions: Omit<FleetCondition, 'lastTransitionTime'>[] = [];

  const allReady = ready === input.replicas && replicas === input.replicas;
  conditions.push(allReady ? condition('Ready', 'True', 'AllReplicasReady', `${ready}/${input.replicas} VMs are ready`, g) : condition('Ready', 'False', 'ReplicasNotReady', `${ready}/${input.replicas} VMs are ready`, g));
  const minAvailable = Math.max(0, input.replicas - input.maxUnavailable);
  conditions.push(
    available >= minAvailable
      ? condition('Available', 'True', 'MinimumReplicasAvailable', `${available} VMs available, at least ${minAvailable} required`, g)
      : condition('Available', 'False', 'MinimumReplicasUnavailable', `${available} VMs available, at least ${minAvailable} required`, g),
  );

  if (stalled) {
    conditions.push(condition('Progressing', 'False', stalled.reason, stalled.message, g));
    conditions.push(condition('Reconciling', 'False', stalled.reason, 'stalled: see the Stalled condition', g));
    conditions.push(condition('Stalled', 'True', stalled.reason, stalled.message, g));
  } else if (input.waiting) {
    const w = input.waiting;
    conditions.push(condition('Progressing', 'Unknown', w.reason, w.message, g));
    conditions.push(condition('Reconciling', 'True', w.reason, w.message, g));
    conditions.push(condition('Stalled', 'False', 'AsExpected', 'waiting for the image, not stalled', g));
  } else if (plan?.halted) {
    conditions.push(condition('Progressing', 'False', 'RolloutHalted', plan.halted.message, g));
    conditions.push(condition('Reconciling', 'False', 'RolloutHalted', 'the rollout waits for a fixed template', g));
    conditions.push(condition('Stalled', 'True', 'RolloutHalted', plan.halted.message, g));
  } else {
    const done = !!plan?.complete && !input.acting && !input.drift?.repairing;
    const rev = counts?.updateRevision ?? '';
    if (plan?.paused && !plan.complete) conditions.push(condition('Progressing', 'Unknown', 'RolloutPaused', `the rollout to revision ${rev} is paused (spec.paused)`, g));
    else if (done && input.held) {
      // Reason NewRevisionAvailable: the rollout did what its strategy allows (tools treat that as healthy); the message says who waits.
      const h = input.held;
      conditions.push(condition('Progressing', 'True', 'NewRevisionAvailable', `${counts?.updatedReplicas ?? 0}/${input.replicas} VMs run revision ${rev}; ${listed(h.vms)} ${h.vms.length === 1 ? 'waits' : 'wait'} at revision ${h.revisions.join(', ')} (${h.why})`, g));
    } else if (done) conditions.push(condition('Progressing', 'True', 'NewRevisionAvailable', `every VM runs revision ${rev}`, g));
    else conditions.push(condition('Progressing', 'True', 'RolloutInProgress', `${counts?.updatedReplicas ?? 0}/${input.replicas} VMs at revision ${rev}${plan?.blocked.length ? `; ${plan.blocked[0]}` : ''}`, g));
    const work = !plan?.complete || input.acting ? 'VMs are being created, updated or removed' : 'drift is being repaired';
    if (input.failure) conditions.push(condition('Reconciling', 'True', 'ActionFailed', `retrying after an error: ${input.failure}`.slice(0, 1024), g));
    else conditions.push(done ? condition('Reconciling', 'False', 'Reconciled', 'the fleet matches its spec', g) : condition('Reconciling', 'True', 'Progressing', work, g));
    conditions.push(condition('Stalled', 'False', 'AsExpected', 'no invalid input', g));
  }

  const drift = input.drift;
  if (drift) {
    conditions.push(drift.drifted > 0
      ? condition('Drifted', 'True', drift.reason ?? 'Drifted', drift.message ?? `${drift.drifted} VMs drifted`, g)
      : condition('Drifted', 'False', 'NoDrift', 'every VM runs where and how its fleet says', g));
  } else {
    const old = previous?.conditions?.find((c) => c.type === 'Drifted');
    if (old) conditions.push({ type: old.type, status: old.status, observedGeneration: old.observedGeneration, reason: old.reason, message: old.message });
  }

  const conflicts = input.conflicts;
  const hadConflict = previous?.conditions?.find((c) => c.type === 'NameConflict');
  if (conflicts && conflicts.length > 0) {
    const list = conflicts.length > 10 ? `${conflicts.slice(0, 10).join(', ')} and ${conflicts.length - 10} more` : conflicts.join(', ');
    conditions.push(condition('NameConflict', 'True', 'NameHeldByAnotherObject', `${list} ${conflicts.length === 1 ? 'is' : 'are'} held by VirtualMachines this fleet does not own; it leaves them alone and uses the next free names`, g));
  } else if (conflicts) {
    if (hadConflict) conditions.push(condition('NameConflict', 'False', 'NoNameConflict', 'every name the fleet uses is its own', g));
  } else if (hadConflict) conditions.push({ type: hadConflict.type, status: hadConflict.status, observedGeneration: hadConflict.observedGeneration, reason: hadConflict.reason, message: hadConflict.message });

  const wasDeprecated = previous?.conditions?.find((c) => c.type === 'ImageDeprecated');
  if (input.deprecated) conditions.push(condition('ImageDeprecated', 'True', 'VersionDeprecated', input.deprecated, g));
  else if (plan && wasDeprecated) conditions.push(condition('ImageDeprecated', 'False', 'VersionCurrent', 'the fleet\'s image version is not deprecated', g));
  else if (wasDeprecated) conditions.push({ type: wasDeprecated.type, status: wasDeprecated.status, observedGeneration: wasDeprecated.observedGeneration, reason: wasDeprecated.reason, message: wasDeprecated.message });

  // Counted once: `runs` holds one entry per VM (10,000 in a large fleet).
  const versions = input.runs ? imageVersionCounts(input.runs, input.imageVersion) : undefined;
  const summary = imageSummary(input.imageVersion, versions, replicas) ?? prev.imageSummary;
  return {
    observedGeneration: g,
    replicas,
    readyReplicas: ready,
    availableReplicas: available,
    updatedReplicas: counts?.updatedReplicas ?? prev.updatedReplicas ?? 0,
    driftedReplicas: drift?.drifted ?? prev.driftedReplicas ?? 0,
    ...(drift ? { driftedReplicasByKind: drift.byKind } : prev.driftedReplicasByKind ? { driftedReplicasByKind: prev.driftedReplicasByKind } : {}),
    migratingReplicas: drift?.migrating ?? prev.migratingReplicas ?? 0,
    currentRevision: counts?.currentRevision ?? prev.currentRevision ?? '',
    updateRevision: counts?.updateRevision ?? prev.updateRevision ?? '',
    imageVersion: input.imageVersion ?? prev.imageVersion ?? '',
    ...(summary ? { imageSummary: summary } : {}),
    ...(versions ? { imageVersions: versions } : prev.imageVersions ? { imageVersions: prev.imageVersions } : {}),
    labelSelector: selectorString(input.selector),
    conditions: withTransitionTimes(previous?.conditions, conditions, input.now),
  };
}

/** `f42-20261101`, or `f42-20261101 (2/6)` while only 2 of the 6 VMs boot it. */
function imageSummary(version: string | undefined, versions: readonly { version: string; replicas: number }[] | undefined, replicas: number): string | undefined {
  if (version === undefined || !versions) return version;
  const booting = versions.find((v) => v.version === version)?.replicas ?? 0;
  return booting < replicas ? `${version} (${booting}/${replicas})` : version;
}
