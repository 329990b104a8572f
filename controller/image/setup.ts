// Registers the GoldenImage controller with the manager: informers over images, DataVolumes (to
// follow imports and to see clones reading a version), the images' DataSources, and the VM
// informer the fleet controller shares; VM events are mapped to the images whose versions they
// name, through an index of images by repository and the DataVolumes' and DataSources' labels.
// The VMFleet informer (shared with the fleet controller) maps each fleet to the image it boots
// from, so a fleet's rollout halting reaches the image's rollback decision at once; the fleets'
// VMI informer (shared too) tells which version a fleet VM's running instance boots.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { dataVolumeInformer } from '../cache/datavolumes.ts';
import { ImageFleetChanges, ImageVMChanges, ImageVMIChanges } from '../cache/image-use-changes.ts';
import { vmiInformer } from '../cache/vmis.ts';
import { vmInformer } from '../cache/vms.ts';
import type { DataSource, DataVolume } from '../core/image/cdi.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { IMAGE_LABEL } from '../core/image/materialise.ts';
import { RESOURCES } from '../kube/resources.ts';
import { GenerationChanges } from '../runtime/change-filter.ts';
import { Controller, controllerOwnerKey } from '../runtime/controller.ts';
import { EventRecorder } from '../runtime/events.ts';
import { keyOf } from '../runtime/keys.ts';
import { RelatedKeys } from '../runtime/related-keys.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import { imagesReferencedBy, ImageReconciler } from './reconciler.ts';
import { DEFAULT_RETENTION_GUARD_NAMESPACE, RETENTION_GUARD_NAME, RetentionGuard, type RetentionGuardRef } from './retention-guard.ts';

export interface ImageControllerOptions {
  /** Watch and reconcile images of this namespace only (default: all namespaces). */
  namespace?: string | undefined;
  workers?: number;
  /** Reconcile every image this often without events (default 10 minutes). */
  resyncMs?: number;
  /** Per request to a registry or HTTP server (default 30 s). */
  sourceTimeoutMs?: number;
  /** The retention guard's ConfigMap (retention-guard.ts); false: retention goes unguarded. */
  retentionGuard?: RetentionGuardRef | false;
  onReconciler?: (reconciler: ImageReconciler) => void;
}

export function imageController(ctx: ManagerContext, o: ImageControllerOptions): Controller {
  const ns = o.namespace;
  const images = ctx.informer<GoldenImage & KubernetesObject>(RESOURCES.goldenImage, { namespace: ns });
  const dataVolumes = dataVolumeInformer(ctx, ns);
  const dataSources = ctx.informer<DataSource>(RESOURCES.dataSource, { namespace: ns, labelSelector: IMAGE_LABEL });
  const vms = vmInformer(ctx, ns);
  // Shared with the fleet controller: how the fleets on a channel fare decides automatic rollback.
  const fleets = ctx.informer<VMFleet & KubernetesObject>(RESOURCES.vmFleet, { namespace: ns });
  // Shared with the fleet controller too: a fleet VM runs a version only once its VMI boots it.
  const vmis = vmiInformer(ctx, ns);
  const events = new EventRecorder(ctx.client, ctx.identity, (err) => ctx.log.error('event not recorded', { error: String(err) }));
  const reconciler = new ImageReconciler({
    client: ctx.client,
    caches: { images, dataVolumes, dataSources, vms, fleets, vmis },
    events,
    log: ctx.log,
    namespace: ns,
    ...(o.sourceTimeoutMs !== undefined ? { sourceTimeoutMs: o.sourceTimeoutMs } : {}),
    ...(o.retentionGuard !== false ? { retentionGuard: new RetentionGuard(ctx.client, o.retentionGuard ?? { namespace: DEFAULT_RETENTION_GUARD_NAMESPACE, name: RETENTION_GUARD_NAME }, ctx.log) } : {}),
  });
  o.onReconciler?.(reconciler);
  // A new term clears what the last one may have left held (its process stopped mid-deletion).
  void reconciler.prepareGuard();

  // Images by registry repository, so a VM event finds the images its containerDisks name.
  const byRepository = new Map<string, Set<string>>();
  const repositoryOf = new Map<string, string>();
  images.on((type, image) => {
    const key = keyOf(image);
    const old = repositoryOf.get(key);
    const repository = type === 'delete' ? undefined : image.spec.source.registry?.repository;
    if (old === repository) return;
    if (old !== undefined) {
      byRepository.get(old)?.delete(key);
      if (byRepository.get(old)?.size === 0) byRepository.delete(old);
      repositoryOf.delete(key);
    }
    if (repository !== undefined) {
      let keys = byRepository.get(repository);
      if (!keys) byRepository.set(repository, (keys = new Set()));
      keys.add(key);
      repositoryOf.set(key, repository);
    }
  });
  const imagesOfRepository = (repository: string) => [...(byRepository.get(repository) ?? [])];
  const ownerKey = controllerOwnerKey('GoldenImage');
  // A clone of one of our versions' PVCs protects it from retention while it reads.
  const imagesOfDataVolume = (dv: KubernetesObject) => {
    const keys = new Set(ownerKey(dv));
    const source = (dv as DataVolume).spec?.source?.pvc;
    if (source) {
      const namespace = source.namespace ?? dv.metadata?.namespace ?? '';
      const owner = dataVolumes.get(source.name, namespace)?.metadata?.labels?.[IMAGE_LABEL];
      if (owner) keys.add(`${namespace}/${owner}`);
    }
    return [...keys];
  };
  // Only events that change what an image's decision reads (not a migration's progress, a drift annotation or a fleet's status).
  const [fleetChanges, vmChanges, vmiChanges] = [new ImageFleetChanges(), new ImageVMChanges(), new ImageVMIChanges()];
  // A VM rolled onto another image, or a fleet pointed at another, also changes the usage of the one it left.
  const [imagesOfFleet, imagesOfVM] = [new RelatedKeys(), new RelatedKeys()];
  return new Controller({
    primary: images,
    // Its own status writes do not take the image up again (the related events and polls do).
    primaryChanged: new GenerationChanges().changed,
    related: [
      { informer: dataVolumes, keysFor: imagesOfDataVolume },
      { informer: dataSources, keysFor: ownerKey },
      { informer: fleets, keysFor: (fleet, type) => (fleetChanges.changed(type, fleet as VMFleet) ? imagesOfFleet.keysFor(type, fleet, imageKeyOfFleet(fleet as VMFleet)) : []) },
      // VMs and VMIs change an image's usage and health counts: a scale-out or a rollout moves
      // hundreds at once, and a count a second old is fresh enough for status and gates.
      { informer: vms, keysFor: (vm, type) => (vmChanges.changed(type, vm as V1VirtualMachine) ? imagesOfVM.keysFor(type, vm, imagesReferencedBy(vm as V1VirtualMachine, imagesOfRepository, dataVolumes, dataSources)) : []), coalesceMs: USAGE_COALESCE_MS },
      // A fleet VM's new VMI starting (or failing) on a version: the image its fleet boots.
      { informer: vmis, keysFor: (vmi, type) => (vmiChanges.changed(type, vmi as V1VirtualMachineInstance) ? imageKeyOfFleet(fleets.get(vmi.metadata?.labels?.[FLEET_LABEL] ?? '', vmi.metadata?.namespace)) : []), coalesceMs: USAGE_COALESCE_MS },
    ],
    reconcile: (key) => reconciler.reconcile(key),
    workers: o.workers ?? 2,
    resyncMs: o.resyncMs ?? 10 * 60_000,
    onError: (key, err) => ctx.log.error('reconcile failed; retrying', { goldenImage: key, error: String(err) }),
  });
}

/** How long VM and VMI events wait to be taken up together by the image they concern. */
const USAGE_COALESCE_MS = 1_000;

/** The GoldenImage a fleet boots from, as a key (its namespace defaults to the fleet's). */
function imageKeyOfFleet(fleet: VMFleet | undefined): string[] {
  const image = fleet?.spec?.image;
  return image?.name ? [`${image.namespace ?? fleet?.metadata?.namespace ?? ''}/${image.name}`] : [];
}
