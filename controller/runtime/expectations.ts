// Expectations, as Kubernetes' ReplicaSet controller keeps them (pkg/controller/controller_utils.go):
// after a controller creates or deletes children for a key, it waits until its cache has seen
// each of those writes before planning creates or deletes again, so a stale cache never causes a
// duplicate create or a second delete. Expectations expire (5 minutes) so a lost event cannot
// wedge a key forever. Tracked by child name, which VirtFleet's deterministic names make exact.

export const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Pending {
  creates: Set<string>;
  deletes: Set<string>;
  since: number;
}

export class Expectations {
  private readonly byKey = new Map<string, Pending>();
  private readonly ttlMs: number;

  constructor(ttlMs = EXPECTATIONS_TTL_MS) {
    this.ttlMs = ttlMs;
  }

  /** Records children about to be created; call before the writes. */
  expectCreations(key: string, names: Iterable<string>, now: number): void {
    const p = this.pending(key, now);
    for (const n of names) p.creates.add(n);
  }

  expectDeletions(key: string, names: Iterable<string>, now: number): void {
    const p = this.pending(key, now);
    for (const n of names) p.deletes.add(n);
  }

  /** The cache showed the child (an add event); also call when a create failed, since it will never be seen. */
  creationObserved(key: string, name: string): void {
    this.byKey.get(key)?.creates.delete(name);
    this.prune(key);
  }

  /** The cache showed the child gone (a delete event), or the delete failed. */
  deletionObserved(key: string, name: string): void {
    this.byKey.get(key)?.deletes.delete(name);
    this.prune(key);
  }

  /** Whether the key's cache reflects every write made for it, or its expectations have expired. */
  satisfied(key: string, now: number): boolean {
    const p = this.byKey.get(key);
    if (!p) return true;
    if (now - p.since >= this.ttlMs) {
      this.byKey.delete(key);
      return true;
    }
    return p.creates.size === 0 && p.deletes.size === 0;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  private pending(key: string, now: number): Pending {
    let p = this.byKey.get(key);
    if (!p) {
      p = { creates: new Set(), deletes: new Set(), since: now };
      this.byKey.set(key, p);
    }
    p.since = now;
    return p;
  }

  private prune(key: string): void {
    const p = this.byKey.get(key);
    if (p && p.creates.size === 0 && p.deletes.size === 0) this.byKey.delete(key);
  }
}
