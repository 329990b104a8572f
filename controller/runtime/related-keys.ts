// The keys an object's event concerns, with the ones it concerned at its last event: an object
// that moves from one primary to another (a VM rolled onto another image, a fleet pointed at
// another image) concerns both, as controller-runtime's map handlers see the old and the new
// object of an update. Informer events carry only the new object, so the last keys are
// remembered per object, pruned on delete and when it concerns none.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventType } from './informer.ts';
import { keyOf } from './keys.ts';

export class RelatedKeys {
  private readonly last = new Map<string, readonly string[]>();

  /** `current` (the keys the object concerns now) with those of its last event, deduplicated. */
  keysFor(type: EventType, obj: KubernetesObject, current: readonly string[]): string[] {
    const key = keyOf(obj);
    const before = this.last.get(key) ?? [];
    if (type === 'delete' || current.length === 0) this.last.delete(key);
    else this.last.set(key, current);
    return [...new Set([...before, ...current])];
  }

  /** Objects remembered, bounded by the live ones that concern a key. */
  get size(): number {
    return this.last.size;
  }
}
