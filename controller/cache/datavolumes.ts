// What the shared DataVolume cache keeps: the GoldenImage controller follows imports and sees
// clones reading a version; the fleet controller finds the image disks of earlier versions.
import type { DataVolume } from '../core/image/cdi.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ManagerContext } from '../runtime/manager.ts';

/** A DataVolume as cached: identity and age, labels, owners, its source, and what CDI reports. */
export function cachedDataVolume(dv: DataVolume): void {
  const m = dv.metadata ?? {};
  dv.metadata = {
    name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp,
    ...(m.labels ? { labels: m.labels } : {}), ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
  const spec = dv.spec ?? {};
  dv.spec = { ...(spec.source ? { source: spec.source } : {}), ...(spec.sourceRef ? { sourceRef: spec.sourceRef } : {}) };
}

/** The DataVolume informer the controllers of the process share: every DataVolume in scope. */
export const dataVolumeInformer = (ctx: ManagerContext, namespace: string | undefined) =>
  ctx.informer<DataVolume>(RESOURCES.dataVolume, { namespace, transform: cachedDataVolume });
