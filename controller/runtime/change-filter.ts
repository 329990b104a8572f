// Event filters that let through only events that change what a controller reads of an object:
// each remembers one fingerprint per object (pruned on delete) and says whether an event changed
// it, as controller-runtime's predicates do. Adds and deletes always pass.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventType } from './informer.ts';
import { keyOf } from './keys.ts';

export class ChangeFilter<T> {
  private readonly seen = new Map<string, string | number>();
  private readonly fingerprint: (obj: T) => string | number;

  constructor(fingerprint: (obj: T) => string | number) {
    this.fingerprint = fingerprint;
  }

  /** Whether the event changed the object's fingerprint (a delete always does). */
  changed = (type: EventType, obj: T): boolean => {
    const key = keyOf(obj as KubernetesObject);
    if (type === 'delete') {
      this.seen.delete(key);
      return true;
    }
    const fingerprint = this.fingerprint(obj);
    const before = this.seen.get(key);
    this.seen.set(key, fingerprint);
    return before !== fingerprint;
  };

  /** Objects remembered, bounded by the live ones. */
  get size(): number {
    return this.seen.size;
  }
}

/**
 * Passes only what changes the object's generation (its spec, or its deletion), as
 * controller-runtime's GenerationChangedPredicate: a controller's own status write does not
 * reconcile it again.
 */
export class GenerationChanges extends ChangeFilter<KubernetesObject> {
  constructor() {
    super((obj) => obj.metadata?.generation ?? 0);
  }
}
