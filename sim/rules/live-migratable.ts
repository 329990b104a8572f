// KubeVirt's LiveMigratable VMI condition, computed from the VMI spec and its claims.
// KubeVirt: pkg/virt-handler/vm.go calculateLiveMigrationCondition (evaluateCommonMigrationConstraints,
// then checkVolumesForMigration); the first reason found wins.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';

/** KubeVirt: staging/src/kubevirt.io/api/core/v1/types.go VirtualMachineInstanceReason*NotMigratable. */
export const NotMigratableReason = {
  Disks: 'DisksNotLiveMigratable',
  Interface: 'InterfaceNotLiveMigratable',
  CPUMode: 'CPUModeLiveMigratable',
  HostDevice: 'HostDeviceNotLiveMigratable',
  SEV: 'SEVNotLiveMigratable',
  HypervPassthrough: 'HypervPassthroughNotLiveMigratable',
  /** No longer reported since KubeVirt v1.5 (virtiofs migrates); kept for reading old objects. */
  VirtIOFS: 'VirtIOFSNotLiveMigratable',
} as const;

/** KubeVirt: v1.AllowPodBridgeNetworkLiveMigrationAnnotation. */
export const ALLOW_POD_BRIDGE_NETWORK_LIVE_MIGRATION_ANNOTATION = 'kubevirt.io/allow-pod-bridge-network-live-migration';

export interface LiveMigratableCondition {
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}

export interface LiveMigratableOptions {
  /** The VMI's annotations (for the pod-bridge live-migration opt-in). */
  annotations?: Record<string, string>;
  /** Whether the VMI's node reports a host CPU model; KubeVirt refuses host-model otherwise. Default true. */
  nodeHasHostCPUModel?: boolean;
  /** Network binding plugins the cluster declares with `migration` set. */
  migratableBindingPlugins?: string[];
}

const SHARED_PVC_HINT = 'live migration requires that all PVCs must be shared (using ReadWriteMany access mode)';

function notMigratable(reason: string, message: string): LiveMigratableCondition {
  return { status: 'False', reason, message };
}

/**
 * KubeVirt: pkg/network/vmispec VerifyVMIMigratable — the pod network's interface must use
 * masquerade, bridge with the opt-in annotation, or a binding plugin declared migratable.
 * Interfaces on other (multus) networks do not matter; no pod network or no interfaces is fine.
 */
function interfaceProblem(spec: V1VirtualMachineInstanceSpec, options: LiveMigratableOptions): string | undefined {
  const interfaces = spec.domain.devices.interfaces ?? [];
  if (interfaces.length === 0) return undefined;
  const podNetwork = (spec.networks ?? []).find((n) => n.pod !== undefined);
  const podInterface = podNetwork && interfaces.find((i) => i.name === podNetwork.name);
  if (!podInterface) return undefined;
  if (podInterface.masquerade !== undefined) return undefined;
  if (podInterface.bridge !== undefined && options.annotations?.[ALLOW_POD_BRIDGE_NETWORK_LIVE_MIGRATION_ANNOTATION] !== undefined) return undefined;
  if (podInterface.binding && (options.migratableBindingPlugins ?? []).includes(podInterface.binding.name)) return undefined;
  return `cannot migrate VMI which does not use masquerade, bridge with ${ALLOW_POD_BRIDGE_NETWORK_LIVE_MIGRATION_ANNOTATION} VM annotation or a migratable plugin to connect to the pod network`;
}

/**
 * KubeVirt: pkg/virt-handler/vm.go checkVolumesForMigration — PVC and DataVolume volumes need a
 * ReadWriteMany claim (a DataVolume's PVC has the DataVolume's name); a hostDisk must be shared.
 * Every other volume type (containerDisk, cloudInit*, configMap, secret, serviceAccount,
 * emptyDisk, downwardAPI, ...) is copied or recreated on the target.
 */
function volumeProblem(spec: V1VirtualMachineInstanceSpec, pvcs: Map<string, V1PersistentVolumeClaim>): string | undefined {
  for (const volume of spec.volumes ?? []) {
    const claimName = volume.persistentVolumeClaim?.claimName ?? volume.dataVolume?.name;
    if (claimName !== undefined) {
      const pvc = pvcs.get(claimName);
      if (!pvc) return `cannot migrate VMI: Unable to determine if PVC ${claimName} is shared, ${SHARED_PVC_HINT}`;
      const accessModes = pvc.spec?.accessModes ?? pvc.status?.accessModes ?? [];
      if (!accessModes.includes('ReadWriteMany')) return `cannot migrate VMI: PVC ${claimName} is not shared, ${SHARED_PVC_HINT}`;
    } else if (volume.hostDisk && !volume.hostDisk.shared) {
      return 'cannot migrate VMI with non-shared HostDisk';
    }
  }
  return undefined;
}

/**
 * The LiveMigratable condition KubeVirt (around v1.9) reports for a VMI with this spec, checked in
 * KubeVirt's order: pod-network interface, host-model CPU on a node without a host CPU model,
 * PCI host devices or GPUs, SEV/SEV-SNP, Hyper-V passthrough, then volumes. host-passthrough CPUs,
 * virtiofs filesystems, hotplugged volumes and SCSI persistent reservations do not block live
 * migration in v1.9. The spec is read as stored: KubeVirt's defaulting (e.g. a default pod
 * interface) must already be applied.
 */
export function liveMigratableCondition(
  spec: V1VirtualMachineInstanceSpec,
  pvcs: Map<string, V1PersistentVolumeClaim>,
  options: LiveMigratableOptions = {},
): LiveMigratableCondition {
  const iface = interfaceProblem(spec, options);
  if (iface) return notMigratable(NotMigratableReason.Interface, iface);

  if (spec.domain.cpu?.model === 'host-model' && options.nodeHasHostCPUModel === false) {
    return notMigratable(NotMigratableReason.CPUMode, 'the node does not allow migration with host-model');
  }

  const devices = spec.domain.devices;
  if ((devices.hostDevices?.length ?? 0) > 0 || (devices.gpus?.length ?? 0) > 0) {
    return notMigratable(NotMigratableReason.HostDevice, 'VMI uses a PCI host devices');
  }

  const launchSecurity = spec.domain.launchSecurity;
  if (launchSecurity?.sev !== undefined || launchSecurity?.snp !== undefined) {
    return notMigratable(NotMigratableReason.SEV, 'VMI uses SEV');
  }

  if (spec.domain.features?.hypervPassthrough?.enabled) {
    return notMigratable(NotMigratableReason.HypervPassthrough, 'VMI uses hyperv passthrough');
  }

  const volume = volumeProblem(spec, pvcs);
  if (volume) return notMigratable(NotMigratableReason.Disks, volume);

  return { status: 'True' };
}
