// Which fleet, VM and VMI events can change a GoldenImage's decision. The image controller reads
// of them only which version each VM's spec and running instance boot, whether the VM is meant to
// run and Ready on it (for minReadySeconds), which fleets boot the image from which channel, and
// whether a fleet's rollout halted. A live migration rewrites a VMI's node and migrationState a
// few times, a drift annotation or a status write changes a VM or a fleet: none of that changes
// usage, health or rollback, and at 10,000 VMs each would cost a judgement of every fleet VM.
import { hash } from 'node:crypto';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleet } from '../api/objects.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { projectVM } from '../core/image/usage.ts';
import { ChangeFilter } from '../runtime/change-filter.ts';

interface Condition {
  type: string;
  status?: string;
  reason?: string;
  lastTransitionTime?: unknown;
}

/**
 * What is read, as 48 bits of its SHA-1: one is kept per VM and VMI, and the texts themselves
 * (image references, timestamps: about 450 characters per VM and its VMI) would be some 5 MiB at
 * 10,000 VMs. Two different readings share a digest with a chance of 2^-48.
 */
const digest = (read: unknown[]): number => hash('sha1', JSON.stringify(read), 'buffer').readUIntBE(0, 6);

/** The condition's state and since when: what readiness (and a gate's minReadySeconds) reads. */
function conditionOf(conditions: unknown, type: string): unknown[] | null {
  const c = (conditions as Condition[] | undefined)?.find((x) => x.type === type);
  return c ? [c.status ?? null, c.reason ?? null, c.lastTransitionTime === undefined || c.lastTransitionTime === null ? null : String(c.lastTransitionTime)] : null;
}

/**
 * What the image controller reads of a VM: its image references (projectVM keeps exactly those,
 * for any VM: the cache keeps no generation of a VM that is not a fleet's), whether it is meant to
 * run, its fleet, its deletion, and its readiness.
 */
export function imageVMFingerprint(vm: V1VirtualMachine): number {
  return digest([
    projectVM(vm).spec, vm.spec?.runStrategy ?? null, vm.spec?.running ?? null, vm.metadata?.labels?.[FLEET_LABEL] ?? null, vm.metadata?.deletionTimestamp ? 1 : 0,
    vm.status?.ready === true, conditionOf(vm.status?.conditions, 'Ready'),
  ]);
}

/** What it reads of a fleet VMI: the volumes it boots, its fleet, its deletion, phase and Ready condition. */
export function imageVMIFingerprint(vmi: V1VirtualMachineInstance): number {
  const volumes = (vmi.spec?.volumes ?? []).map((v) => v.containerDisk?.image ?? v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName ?? null);
  return digest([
    vmi.metadata?.labels?.[FLEET_LABEL] ?? null, vmi.metadata?.deletionTimestamp ? 1 : 0, vmi.status?.phase ?? null,
    conditionOf(vmi.status?.conditions, 'Ready'), volumes,
  ]);
}

/** What it reads of a fleet: the image and channel it boots, minReadySeconds, deletion, and a halted rollout (Stalled). */
export function imageFleetFingerprint(fleet: VMFleet): number {
  return digest([
    fleet.spec?.image ?? null, fleet.spec?.minReadySeconds ?? 0, fleet.metadata?.deletionTimestamp ? 1 : 0,
    conditionOf(fleet.status?.conditions, 'Stalled'),
  ]);
}

export class ImageVMChanges extends ChangeFilter<V1VirtualMachine> {
  constructor() {
    super(imageVMFingerprint);
  }
}

export class ImageVMIChanges extends ChangeFilter<V1VirtualMachineInstance> {
  constructor() {
    super(imageVMIFingerprint);
  }
}

export class ImageFleetChanges extends ChangeFilter<VMFleet> {
  constructor() {
    super(imageFleetFingerprint);
  }
}
