// The rollout and scale planner of a fleet (README "Safety invariants" 1 and 5).
// Level-triggered and pure: the same observation always yields the same plan; time comes in as
// `now`. The shell applies the actions and re-plans from its next observation.
import type { VMFleetSpec } from '../../api/generated/types.ts';
import type { ChangeKind } from './classify.ts';
import { lowestFreeIndexes, vmName } from './names.ts';

import type { SCALE_DOWN_PRIORITIES } from '../../api/schema/vmfleet.ts';

export type ScaleDownPriority = (typeof SCALE_DOWN_PRIORITIES)[number];

/** The fleet spec essentials the planner reads, with the schema's defaults applied. */
export interface RolloutSpec {
  replicas: number;
  strategy: 'RollingUpdate' | 'OnDelete';
  /** An int or a percentage of replicas (rounded down). */
  maxUnavailable: number | string;
  /** An int or a percentage of replicas (rounded up). */
  maxSurge: number | string;
  partition: number;
  pauseOnFailure: boolean;
  paused: boolean;
  minReadySeconds: number;
  scaleDownPriorities: readonly ScaleDownPriority[];
}

/** The planner's view of a VMFleetSpec, with the defaults of controller/api/schema/vmfleet.ts. */
export function rolloutSpecOf(spec: VMFleetSpec): RolloutSpec {
  const strategy = spec.updateStrategy?.type ?? 'RollingUpdate';
  const ru = spec.updateStrategy?.rollingUpdate;
  return {
    replicas: spec.replicas ?? 1,
    strategy,
    maxUnavailable: ru?.maxUnavailable ?? 1,
    maxSurge: ru?.maxSurge ?? 0,
    partition: ru?.partition ?? 0,
    pauseOnFailure: ru?.pauseOnFailure ?? true,
    paused: spec.paused ?? false,
    minReadySeconds: spec.minReadySeconds ?? 0,
    scaleDownPriorities: spec.scaleDown?.priorities ?? ['NotReady', 'OutdatedRevision', 'HighestIndex'],
  };
}

/**
 * Kubernetes intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded down
 * or up. Negative or malformed values give 0.
 */
export function resolveIntOrPercent(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return Math.max(0, Math.trunc(value));
  const m = /^(\d+)%$/.exec(value);
  if (!m) return /^\d+$/.test(value) ? Number(value) : 0;
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/**
 * The effective limits, as Deployments compute them: maxUnavailable rounds down, maxSurge rounds
 * up, and when both come out 0 maxUnavailable becomes 1 (so a rollout can always progress).
 */
export function rolloutLimits(spec: Pick<RolloutSpec, 'replicas' | 'maxUnavailable' | 'maxSurge'>): { maxUnavailable: number; maxSurge: number } {
  const maxSurge = resolveIntOrPercent(spec.maxSurge, spec.replicas, true);
  let maxUnavailable = resolveIntOrPercent(spec.maxUnavailable, spec.replicas, false);
  if (maxUnavailable === 0 && maxSurge === 0) maxUnavailable = 1;
  return { maxUnavailable, maxSurge };
}

/** One VM of the fleet as the shell observes it (from its cache plus its expectations). */
export interface ObservedVM {
  name: string;
  index: number;
  /** The virtfleet.io/revision label; undefined when missing. */
  revision: string | undefined;
  /** creationTimestamp, epoch milliseconds. */
  createdAt: number;
  /** VM status.ready (its VMI is Running and Ready). */
  ready: boolean;
  /** When Ready last became True (the Ready condition's lastTransitionTime), epoch ms. */
  readySince?: number;
  /** metadata.deletionTimestamp is set (or the shell expects the deletion it requested). */
  deleting: boolean;
  /** A restart requested by the shell or KubeVirt is under way (stop/start not finished). */
  restarting: boolean;
  /** KubeVirt's RestartRequired condition: the applied spec waits for a restart. */
  restartPending: boolean;
  /** status.startFailure.consecutiveFailCount (0 when unset). */
  startFailureCount: number;
  /** printableStatus is a failure: CrashLoopBackOff, ErrImagePull, ImagePullBackOff, ErrorUnschedulable, ErrorPvcNotFound, DataVolumeError. */
  failed: boolean;
  /** Drifted from its desired state at run time (drift detection's verdict). */
  drifted: boolean;
  /** classifyChange(this VM, desiredVM(index, updateRevision)).kind. */
  change: ChangeKind;
  /** When the VM last stopped being Ready (its Ready condition turned False), epoch ms. */
  notReadySince?: number;
  /** When the node of its VMI stopped being Ready, epoch ms; undefined while the node is Ready. */
  nodeLostSince?: number;
  /** A live migration of its VMI is in flight: no restart, recreate or delete on top of it. */
  migrating?: boolean;
  /** Drift remediation falls back to restarting it (not live-migratable): why. */
  driftRestart?: string;
  /** The Obsolete image version it runs: rolled forward in the disruption window, whatever the strategy. */
  obsolete?: string;
}

export interface PlanInput {
  /** The fleet's name (VM names are `<fleet>-<index>`). */
  fleet: string;
  spec: RolloutSpec;
  /** revisionHash of the fleet's current template and image. */
  updateRevision: string;
  /** Epoch milliseconds. */
  now: number;
  /** Every VM the fleet owns, including those being deleted. */
  vms: readonly ObservedVM[];
  /**
   * Indexes whose names are held by objects the fleet does not own (invariant 4): never created,
   * patched or deleted, so new VMs take the next free indexes instead.
   */
  taken?: readonly number[];
  /** The disruption window is open (default true): restarts and recreates may happen. */
  restartsAllowed?: boolean;
}

export type CreateReason = 'ScaleUp' | 'Surge';

/**
 * Creates one plan makes at most, as the ReplicaSet controller's burstReplicas: a scale-out of
 * thousands goes in steps, each taken up by the next reconcile once the cache shows the last, so
 * the key is never held for minutes behind the client's rate limit, status shows progress between
 * steps, and a change of the fleet (scaled back, paused) is honoured within one step.
 */
export const MAX_CREATES_PER_PLAN = 500;
export type DeleteReason = 'ScaleDown' | 'Replaced';

/**
 * What the shell does for each action:
 * - Create: apply desiredVM(index, updateRevision) (create; AlreadyExists means done).
 * - Delete: delete the VM (preconditioned on its uid); ScaleDown is scaling in or removing a
 *   surplus, Replaced removes an outdated VM that a surge VM replaces.
 * - UpdateInPlace: apply desiredVM at the update revision; no restart.
 * - Restart: apply desiredVM at the update revision (if not yet), then restart the VM
 *   (KubeVirt's restart subresource), and expect `restarting` until its VMI is new.
 * - Recreate: delete the VM; a later plan creates its replacement at the lowest free index.
 */
export type PlanAction =
  | { type: 'Create'; index: number; name: string; reason: CreateReason; message: string }
  | { type: 'Delete'; index: number; name: string; reason: DeleteReason; message: string }
  | { type: 'UpdateInPlace'; index: number; name: string; change: 'metadata' | 'liveUpdatable'; message: string }
  | { type: 'Restart'; index: number; name: string; message: string; drift?: boolean }
  | { type: 'Recreate'; index: number; name: string; message: string };

export interface Plan {
  actions: PlanAction[];
  /** Status fields for the fleet (replicas counts VMs not being deleted). */
  status: {
    replicas: number;
    readyReplicas: number;
    availableReplicas: number;
    updatedReplicas: number;
    currentRevision: string;
    updateRevision: string;
  };
  /** Set when pauseOnFailure halted the rollout (report Progressing=False, reason RolloutHalted). */
  halted?: { reason: 'NewRevisionFailing'; message: string };
  /** spec.paused: template changes are not rolled out (scaling still happens). */
  paused: boolean;
  /** VMs at the update revision that fail to start or crash-loop. */
  failing: string[];
  /** Every VM at or above the partition is updated and the count is right: the rollout is done. */
  complete: boolean;
  /** Actions held back by maxUnavailable, one line each (for Events/conditions). */
  blocked: string[];
  /** When a Ready VM becomes available (minReadySeconds): re-plan then, epoch ms. */
  nextCheckAt?: number;
}

function compareBy<T>(...keys: ((x: T) => number)[]): (a: T, b: T) => number {
  return (a, b) => {
    for (const key of keys) {
      const d = key(a) - key(b);
      if (d !== 0) return d;
    }
    return 0;
  };
}

/**
 * Plans one step of the fleet's reconciliation. Rules:
 * - A VM is available when Ready, not restarting or deleting, for at least minReadySeconds.
 * - Invariant 1: an action that makes an available VM unavailable (Restart, Recreate, Delete) is
 *   planned only while available − 1 ≥ replicas − maxUnavailable after the plan's earlier
 *   actions; unavailable VMs may be acted on freely (they cost nothing). So the plan never raises
 *   unavailability (max(0, replicas − available)) above maxUnavailable.
 * - Scale up: while VMs (including those being deleted, whose names are still taken) number fewer
 *   than replicas, Create at the lowest free indexes, at most MAX_CREATES_PER_PLAN in one plan.
 *   New VMs are always at the update revision.
 * - Rollout (RollingUpdate, not paused, not halted): VMs with index ≥ partition whose revision is
 *   not the update revision are updated: `none`/`metadata`/`liveUpdatable` changes by
 *   UpdateInPlace at once; `restartRequired` by Restart, `recreate` by Recreate, within the
 *   budget, unavailable VMs first, then highest index first. A VM at the update revision with
 *   restartPending is Restarted too (a restart the shell did not get to).
 * - Surge: during such a rollout up to min(maxSurge, VMs still to restart/recreate) extra VMs are
 *   created above replicas; while VMs exceed replicas, outdated ones are Deleted (Replaced)
 *   within the budget instead of being restarted.
 * - Scale down: VMs not being deleted beyond replicas (beyond replicas + maxSurge during a
 *   rollout, so surge VMs survive a halt) are Deleted in scaleDown priority order (ties: highest
 *   index), skipping available VMs the budget does not allow.
 * - pauseOnFailure: when a VM at the update revision is not Ready and has start failures or a
 *   failure status while VMs are still to update, the rollout halts: no rollout actions (updates,
 *   restarts, surge creates, replacements) until the template changes.
 * - OnDelete: existing VMs are never updated; paused: nothing of the rollout happens.
 * - Disruption window closed (restartsAllowed false): no restarts, recreates, replacements or
 *   surge; scaling and in-place updates go on.
 * - A VM whose VMI is migrating is never restarted, recreated or replaced by the rollout.
 * - VMs on an Obsolete image version (obsolete) are restarted onto the update revision within the
 *   disruption window and maxUnavailable, whatever the strategy, partition or pause, unless the
 *   rollout is halted.
 * - Drift restarts (driftRestart, the fallback for VMs that cannot migrate) come after the
 *   rollout, within the same maxUnavailable budget, whatever the strategy or pause.
 * - At most one action per VM; creates never reuse an observed index.
 */
export function planRollout(input: PlanInput): Plan {
  const { fleet, spec, updateRevision, now, vms } = input;
  const { replicas, partition } = spec;
  const { maxUnavailable, maxSurge } = rolloutLimits(spec);
  const minReadyMs = spec.minReadySeconds * 1000;
  const isAvailable = (vm: ObservedVM) =>
    !vm.deleting && !vm.restarting && vm.ready && (minReadyMs === 0 || (vm.readySince !== undefined && now - vm.readySince >= minReadyMs));
  const active = vms.filter((vm) => !vm.deleting);
  const available = active.filter(isAvailable).length;
  const minAvailable = replicas - maxUnavailable;
  const rolling = spec.strategy === 'RollingUpdate' && !spec.paused;
  const windowOpen = input.restartsAllowed ?? true;

  const outdated = (vm: ObservedVM) => vm.revision !== updateRevision;
  const inScope = (vm: ObservedVM) => outdated(vm) && vm.index >= partition;
  const disruptive = (vm: ObservedVM) =>
    !vm.restarting && !vm.migrating && ((inScope(vm) && (vm.change === 'restartRequired' || vm.change === 'recreate')) || (!outdated(vm) && vm.restartPending));
  const inPlace = (vm: ObservedVM) => inScope(vm) && vm.change !== 'restartRequired' && vm.change !== 'recreate';

  const failing = active.filter((vm) => !outdated(vm) && !vm.ready && (vm.startFailureCount > 0 || vm.failed)).map((vm) => vm.name).sort();
  const workLeft = active.some((vm) => disruptive(vm) || inPlace(vm));
  const halted = spec.strategy === 'RollingUpdate' && spec.pauseOnFailure && failing.length > 0 && workLeft;
  const canRoll = rolling && !halted;

  const actions: PlanAction[] = [];
  const blocked: string[] = [];
  const touched = new Set<string>();
  let availableLeft = available;
  /** Takes budget for disrupting `vm`; false when that would break invariant 1. */
  const disrupt = (vm: ObservedVM): boolean => {
    if (!isAvailable(vm)) return true;
    if (availableLeft - 1 < minAvailable) return false;
    availableLeft--;
    return true;
  };
  const act = (a: PlanAction) => {
    actions.push(a);
    if (a.type !== 'Create') touched.add(a.name);
  };
  const rolloutOrder = compareBy<ObservedVM>((vm) => (isAvailable(vm) ? 1 : 0), (vm) => -vm.index);

  // Scale up, and surge.
  const candidates = active.filter(disruptive);
  const surge = rolling && windowOpen && candidates.length > 0 ? Math.min(maxSurge, candidates.length) : 0;
  const toCreate = Math.min(MAX_CREATES_PER_PLAN, Math.max(0, replicas + (canRoll ? surge : 0) - vms.length));
  const scaleUp = Math.max(0, replicas - vms.length);
  lowestFreeIndexes([...vms.map((vm) => vm.index), ...(input.taken ?? [])], toCreate).forEach((index, i) => {
    const reason: CreateReason = i < scaleUp ? 'ScaleUp' : 'Surge';
    act({ type: 'Create', index, name: vmName(fleet, index), reason, message: reason === 'ScaleUp' ? `scale up to ${replicas}` : `surge VM for the rollout to ${updateRevision}` });
  });

  // Scale down: beyond the cap, by priority.
  const cap = replicas + surge;
  let count = active.length;
  if (count > cap) {
    const priorityKey: Record<ScaleDownPriority, (vm: ObservedVM) => number> = {
      NotReady: (vm) => (vm.ready ? 1 : 0),
      OutdatedRevision: (vm) => (outdated(vm) ? 0 : 1),
      Drifted: (vm) => (vm.drifted ? 0 : 1),
      Newest: (vm) => -vm.createdAt,
      Oldest: (vm) => vm.createdAt,
      HighestIndex: (vm) => -vm.index,
    };
    const order = [...spec.scaleDownPriorities.map((p) => priorityKey[p]), (vm: ObservedVM) => -vm.index];
    for (const vm of [...active].sort(compareBy(...order))) {
      if (count <= cap) break;
      if (!disrupt(vm)) {
        blocked.push(`scale down: deleting ${vm.name} would exceed maxUnavailable ${maxUnavailable}`);
        continue;
      }
      act({ type: 'Delete', index: vm.index, name: vm.name, reason: 'ScaleDown', message: `scale down to ${replicas}` });
      count--;
    }
  }

  if (canRoll) {
    // Surge replacements: outdated VMs go while VMs exceed replicas.
    for (const vm of candidates.filter((c) => windowOpen && !touched.has(c.name) && outdated(c)).sort(rolloutOrder)) {
      if (count <= replicas) break;
      if (!disrupt(vm)) {
        blocked.push(`rollout: replacing ${vm.name} would exceed maxUnavailable ${maxUnavailable}`);
        break;
      }
      act({ type: 'Delete', index: vm.index, name: vm.name, reason: 'Replaced', message: `replaced by a surge VM at revision ${updateRevision}` });
      count--;
    }
    for (const vm of active.filter((v) => inPlace(v) && !touched.has(v.name)).sort(compareBy((v) => v.index))) {
      const change = vm.change === 'liveUpdatable' ? 'liveUpdatable' : 'metadata';
      act({ type: 'UpdateInPlace', index: vm.index, name: vm.name, change, message: `${change} change to revision ${updateRevision}` });
    }
    for (const vm of candidates.filter((c) => !touched.has(c.name)).sort(rolloutOrder)) {
      if (!windowOpen) {
        blocked.push(`rollout: ${vm.name} waits for the disruption window`);
        continue;
      }
      if (!disrupt(vm)) {
        blocked.push(`rollout: ${vm.name} waits for maxUnavailable ${maxUnavailable}`);
        continue;
      }
      if (inScope(vm) && vm.change === 'recreate') act({ type: 'Recreate', index: vm.index, name: vm.name, message: `dataVolumeTemplates changed in revision ${updateRevision}` });
      else act({ type: 'Restart', index: vm.index, name: vm.name, message: `restart-required change to revision ${updateRevision}` });
    }
  }

  // VMs on an Obsolete image version roll forward to the update revision in the disruption
  // window, under OnDelete, below the partition and while paused too; never onto a halted rollout.
  if (!halted) {
    for (const vm of active.filter((v) => v.obsolete !== undefined && outdated(v) && !touched.has(v.name) && !v.restarting && !v.migrating).sort(rolloutOrder)) {
      if (!windowOpen) {
        blocked.push(`obsolete image: ${vm.name} waits for the disruption window`);
        continue;
      }
      if (!disrupt(vm)) {
        blocked.push(`obsolete image: ${vm.name} waits for maxUnavailable ${maxUnavailable}`);
        continue;
      }
      const message = `runs Obsolete image version ${vm.obsolete}; rolled forward to revision ${updateRevision}`;
      if (vm.change === 'recreate') act({ type: 'Recreate', index: vm.index, name: vm.name, message });
      else act({ type: 'Restart', index: vm.index, name: vm.name, message });
    }
  }

  // Drift the remediation planner could not migrate away: restarted within the same budget.
  for (const vm of active.filter((v) => v.driftRestart && !touched.has(v.name) && !v.restarting && !v.migrating).sort(rolloutOrder)) {
    if (!windowOpen) {
      blocked.push(`drift: restarting ${vm.name} waits for the disruption window`);
      continue;
    }
    if (!disrupt(vm)) {
      blocked.push(`drift: restarting ${vm.name} waits for maxUnavailable ${maxUnavailable}`);
      continue;
    }
    act({ type: 'Restart', index: vm.index, name: vm.name, message: vm.driftRestart!, drift: true });
  }

  const updated = active.filter((vm) => !outdated(vm) && !vm.restartPending);
  const revisions = new Map<string, number>();
  for (const vm of active) if (vm.revision !== undefined) revisions.set(vm.revision, (revisions.get(vm.revision) ?? 0) + 1);
  const top = Math.max(0, ...revisions.values());
  const tied = [...revisions].filter(([, n]) => n === top).map(([r]) => r).sort();
  const currentRevision = tied.length === 0 || tied.includes(updateRevision) ? updateRevision : tied[0]!;
  const waiting = active.filter((vm) => vm.ready && !isAvailable(vm) && !vm.restarting && vm.readySince !== undefined).map((vm) => vm.readySince! + minReadyMs);

  return {
    actions,
    status: { replicas: active.length, readyReplicas: active.filter((vm) => vm.ready).length, availableReplicas: available, updatedReplicas: updated.length, currentRevision, updateRevision },
    ...(halted ? { halted: { reason: 'NewRevisionFailing' as const, message: `rollout to revision ${updateRevision} halted: ${failing.join(', ')} failed to become Ready` } } : {}),
    paused: spec.paused,
    failing,
    complete: vms.length === replicas && active.length === replicas && active.every((vm) => vm.index < partition || (!outdated(vm) && !vm.restartPending)),
    blocked,
    ...(waiting.length > 0 ? { nextCheckAt: Math.min(...waiting) } : {}),
  };
}
