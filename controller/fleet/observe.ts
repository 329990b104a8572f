// What the fleet reconciler knows of one VM: its cached VM, VMI and node, and the restart it may
// have requested, reduced to the planner's ObservedVM. Pure.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { ChangeKind } from '../core/fleet/classify.ts';
import { REVISION_LABEL } from '../core/fleet/names.ts';
import type { ObservedVM } from '../core/fleet/rollout.ts';

/** printableStatus values that mean the VM cannot run as it is. */
export const FAILED_STATUSES = new Set(['CrashLoopBackOff', 'ErrImagePull', 'ImagePullBackOff', 'ErrorUnschedulable', 'ErrorPvcNotFound', 'DataVolumeError']);

interface Condition {
  type: string;
  status: string;
  lastTransitionTime?: string | Date | null;
}

export const conditionOf = (conditions: unknown, type: string): Condition | undefined => (conditions as Condition[] | undefined)?.find((c) => c.type === type);
/** A Kubernetes timestamp (string or Date) as epoch ms; undefined when unset. */
export const epoch = (t: string | Date | null | undefined): number | undefined => (t ? new Date(t).getTime() : undefined);

export interface ObserveInput {
  vm: V1VirtualMachine;
  index: number;
  vmi: V1VirtualMachineInstance | undefined;
  node: V1Node | undefined;
  /** The uid of the VMI this controller deleted to restart the VM, until a new VMI shows. */
  restartedVmiUid: string | undefined;
  change: ChangeKind;
}

/** Whether a node is lost: its Ready condition is not True (NotReady, or Unknown when unreachable). */
export function nodeLostSince(node: V1Node | undefined): number | undefined {
  const ready = conditionOf(node?.status?.conditions, 'Ready');
  if (!ready || ready.status === 'True') return undefined;
  return epoch(ready.lastTransitionTime) ?? 0;
}

/**
 * The planner's view of a VM. Ready needs both the VM's status and a Running, Ready VMI that is
 * not the one a restart removed: VM status lags its VMI, and a stale Ready would let a rollout
 * take down more VMs than maxUnavailable allows.
 */
export function observeVM(input: ObserveInput): ObservedVM {
  const { vm, vmi, index } = input;
  const vmiGone = !vmi || !!vmi.metadata?.deletionTimestamp;
  const restarting = input.restartedVmiUid !== undefined && (vmiGone || vmi?.metadata?.uid === input.restartedVmiUid);
  const vmiReady = !vmiGone && vmi?.status?.phase === 'Running' && conditionOf(vmi.status?.conditions, 'Ready')?.status === 'True';
  const ready = vm.status?.ready === true && vmiReady && !restarting;
  const readyCondition = conditionOf(vm.status?.conditions, 'Ready');
  const readySince = ready ? epoch(readyCondition?.lastTransitionTime) : undefined;
  const notReadySince = !ready ? epoch(readyCondition?.status === 'True' ? undefined : readyCondition?.lastTransitionTime) ?? epoch(vm.metadata?.creationTimestamp) : undefined;
  const lost = vmi?.status?.nodeName && !vmiGone ? nodeLostSince(input.node) : undefined;
  return {
    name: vm.metadata!.name!,
    index,
    revision: vm.metadata?.labels?.[REVISION_LABEL],
    createdAt: epoch(vm.metadata?.creationTimestamp) ?? 0,
    ready,
    ...(readySince !== undefined ? { readySince } : {}),
    ...(notReadySince !== undefined ? { notReadySince } : {}),
    ...(lost !== undefined ? { nodeLostSince: lost } : {}),
    deleting: !!vm.metadata?.deletionTimestamp,
    restarting,
    // KubeVirt's RestartRequired speaks of a running VMI that predates the VM's spec. While the
    // VMI is gone or only starting (created from the spec as it is), a True one is a VM status
    // written before it: the VM's and the VMI's watches arrive apart, and trusting it restarted a
    // VM a second time right after its rollout restart.
    restartPending: conditionOf(vm.status?.conditions, 'RestartRequired')?.status === 'True' && !vmiGone && vmi?.status?.phase === 'Running',
    startFailureCount: vm.status?.startFailure?.consecutiveFailCount ?? 0,
    failed: FAILED_STATUSES.has(vm.status?.printableStatus ?? ''),
    drifted: false,
    change: input.change,
  };
}
