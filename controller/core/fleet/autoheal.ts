// Autohealing (README "How a fleet is reconciled"): which VMs of a fleet are replaced because they
// cannot run. Pure; the shell deletes the chosen VMs and the planner recreates their indexes.
import type { VMFleetSpec } from '../../api/generated/types.ts';
import { parseDuration } from '../duration.ts';
import type { ObservedVM } from './rollout.ts';

export interface AutohealSpec {
  enabled: boolean;
  startupFailureThreshold: number;
  minFailingToStartMs: number;
  nodeLostTimeoutMs: number;
}

/** The planner's view of spec.autohealing, with the schema's defaults. */
export function autohealSpecOf(spec: VMFleetSpec): AutohealSpec {
  const a = spec.autohealing;
  return {
    enabled: a?.enabled ?? true,
    startupFailureThreshold: a?.startupFailureThreshold ?? 3,
    minFailingToStartMs: parseDuration(a?.minFailingToStartDuration ?? '5m'),
    nodeLostTimeoutMs: parseDuration(a?.nodeLostTimeout ?? '5m'),
  };
}

export interface Replacement {
  name: string;
  index: number;
  reason: 'StartFailure' | 'NodeLost';
  message: string;
}

export interface AutohealPlan {
  replace: Replacement[];
  /** When a VM crosses a threshold not yet reached: heal again then, epoch ms. */
  nextCheckAt?: number;
}

export interface AutohealInput {
  spec: AutohealSpec;
  updateRevision: string;
  /** pauseOnFailure of a RollingUpdate: failing new-revision VMs are then the rollout's verdict. */
  pauseOnFailure: boolean;
  now: number;
  vms: readonly ObservedVM[];
}

/**
 * A VM not being deleted is replaced when
 * - its node has been lost (NotReady or unreachable) for nodeLostTimeout, or
 * - it failed to start startupFailureThreshold times in a row and has not been Ready for
 *   minFailingToStartDuration.
 * Start failures of VMs at the update revision are left alone while a pauseOnFailure rollout still
 * has outdated VMs: they halt the rollout and show the user why, and a fresh VM from the same
 * template would fail the same way (and hide the verdict). Replacing an unavailable VM costs no
 * availability, so maxUnavailable does not limit healing.
 */
export function planAutohealing(input: AutohealInput): AutohealPlan {
  const { spec, updateRevision, now } = input;
  if (!spec.enabled) return { replace: [] };
  const rolloutPending = input.vms.some((vm) => !vm.deleting && vm.revision !== updateRevision);
  const replace: Replacement[] = [];
  const later: number[] = [];
  for (const vm of input.vms) {
    if (vm.deleting) continue;
    if (vm.nodeLostSince !== undefined) {
      const due = vm.nodeLostSince + spec.nodeLostTimeoutMs;
      if (due <= now) {
        replace.push({ name: vm.name, index: vm.index, reason: 'NodeLost', message: `the node of ${vm.name} has not been Ready for ${Math.round((now - vm.nodeLostSince) / 1000)} s` });
        continue;
      }
      later.push(due);
    }
    if (vm.ready || vm.startFailureCount < spec.startupFailureThreshold) continue;
    if (input.pauseOnFailure && rolloutPending && vm.revision === updateRevision) continue;
    const due = (vm.notReadySince ?? now) + spec.minFailingToStartMs;
    if (due <= now) {
      replace.push({ name: vm.name, index: vm.index, reason: 'StartFailure', message: `${vm.name} failed to start ${vm.startFailureCount} times in a row` });
    } else later.push(due);
  }
  return { replace, ...(later.length > 0 ? { nextCheckAt: Math.min(...later) } : {}) };
}
