// The object metadata every shrunk cache keeps: identity, age, labels and owners. Annotations,
// managed fields and finalizers are left out; a cache whose readers need more keeps it itself.
import type { V1ObjectMeta } from '@kubernetes/client-node';

export function cachedMetadata(m: V1ObjectMeta | undefined): V1ObjectMeta {
  const meta = m ?? {};
  return {
    name: meta.name, namespace: meta.namespace, uid: meta.uid, resourceVersion: meta.resourceVersion, creationTimestamp: meta.creationTimestamp,
    ...(meta.deletionTimestamp ? { deletionTimestamp: meta.deletionTimestamp } : {}),
    ...(meta.labels ? { labels: meta.labels } : {}),
    ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}),
  };
}
