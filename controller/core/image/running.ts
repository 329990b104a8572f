// Which image version a fleet VM actually runs. A fleet updates a VM's spec onto a new version
// and then restarts it; until the restart, the instance (VMI) started from the old spec keeps
// running, Ready, on the old version. So a VM runs a version only when its spec boots it and its
// instance, if one runs, boots it too; and it is healthy on it only on such an instance, Ready for
// its fleet's minReadySeconds. Pure: the VM, its VMI and the time are inputs.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { FleetVM } from './rollback.ts';
import type { ImageRef, ImageSpec, RecordedVersion } from './types.ts';
import { countUsage, type DataSourcePointer } from './usage.ts';

export interface JudgeVMInput {
  image: ImageRef;
  spec: ImageSpec;
  version: RecordedVersion;
  vm: V1VirtualMachine;
  /** The VM's instance, if one exists. */
  vmi: V1VirtualMachineInstance | undefined;
  dataSources: readonly DataSourcePointer[];
  /** The fleet's minReadySeconds, in ms. */
  minReadyMs: number;
  /** Epoch ms. */
  now: number;
}

/** A fleet VM judged against one version, and when a Ready one waiting out minReadySeconds turns healthy (epoch ms). */
export interface JudgedVM extends FleetVM {
  healthyAt?: number;
}

const uses = (input: JudgeVMInput, vm: V1VirtualMachine): boolean =>
  (countUsage({ image: input.image, spec: input.spec, versions: [input.version], vms: [vm], dataSources: input.dataSources }).get(input.version.name) ?? 0) > 0;

/**
 * The instance's image volumes as a VM, so the usage count reads them: its volumes, and of the
 * VM's dataVolumeTemplates only the disks the instance mounts (a template renamed for a new
 * version leaves the old disk mounted under its old name, which is no version's disk).
 */
function instanceAsVM(vm: V1VirtualMachine, vmi: V1VirtualMachineInstance): V1VirtualMachine {
  const volumes = vmi.spec?.volumes ?? [];
  const mounted = new Set(volumes.map((v) => v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName).filter((n): n is string => n !== undefined));
  const templates = (vm.spec?.dataVolumeTemplates ?? []).filter((t) => t.metadata?.name !== undefined && mounted.has(t.metadata.name));
  return {
    metadata: { ...(vm.metadata?.namespace !== undefined ? { namespace: vm.metadata.namespace } : {}), ...(vm.metadata?.name !== undefined ? { name: vm.metadata.name } : {}) },
    spec: { ...(templates.length > 0 ? { dataVolumeTemplates: templates } : {}), template: { spec: { domain: { devices: {} }, volumes } } },
  };
}

interface Condition {
  type: string;
  status: string;
  lastTransitionTime?: string | Date | null;
}

/** The object's Ready condition is True; `since`: when it turned so (epoch ms), if it says. */
function readiness(conditions: unknown): { ready: boolean; since?: number } {
  const ready = (conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return { ready: false };
  const since = ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Number.NaN;
  return Number.isNaN(since) ? { ready: true } : { ready: true, since };
}

/**
 * Whether the VM asks for an instance: not with runStrategy Halted (a user's `virtctl stop`), nor
 * Manual (started only on request), nor the legacy `running: false`.
 */
function meantToRun(vm: V1VirtualMachine): boolean {
  const strategy = vm.spec?.runStrategy ?? (vm.spec?.running === false ? 'Halted' : 'Always');
  return strategy !== 'Halted' && strategy !== 'Manual';
}

/**
 * The VM judged against the version: whether its spec boots it, what its instance boots, and
 * whether it is Ready on that instance for minReadySeconds (the VM's status says Ready and its
 * instance is Running and Ready, both for that long: the VM's status lags its instance).
 */
export function judgeFleetVM(input: JudgeVMInput): JudgedVM {
  const { vm, vmi, minReadyMs, now } = input;
  const name = vm.metadata?.name ?? '';
  const specOnVersion = uses(input, vm);
  if (!vmi) return { name, specOnVersion, instance: 'none', ready: false, ...(meantToRun(vm) ? {} : { stopped: true }) };
  const instance = uses(input, instanceAsVM(vm, vmi)) ? 'onVersion' : 'other';
  const ofVM = readiness(vm.status?.conditions);
  const ofVMI = readiness(vmi.status?.conditions);
  const up = vm.status?.ready === true && ofVMI.ready && vmi.status?.phase === 'Running' && !vmi.metadata?.deletionTimestamp;
  if (!up) return { name, specOnVersion, instance, ready: false };
  if (minReadyMs <= 0) return { name, specOnVersion, instance, ready: true };
  const times = [ofVM.since, ofVMI.since].filter((t): t is number => t !== undefined);
  // Without a time to count from, a fleet with minReadySeconds cannot call it available either.
  if (times.length === 0) return { name, specOnVersion, instance, ready: false };
  const healthyAt = Math.max(...times) + minReadyMs;
  return now >= healthyAt ? { name, specOnVersion, instance, ready: true } : { name, specOnVersion, instance, ready: false, healthyAt };
}
