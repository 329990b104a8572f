// The simulated virt-controller for VirtualMachines (KubeVirt pkg/virt-controller/watch/vm):
// starts and stops VMIs per runStrategy, creates the DataVolumes of dataVolumeTemplates, applies
// the LiveUpdate rules to a running VMI, backs off crash-looping starts, and reports status.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { ApiError } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import { isTrue, type KvCondition } from '../conditions.ts';
import type { SimContext } from '../context.ts';
import { classifyVmChange } from '../rules/live-update.ts';
import { isFinished } from '../vmi/lifecycle.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import type { DataVolume } from '../world.ts';
import { changedBy } from '../merge-patch.ts';
import { vmStatus, type StartFailure } from './status.ts';
import { runStrategyOf, vmiFromVM, VM_GENERATION_ANNOTATION } from './vmi-from-vm.ts';

/** KubeVirt's VM finalizer: the VM controller stops the VMI before the VM goes. */
export const VM_FINALIZER = 'kubevirt.io/virtualMachineControllerFinalize';
/** KubeVirt's start-failure backoff: 10 s doubling per consecutive failure, at most 5 minutes. */
const START_BACKOFF_BASE_SIM_MS = 10_000;
const START_BACKOFF_MAX_SIM_MS = 300_000;

export async function reconcileVM(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const vm = ctx.world.vms.get(namespace, name);
  if (!vm) return;
  const vmi = ctx.world.vmis.get(namespace, name);
  if (vm.metadata?.deletionTimestamp) return finalize(ctx, vm, vmi);
  const finalizers = vm.metadata?.finalizers ?? [];
  if (!finalizers.includes(VM_FINALIZER)) {
    await ctx.client.mergePatch(RESOURCES.vm, { namespace, name }, { metadata: { resourceVersion: vm.metadata?.resourceVersion, finalizers: [...finalizers, VM_FINALIZER] } });
    return;
  }

  const dataVolumes = await ensureDataVolumes(ctx, vm);
  const now = ctx.clock.iso();
  const strategy = runStrategyOf(vm);
  let startFailure = vm.status?.startFailure as StartFailure | undefined;
  let restartRequired = false;

  if (vmi && !vmi.metadata?.deletionTimestamp) {
    if (isFinished(vmi)) {
      startFailure = recordStartFailure(ctx, vmi, startFailure);
      const rerun = strategy === 'Always' || (strategy === 'RerunOnFailure' && vmi.status?.phase === 'Failed');
      if (rerun) await ctx.client.delete(RESOURCES.vmi, { namespace, name }, { uid: vmi.metadata?.uid });
    } else if (strategy === 'Halted') {
      await ctx.client.delete(RESOURCES.vmi, { namespace, name }, { uid: vmi.metadata?.uid });
    } else {
      if (vmi.status?.phase === 'Running') startFailure = undefined;
      restartRequired = await liveUpdate(ctx, vm, vmi);
    }
  } else if (!vmi && strategy !== 'Halted' && strategy !== 'Manual') {
    const retryIn = startFailure?.retryAfterTimestamp ? ctx.clock.now() < Date.parse(startFailure.retryAfterTimestamp) : false;
    const volumesReady = dataVolumes.every((dv) => dv.status?.phase === 'Succeeded');
    if (retryIn) {
      ctx.enqueue('vm', key, Date.parse(startFailure!.retryAfterTimestamp!) - ctx.clock.now());
    } else if (volumesReady) {
      try {
        await ctx.client.create(RESOURCES.vmi, vmiFromVM(vm));
      } catch (err) {
        if (!(err instanceof ApiError && err.alreadyExists)) throw err;
      }
    }
  }

  const status = vmStatus({ vm, vmi, dataVolumes, restartRequired, startFailure, now });
  const current = vm.status ?? {};
  const patch = { ...status, startFailure: status.startFailure ?? null };
  if (changedBy(current, patch)) {
    await ctx.client.mergePatch(RESOURCES.vm, { namespace, name }, { status: patch }, 'status');
  }
}

/** Counts a VMI that failed before it ever ran, once per VMI, and sets when to try again. */
function recordStartFailure(ctx: SimContext, vmi: V1VirtualMachineInstance, previous: StartFailure | undefined): StartFailure | undefined {
  const ranBefore = (vmi.status?.phaseTransitionTimestamps ?? []).some((t) => t.phase === 'Running');
  if (vmi.status?.phase !== 'Failed' || ranBefore) return previous;
  if (previous?.lastFailedVMIUID === vmi.metadata?.uid) return previous;
  const count = (previous?.consecutiveFailCount ?? 0) + 1;
  const backoff = Math.min(START_BACKOFF_BASE_SIM_MS * 2 ** (count - 1), START_BACKOFF_MAX_SIM_MS);
  const retryAt = new Date(ctx.clock.now() + ctx.clock.real(backoff)).toISOString();
  return { consecutiveFailCount: count, lastFailedVMIUID: vmi.metadata?.uid, retryAfterTimestamp: retryAt };
}

/**
 * KubeVirt's LiveUpdate rollout strategy: placement changes are patched onto the running VMI,
 * CPU sockets and guest memory within their maxima are hotplugged (HotVCPUChange/HotMemoryChange,
 * realised by a migration), anything else sets RestartRequired and stops further propagation.
 * Returns whether a restart is required.
 */
async function liveUpdate(ctx: SimContext, vm: V1VirtualMachine, vmi: V1VirtualMachineInstance): Promise<boolean> {
  const generation = String(vm.metadata?.generation ?? 1);
  const vmiGeneration = vmi.metadata?.annotations?.[VM_GENERATION_ANNOTATION];
  if (vmiGeneration === generation || vmi.status?.phase !== 'Running') return isTrue(vm.status?.conditions as KvCondition[] | undefined, 'RestartRequired') && vmiGeneration !== generation;
  if (isTrue(vm.status?.conditions as KvCondition[] | undefined, 'RestartRequired')) return true;
  const migratable = isTrue(vmi.status?.conditions as KvCondition[] | undefined, 'LiveMigratable');
  const change = classifyVmChange(vmi.spec, vm.spec.template!.spec!, migratable);
  if (change.restartRequired) return true;
  const spec = structuredClone(vmi.spec);
  const conditions = [...((vmi.status?.conditions ?? []) as KvCondition[])];
  const now = ctx.clock.iso();
  if (change.placement) {
    // Patched onto the VMI without moving it: "will only take effect on next migration".
    for (const field of ['nodeSelector', 'affinity', 'tolerations'] as const) {
      const value = change.placement[field];
      if (value === undefined) delete spec[field];
      else (spec as unknown as Record<string, unknown>)[field] = value;
    }
  }
  if (change.hotVCPU) {
    spec.domain.cpu = { ...spec.domain.cpu, sockets: change.hotVCPU.sockets };
    conditions.push({ type: 'HotVCPUChange', status: 'True', lastTransitionTime: now, lastProbeTime: null });
  }
  if (change.hotMemory) {
    spec.domain.memory = { ...spec.domain.memory, guest: change.hotMemory.guest };
    conditions.push({ type: 'HotMemoryChange', status: 'True', lastTransitionTime: now, lastProbeTime: null });
  }
  const unique = conditions.filter((c, i) => conditions.findLastIndex((d) => d.type === c.type) === i);
  await ctx.client.mergePatch(RESOURCES.vmi, { namespace: vmi.metadata?.namespace, name: vmi.metadata!.name! }, {
    metadata: { resourceVersion: vmi.metadata?.resourceVersion, annotations: { [VM_GENERATION_ANNOTATION]: generation } },
    spec,
    status: { conditions: unique },
  });
  return false;
}

async function ensureDataVolumes(ctx: SimContext, vm: V1VirtualMachine): Promise<DataVolume[]> {
  const namespace = vm.metadata?.namespace;
  const out: DataVolume[] = [];
  for (const template of vm.spec.dataVolumeTemplates ?? []) {
    const name = template.metadata?.name;
    if (!name) continue;
    const existing = ctx.world.dataVolumes.get(namespace, name);
    if (existing) {
      out.push(existing);
      continue;
    }
    const dv: DataVolume = {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: {
        name,
        namespace,
        labels: template.metadata?.labels,
        annotations: template.metadata?.annotations,
        ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm.metadata!.name!, uid: vm.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(template.spec) as DataVolume['spec'],
    };
    try {
      out.push(await ctx.client.create(RESOURCES.dataVolume, dv));
    } catch (err) {
      if (!(err instanceof ApiError && err.alreadyExists)) throw err;
    }
  }
  return out;
}

async function finalize(ctx: SimContext, vm: V1VirtualMachine, vmi: V1VirtualMachineInstance | undefined): Promise<void> {
  const { namespace, name } = { namespace: vm.metadata?.namespace, name: vm.metadata!.name! };
  if (vmi) {
    if (!vmi.metadata?.deletionTimestamp) await ctx.client.delete(RESOURCES.vmi, { namespace, name }, { uid: vmi.metadata?.uid });
    return; // the VMI's deletion requeues the VM
  }
  const finalizers = vm.metadata?.finalizers ?? [];
  if (!finalizers.includes(VM_FINALIZER)) return;
  await ctx.client.jsonPatch(RESOURCES.vm, { namespace, name }, [
    { op: 'test', path: '/metadata/resourceVersion', value: vm.metadata?.resourceVersion },
    { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== VM_FINALIZER) },
  ]);
}
