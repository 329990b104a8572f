// Work-queue keys: `namespace/name` for namespaced objects, `name` for cluster-scoped ones.
import type { KubernetesObject } from '@kubernetes/client-node';

export function keyOf(obj: KubernetesObject): string {
  return obj.metadata?.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : (obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
