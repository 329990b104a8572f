// What a VMI's virt-launcher pod requests from its node.
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { parseQuantity } from '../../controller/core/quantity.ts';

export interface ResourceRequests {
  cpuMillis: number;
  memoryBytes: number;
}

/** KubeVirt: KubeVirt CR spec.configuration.developerConfiguration.cpuAllocationRatio default. */
export const CPU_ALLOCATION_RATIO = 10;

/**
 * A fixed stand-in for KubeVirt's computed virt-launcher memory overhead
 * (pkg/virt-controller/services/renderresources.go GetMemoryOverhead: virt-launcher, libvirt,
 * QEMU, page tables, video RAM, ...), which for a small VM is a few hundred MiB.
 */
export const LAUNCHER_MEMORY_OVERHEAD_BYTES = 256 * 1024 ** 2;

/** Rounds up like resource.Quantity.Value()/MilliValue(), tolerating binary-float noise. */
function ceilUnits(x: number): number {
  return Math.ceil(x - 1e-9);
}

/** The guest's vCPUs: cores × sockets × threads, each defaulting to 1 (KubeVirt's topology). */
export function vcpuCount(spec: V1VirtualMachineInstanceSpec): number {
  const cpu = spec.domain.cpu;
  return (cpu?.cores || 1) * (cpu?.sockets || 1) * (cpu?.threads || 1);
}

/**
 * What the virt-launcher pod of a VMI requests (KubeVirt: pkg/virt-controller/services/
 * renderresources.go):
 * - CPU: domain.resources.requests.cpu (or limits.cpu, which Kubernetes copies into requests);
 *   otherwise one full core per vCPU with dedicatedCpuPlacement, else vCPUs × 1000m divided by
 *   the CPU allocation ratio (10), i.e. 100m per vCPU.
 * - Memory: domain.resources.requests.memory (or limits.memory), otherwise domain.memory.guest;
 *   plus the launcher overhead unless resources.overcommitGuestOverhead is set.
 */
export function vmiRequests(spec: V1VirtualMachineInstanceSpec): ResourceRequests {
  const resources = spec.domain.resources;
  const explicitCpu = resources?.requests?.cpu ?? resources?.limits?.cpu;
  const cpuMillis =
    explicitCpu !== undefined
      ? ceilUnits(parseQuantity(explicitCpu) * 1000)
      : spec.domain.cpu?.dedicatedCpuPlacement
        ? vcpuCount(spec) * 1000
        : ceilUnits((vcpuCount(spec) * 1000) / CPU_ALLOCATION_RATIO);
  const memory = resources?.requests?.memory ?? resources?.limits?.memory ?? spec.domain.memory?.guest;
  const guestBytes = memory === undefined ? 0 : ceilUnits(parseQuantity(memory));
  const overhead = resources?.overcommitGuestOverhead ? 0 : LAUNCHER_MEMORY_OVERHEAD_BYTES;
  return { cpuMillis, memoryBytes: guestBytes + overhead };
}
