// What the shared VMI cache keeps of each fleet VMI: exactly the fields the fleet controller
// reads (observe.ts, drift-view.ts, drift-repair.ts, decide.ts, the reconciler), so 10,000
// running VMIs cost their identity, placement, image volumes and a few status fields, not
// KubeVirt's whole status (interfaces, guest OS info, volume status, machine, QoS, ...).
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import { cachedMetadata } from './metadata.ts';

type VMI = V1VirtualMachineInstance & KubernetesObject;
type Volume = NonNullable<NonNullable<V1VirtualMachineInstance['spec']>['volumes']>[number];

/**
 * A volume as read: its name, and the image a containerDisk boots or the DataVolume / PVC it
 * mounts (which image version a VMI runs, which image disks it still holds); other sources keep
 * only their kind, so a cloud-init payload is not cached.
 */
function cachedVolume(v: Volume): Volume {
  const out: Record<string, unknown> = { name: v.name };
  for (const [source, value] of Object.entries(v)) {
    if (source === 'name') continue;
    if (source === 'containerDisk') out.containerDisk = { image: v.containerDisk?.image };
    else if (source === 'dataVolume') out.dataVolume = { name: v.dataVolume?.name };
    else if (source === 'persistentVolumeClaim') out.persistentVolumeClaim = { claimName: v.persistentVolumeClaim?.claimName };
    else if (value !== undefined) out[source] = {};
  }
  return out as unknown as Volume;
}

/** A condition without lastProbeTime, which KubeVirt may bump without any change. */
function withoutProbeTime<C extends object>(c: C): C {
  const { lastProbeTime: _probe, ...rest } = c as C & { lastProbeTime?: unknown };
  return rest as C;
}

/**
 * Shrinks a cached VMI to: identity, labels and owners; spec placement (nodeSelector, affinity,
 * tolerations: drift waits until KubeVirt copied the VM's onto the VMI) and volumes; status
 * phase, nodeName, conditions (Ready, LiveMigratable and the pending-live-update ones; the
 * messages are shown in status) and migrationState's uid, completed, failed, nodes and times.
 */
export function cachedVMI(vmi: VMI): void {
  vmi.metadata = cachedMetadata(vmi.metadata) as VMI['metadata'];
  const spec = vmi.spec;
  if (spec) {
    vmi.spec = {
      domain: {} as never,
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.affinity ? { affinity: spec.affinity } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      ...(spec.volumes ? { volumes: spec.volumes.map(cachedVolume) } : {}),
    };
  }
  const status = vmi.status;
  if (status) {
    const m = status.migrationState;
    vmi.status = {
      ...(status.phase ? { phase: status.phase } : {}),
      ...(status.nodeName ? { nodeName: status.nodeName } : {}),
      ...(status.conditions ? { conditions: status.conditions.map(withoutProbeTime) } : {}),
      ...(m
        ? {
            migrationState: {
              ...(m.migrationUid !== undefined ? { migrationUid: m.migrationUid } : {}),
              ...(m.completed !== undefined ? { completed: m.completed } : {}),
              ...(m.failed !== undefined ? { failed: m.failed } : {}),
              ...(m.sourceNode !== undefined ? { sourceNode: m.sourceNode } : {}),
              ...(m.targetNode !== undefined ? { targetNode: m.targetNode } : {}),
              ...(m.startTimestamp !== undefined ? { startTimestamp: m.startTimestamp } : {}),
              ...(m.endTimestamp !== undefined ? { endTimestamp: m.endTimestamp } : {}),
            },
          }
        : {}),
    };
  }
}

/** The fleet VMI informer of the process: VMIs carrying the fleet label, shrunk by cachedVMI. */
export const vmiInformer = (ctx: ManagerContext, namespace: string | undefined) =>
  ctx.informer<VMI>(RESOURCES.vmi, { namespace, labelSelector: FLEET_LABEL, transform: cachedVMI });
