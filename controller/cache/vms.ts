// What the shared VM cache keeps of each VirtualMachine: every controller of the process reads
// VMs from one informer, so its transform keeps what any of them reads and nothing more.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { projectVM } from '../core/image/usage.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import type { Cache } from './cache.ts';
import { LabelIndex, ValueIndex, type Labelled } from './label-index.ts';

/**
 * Shrinks a cached VM: one no fleet controls to its identity (name, uid, labels, owners), which
 * tells the fleets whether it holds a name they would use, and its image references, which tell
 * the GoldenImage controller which versions it boots; a fleet's own keeps everything but the
 * fields of its managed-field entries.
 */
export function cachedVM(vm: V1VirtualMachine & KubernetesObject): void {
  const m = vm.metadata ?? {};
  const fleetOwned = m.labels?.[FLEET_LABEL] !== undefined && m.ownerReferences?.some((o) => o.controller && o.kind === 'VMFleet');
  if (fleetOwned) {
    if (m.managedFields) m.managedFields = m.managedFields.map((e) => ({ manager: e.manager, operation: e.operation, ...(e.subresource ? { subresource: e.subresource } : {}) }));
    return;
  }
  const refs = projectVM(vm).spec;
  vm.metadata = {
    name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp,
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}), ...(m.labels ? { labels: m.labels } : {}), ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
  };
  if (refs && (refs.dataVolumeTemplates || refs.template.spec?.volumes)) vm.spec = refs;
  else delete (vm as { spec?: unknown }).spec;
  delete vm.status;
}

/** The fleet-label index of each shared VM cache, kept from its events. */
const fleetIndexes = new WeakMap<object, LabelIndex>();

/**
 * The fleet whose VM name `name` would be (`<fleet>-<index>`, as vmName writes it, the index in
 * decimal without leading zeros), or undefined. Each name belongs to at most one fleet.
 */
export function fleetOfVMName(name: string): string | undefined {
  return /^(.+)-(?:0|[1-9]\d{0,14})$/.exec(name)?.[1];
}

/** The by-name index of each shared VM cache: VMs by the fleet their name would belong to. */
const nameIndexes = new WeakMap<object, ValueIndex>();

/**
 * The VM informer every controller of the process shares: all VMs in scope, foreign ones shrunk,
 * indexed by the fleet label (vmsLabelledFor) and by the fleet their name belongs to (vmsNamedFor).
 */
export function vmInformer(ctx: ManagerContext, namespace: string | undefined) {
  const informer = ctx.informer<V1VirtualMachine & KubernetesObject>(RESOURCES.vm, { namespace, transform: cachedVM });
  if (!fleetIndexes.has(informer)) {
    const index = new LabelIndex(FLEET_LABEL);
    informer.on((type, vm) => index.observe(type, vm));
    fleetIndexes.set(informer, index);
    const byName = new ValueIndex((vm) => fleetOfVMName(vm.metadata?.name ?? ''));
    informer.on((type, vm) => byName.observe(type, vm));
    nameIndexes.set(informer, byName);
  }
  return informer;
}

/**
 * The VMs of `namespace` carrying the fleet label of `fleet`, by one index lookup on a cache from
 * vmInformer; any other cache is scanned.
 */
export function vmsLabelledFor<T extends Labelled>(cache: Cache<T>, namespace: string, fleet: string): T[] {
  const index = fleetIndexes.get(cache);
  return index ? index.list(cache, namespace, fleet) : cache.list(namespace).filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === fleet);
}

/**
 * The VMs of `namespace` whose name is one of `fleet`'s (`<fleet>-<index>`), whoever owns them,
 * by one index lookup on a cache from vmInformer; any other cache is scanned.
 */
export function vmsNamedFor<T extends Labelled>(cache: Cache<T>, namespace: string, fleet: string): T[] {
  const index = nameIndexes.get(cache);
  return index ? index.list(cache, namespace, fleet) : cache.list(namespace).filter((vm) => fleetOfVMName(vm.metadata?.name ?? '') === fleet);
}
