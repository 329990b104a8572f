// The little a controller remembers per child beyond its caches (a restart it awaits, a revert it
// made, a refusal it backs off from), grouped by the owner's key so that nothing outlives either:
// an owner's reconcile keeps only the entries of children it still has, and an owner that is gone
// takes all of its entries with it. Memory stays bounded by the live objects, whatever the churn.

export class OwnerMemory<V> {
  private readonly byOwner = new Map<string, Map<string, V>>();

  get(owner: string, child: string): V | undefined {
    return this.byOwner.get(owner)?.get(child);
  }

  set(owner: string, child: string, value: V): void {
    let children = this.byOwner.get(owner);
    if (!children) this.byOwner.set(owner, (children = new Map()));
    children.set(child, value);
  }

  delete(owner: string, child: string): void {
    const children = this.byOwner.get(owner);
    if (!children) return;
    children.delete(child);
    if (children.size === 0) this.byOwner.delete(owner);
  }

  /** The owner's entries, for reading while it is reconciled. */
  entries(owner: string): [string, V][] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  /** Keeps only the entries for which `keep` holds (a child still in the cache, a recent time). */
  retain(owner: string, keep: (child: string, value: V) => boolean): void {
    const children = this.byOwner.get(owner);
    if (!children) return;
    for (const [child, value] of children) if (!keep(child, value)) children.delete(child);
    if (children.size === 0) this.byOwner.delete(owner);
  }

  /** The owner is gone: everything about its children goes too. */
  forget(owner: string): void {
    this.byOwner.delete(owner);
  }

  /** Entries held, over every owner. */
  get size(): number {
    let n = 0;
    for (const children of this.byOwner.values()) n += children.size;
    return n;
  }
}
