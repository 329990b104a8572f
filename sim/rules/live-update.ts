// KubeVirt's LiveUpdate rollout of a running VM's template change: what is patched onto the VMI,
// what is hotplugged (and later realised by live migration), and what needs a restart.
// KubeVirt: pkg/virt-controller/watch/vm/vm.go syncRestartRequired, handleCPUChangeRequest,
// handleAffinityChangeRequest, handleTolerationsChangeRequest; pkg/liveupdate/memory.
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { DEFAULT_MAX_HOTPLUG_RATIO, dropDefaultedFields, PLACEMENT_FIELDS } from '../../controller/core/kubevirt-defaults.ts';
import { semanticEqual } from '../../controller/core/semantic.ts';
import { parseQuantity } from '../../controller/core/quantity.ts';

type Spec = V1VirtualMachineInstanceSpec;

/** A field set to null means "remove it from the VMI" (the template no longer has it). */
export interface PlacementPatch {
  nodeSelector?: Spec['nodeSelector'] | null;
  affinity?: Spec['affinity'] | null;
  tolerations?: Spec['tolerations'] | null;
}

export interface VmChange {
  placement?: PlacementPatch;
  hotVCPU?: { sockets: number };
  hotMemory?: { guest: string };
  restartRequired: boolean;
  restartReasons: string[];
}

/** KubeVirt's RestartRequired condition messages (the last one is VirtFleet's own wording). */
export const RestartReason = {
  NonLiveUpdatable: 'a non-live-updatable field was changed in the template spec',
  SocketsAboveMax: "CPU sockets updated in template spec to a value higher than what's available",
  SocketsReduced: 'Reduction of CPU socket count requires a restart',
  SocketsWithMultiQueue: 'Changes to CPU sockets require a restart when NetworkInterfaceMultiQueue is enabled',
  MemoryAboveMax: "memory updated in template spec to a value higher than what's available",
  MemoryReduced: 'memory updated in template spec to a value lower than what the VM started with',
  MemoryNotMigratable: 'memory hotplug is realised by live migration and the VMI is not live-migratable',
} as const;

function isHotplugVolumeName(spec: Spec, name: string): boolean {
  const v = spec.volumes?.find((vol) => vol.name === name);
  return !!(v?.persistentVolumeClaim?.hotpluggable || v?.dataVolume?.hotpluggable);
}

/**
 * A copy of `spec` without what the restart comparison skips: the live-updatable fields
 * (placement, cpu.sockets, memory.guest) and hotplugged volumes with their disks
 * (KubeVirt: validLiveUpdateVolumes / validLiveUpdateDisks). `hotplugNames` are the hotplugged
 * volume names on either side.
 */
function withoutLiveUpdatable(spec: Spec, hotplugNames: Set<string>): Spec {
  const copy = structuredClone(spec);
  for (const field of PLACEMENT_FIELDS) delete copy[field];
  if (copy.domain.cpu) delete copy.domain.cpu.sockets;
  if (copy.domain.memory) delete copy.domain.memory.guest;
  if (copy.volumes) copy.volumes = copy.volumes.filter((v) => !hotplugNames.has(v.name));
  if (copy.domain.devices.disks) copy.domain.devices.disks = copy.domain.devices.disks.filter((d) => !hotplugNames.has(d.name));
  return copy;
}

/** Drops from the running copy what KubeVirt defaulted and the template leaves unset. */
function withoutDefaults(running: Spec, desired: Spec): void {
  dropDefaultedFields(running, desired);
  for (const disk of running.domain.devices.disks ?? []) {
    const wanted = desired.domain.devices.disks?.find((d) => d.name === disk.name);
    if (!wanted) continue;
    // KubeVirt defaults a disk without a device type to `disk: {bus: virtio}`.
    if (!wanted.disk && !wanted.cdrom && !wanted.lun) delete disk.disk;
    else if (wanted.disk && !wanted.disk.bus && disk.disk) delete disk.disk.bus;
  }
  for (const volume of running.volumes ?? []) {
    const wanted = desired.volumes?.find((v) => v.name === volume.name);
    if (volume.containerDisk && wanted?.containerDisk && !wanted.containerDisk.imagePullPolicy) delete volume.containerDisk.imagePullPolicy;
  }
}

function bytes(q: string): number {
  return parseQuantity(q);
}

/**
 * How KubeVirt's LiveUpdate rollout strategy (the default since v1.6) treats the difference
 * between what a running VMI runs (`running`) and its VM's template spec now (`desired`):
 * - nodeSelector, affinity, tolerations: patched onto the VMI, no restart and no migration.
 * - cpu.sockets raised up to the VMI's maxSockets (default 4 × its sockets): hotVCPU, realised
 *   by live migration; raised beyond it, reduced, or with networkInterfaceMultiqueue: restart.
 * - memory.guest raised up to the VMI's maxGuest (default 4 × its guest) on a live-migratable VMI:
 *   hotMemory; lowered (this compares with the running guest, KubeVirt with the guest at boot),
 *   raised beyond maxGuest, or not migratable: restart.
 * - changes to hotpluggable volumes and their disks: no restart (hotplug, not modelled further).
 * - anything else (semantic deep equality): restart. Fields KubeVirt defaults on the VMI
 *   (see kubevirt-defaults.ts, a disk's default bus, a containerDisk's imagePullPolicy) are ignored when
 *   the template leaves them unset. A VMI spec has no status-like fields; VMI status is not read.
 * Once a restart is required nothing is propagated live: only restartRequired and the reasons are
 * returned. Interface/network hotplug, updateVolumesStrategy: Migration and instance types are not
 * modelled (they count as non-live-updatable changes).
 */
export function classifyVmChange(running: Spec, desired: Spec, liveMigratable: boolean): VmChange {
  const reasons: string[] = [];
  const change: VmChange = { restartRequired: false, restartReasons: reasons };

  // Placement: KubeVirt handleAffinityChangeRequest / handleTolerationsChangeRequest.
  const placement: PlacementPatch = {};
  for (const field of PLACEMENT_FIELDS) {
    if (!semanticEqual(running[field], desired[field])) (placement as Record<string, unknown>)[field] = desired[field] ?? null;
  }
  if (Object.keys(placement).length > 0) change.placement = placement;

  // CPU sockets: KubeVirt handleCPUChangeRequest.
  const runningSockets = running.domain.cpu?.sockets || 1;
  const desiredSockets = desired.domain.cpu?.sockets || 1;
  if (desiredSockets !== runningSockets) {
    const maxSockets = running.domain.cpu?.maxSockets || runningSockets * DEFAULT_MAX_HOTPLUG_RATIO;
    if (desiredSockets > maxSockets) reasons.push(RestartReason.SocketsAboveMax);
    else if (desiredSockets < runningSockets) reasons.push(RestartReason.SocketsReduced);
    else if (desired.domain.devices.networkInterfaceMultiqueue) reasons.push(RestartReason.SocketsWithMultiQueue);
    else change.hotVCPU = { sockets: desiredSockets };
  }

  // Guest memory: KubeVirt pkg/liveupdate/memory HandleLiveUpdate.
  const runningGuest = running.domain.memory?.guest;
  const desiredGuest = desired.domain.memory?.guest;
  if (desiredGuest !== undefined && runningGuest === undefined) {
    reasons.push(RestartReason.NonLiveUpdatable);
  } else if (desiredGuest !== undefined && runningGuest !== undefined && bytes(desiredGuest) !== bytes(runningGuest)) {
    const runningMaxGuest = running.domain.memory?.maxGuest;
    const maxGuest = runningMaxGuest !== undefined ? bytes(runningMaxGuest) : bytes(runningGuest) * DEFAULT_MAX_HOTPLUG_RATIO;
    if (bytes(desiredGuest) < bytes(runningGuest)) reasons.push(RestartReason.MemoryReduced);
    else if (bytes(desiredGuest) > maxGuest) reasons.push(RestartReason.MemoryAboveMax);
    else if (!liveMigratable) reasons.push(RestartReason.MemoryNotMigratable);
    else change.hotMemory = { guest: desiredGuest };
  }

  // Everything else: KubeVirt syncRestartRequired's semantic deep equality.
  const hotplugNames = new Set([...(running.volumes ?? []), ...(desired.volumes ?? [])].map((v) => v.name).filter((n) => isHotplugVolumeName(running, n) || isHotplugVolumeName(desired, n)));
  const runningRest = withoutLiveUpdatable(running, hotplugNames);
  const desiredRest = withoutLiveUpdatable(desired, hotplugNames);
  withoutDefaults(runningRest, desiredRest);
  if (!semanticEqual(runningRest, desiredRest) && !reasons.includes(RestartReason.NonLiveUpdatable)) reasons.unshift(RestartReason.NonLiveUpdatable);

  if (reasons.length > 0) return { restartRequired: true, restartReasons: reasons };
  return change;
}
