// An index of a cache's objects by a value computed from each (one label's value, the fleet a
// VM's name belongs to), kept from the informer's events (the initial list and relists included),
// so "the VMs of fleet X" is one lookup instead of a scan of every VM of the namespace on every
// reconcile. It holds keys, not objects: a lookup returns what the cache holds now. Entries go
// with their object's delete event or a change of its value.
import type { Cache } from './cache.ts';

/** What the index reads of an object. */
export interface Labelled {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}

export class ValueIndex {
  /** namespace/value → names, in the order the objects first carried the value. */
  private readonly byValue = new Map<string, Set<string>>();
  /** namespace/name → the value it is indexed under. */
  private readonly valueOf = new Map<string, string>();

  private readonly valueOfObject: (obj: Labelled) => string | undefined;

  constructor(valueOf: (obj: Labelled) => string | undefined) {
    this.valueOfObject = valueOf;
  }

  observe(type: 'add' | 'update' | 'delete', obj: Labelled): void {
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const key = `${namespace}/${name}`;
    const value = type === 'delete' ? undefined : this.valueOfObject(obj);
    const old = this.valueOf.get(key);
    if (old === value) return;
    if (old !== undefined) {
      const bucket = `${namespace}/${old}`;
      const names = this.byValue.get(bucket);
      names?.delete(name);
      if (names?.size === 0) this.byValue.delete(bucket);
      this.valueOf.delete(key);
    }
    if (value !== undefined) {
      const bucket = `${namespace}/${value}`;
      let names = this.byValue.get(bucket);
      if (!names) this.byValue.set(bucket, (names = new Set()));
      names.add(name);
      this.valueOf.set(key, value);
    }
  }

  /** Names of the objects of `namespace` indexed under `value`. */
  names(namespace: string, value: string): string[] {
    return [...(this.byValue.get(`${namespace}/${value}`) ?? [])];
  }

  /** The cache's objects of `namespace` indexed under `value`. */
  list<T>(cache: Cache<T>, namespace: string, value: string): T[] {
    return this.names(namespace, value).flatMap((name) => cache.get(name, namespace) ?? []);
  }

  /** Objects indexed, bounded by the live objects that have a value. */
  get size(): number {
    return this.valueOf.size;
  }
}

/** The index by one label's value. */
export class LabelIndex extends ValueIndex {
  readonly label: string;

  constructor(label: string) {
    super((obj) => obj.metadata?.labels?.[label]);
    this.label = label;
  }
}
