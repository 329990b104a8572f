// The status KubeVirt's VM controller reports for a VM (pkg/virt-controller/watch/vm/vm.go
// updateStatus and printableStatus), computed from the VM, its VMI and its DataVolumes.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { conditionOf, isTrue, withTransitionTimes, type KvCondition } from '../conditions.ts';
import type { DataVolume } from '../world.ts';
import { runStrategyOf, VM_GENERATION_ANNOTATION } from './vmi-from-vm.ts';

export interface StartFailure {
  consecutiveFailCount: number;
  lastFailedVMIUID?: string;
  retryAfterTimestamp?: string;
}

export interface VMStatusInput {
  vm: V1VirtualMachine;
  vmi?: V1VirtualMachineInstance;
  dataVolumes: DataVolume[];
  restartRequired: boolean;
  startFailure?: StartFailure;
  now: string;
}

export function printableStatus({ vm, vmi, dataVolumes, startFailure, now }: VMStatusInput): string {
  if (vm.metadata?.deletionTimestamp) return 'Terminating';
  if (vmi?.metadata?.deletionTimestamp) return 'Stopping';
  if (!vmi || vmi.status?.phase === 'Failed') {
    if (startFailure?.retryAfterTimestamp && startFailure.retryAfterTimestamp > now) return 'CrashLoopBackOff';
    if (dataVolumes.some((dv) => dv.status?.phase === 'Failed')) return 'DataVolumeError';
    if (runStrategyOf(vm) !== 'Halted' && dataVolumes.some((dv) => dv.status?.phase !== 'Succeeded')) return 'Provisioning';
    return 'Stopped';
  }
  const scheduled = conditionOf(vmi.status?.conditions as KvCondition[] | undefined, 'PodScheduled');
  switch (vmi.status?.phase) {
    case undefined:
    case '':
    case 'Pending':
    case 'Scheduling':
      return scheduled?.status === 'False' && scheduled.reason === 'Unschedulable' ? 'ErrorUnschedulable' : 'Starting';
    case 'Scheduled':
      return 'Starting';
    case 'Running': {
      const migration = vmi.status?.migrationState;
      return migration && !migration.completed && !migration.failed && migration.startTimestamp ? 'Migrating' : 'Running';
    }
    case 'Succeeded':
      return 'Stopped';
    default:
      return 'Unknown';
  }
}

export function vmStatus(input: VMStatusInput): NonNullable<V1VirtualMachine['status']> {
  const { vm, vmi, restartRequired, startFailure, now } = input;
  const vmiConditions = vmi?.status?.conditions as KvCondition[] | undefined;
  // virt-launcher's pod stops being ready as soon as the VMI is being deleted.
  const ready = !vmi?.metadata?.deletionTimestamp && vmi?.status?.phase === 'Running' && isTrue(vmiConditions, 'Ready');
  const conditions: KvCondition[] = [
    vmi
      ? { type: 'Ready', status: ready ? 'True' : 'False', ...(ready ? {} : { reason: 'VMINotReady', message: 'VMI is not ready' }) }
      : { type: 'Ready', status: 'False', reason: 'VMINotExists', message: 'VMI does not exist' },
  ];
  // KubeVirt mirrors these VMI conditions onto the VM.
  for (const type of ['LiveMigratable', 'StorageLiveMigratable', 'HotVCPUChange', 'HotMemoryChange', 'MigrationRequired']) {
    const c = conditionOf(vmiConditions, type);
    if (c) conditions.push({ type, status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) });
  }
  if (restartRequired) {
    conditions.push({ type: 'RestartRequired', status: 'True', reason: 'RestartRequired', message: 'a non-live-updatable field was changed in the template spec' });
  }
  const vmiGeneration = Number(vmi?.metadata?.annotations?.[VM_GENERATION_ANNOTATION] ?? NaN);
  const status: NonNullable<V1VirtualMachine['status']> = {
    printableStatus: printableStatus(input),
    ready,
    created: !!vmi,
    runStrategy: runStrategyOf(vm),
    desiredGeneration: vm.metadata?.generation,
    observedGeneration: Number.isNaN(vmiGeneration) ? vm.metadata?.generation : vmiGeneration,
    conditions: withTransitionTimes(vm.status?.conditions as KvCondition[] | undefined, conditions, now) as NonNullable<V1VirtualMachine['status']>['conditions'],
  };
  if (startFailure && startFailure.consecutiveFailCount > 0) status.startFailure = startFailure;
  return status;
}
