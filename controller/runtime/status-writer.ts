// Writes each object's status beside the reconcile loop rather than inside it, so a reconcile
// hands its status over and the key is free for the next event at once (in a rollout, the VM that
// turns ready while a status write is under way no longer waits for it). Per key one write is in
// flight at a time; a newer status waiting behind it replaces an older one (only the newest is
// worth sending); and the status last handed over stands in for the cache's until the cache
// shows it, so a reconcile that runs meanwhile neither writes the same status twice nor compares
// with one the object no longer has.

/** The cached object's identity and status, as the reconcile read it. */
export interface CachedStatus<S> {
  uid: string;
  status: S | undefined;
}

/** What a write and its follow-up are told of the object, besides its key. */
export interface Target<S, R> extends CachedStatus<S> {
  /** Whatever the caller needs to write (the object's reference, say); the newest one is used. */
  ref: R;
}

export interface StatusWriterOptions<S, R> {
  /** Sends the status of the object behind `key` (a merge patch of the status subresource, say). */
  write: (key: string, ref: R, status: S) => Promise<void>;
  /** Whether `next` says something `previous` does not (the write is skipped when not). */
  differs: (previous: S | undefined, next: S) => boolean;
  /** After a write: what changed from the status the object had before it (for Events). */
  written?: (key: string, ref: R, previous: S | undefined, next: S) => Promise<void>;
  /** A write failed: the key should be reconciled again, with backoff. */
  failed: (key: string, err: unknown) => void;
  /**
   * How long after its last write an entry may stand in for a cache that still shows something
   * else (default 30 s): by then the cache has long seen the write, so what it shows is someone
   * else's doing, and the next reconcile should answer it.
   */
  trustCacheAfterMs?: number;
  now?: () => number;
}

interface Entry<S, R> {
  uid: string;
  ref: R;
  /** The newest status handed over, sent or not. */
  latest: S;
  /** The status the object has in the API server as far as this writer knows. */
  stored: S | undefined;
  /** Handed over while a write was in flight, sent once it is done. */
  waiting: S | undefined;
  running: Promise<void> | undefined;
  /** When the last write ended. */
  doneAt: number;
  /** The object is gone: the entry goes when its write in flight ends. */
  forgotten: boolean;
}

export class StatusWriter<S, R> {
  private readonly entries = new Map<string, Entry<S, R>>();
  /** Every write loop under way, those of entries already replaced included (for drain). */
  private readonly running = new Set<Promise<void>>();

  private readonly o: StatusWriterOptions<S, R>;

  constructor(options: StatusWriterOptions<S, R>) {
    this.o = options;
  }

  /**
   * The object's status as the next reconcile should see it: the newest handed over while it is
   * not yet in the cache, else the cache's own. The entry goes once the cache shows what was
   * written (or the object was replaced), so the cache is the truth again when nothing is pending.
   */
  current(key: string, cached: CachedStatus<S>): S | undefined {
    const e = this.entries.get(key);
    if (!e) return cached.status;
    if (e.running) return e.uid === cached.uid ? e.latest : cached.status;
    const caughtUp = !this.o.differs(cached.status, e.latest) || this.now() - e.doneAt > this.trustCacheAfterMs;
    if (e.uid !== cached.uid || caughtUp) {
      this.entries.delete(key);
      return cached.status;
    }
    return e.latest;
  }

  /** Hands the status over; nothing goes out when it says nothing new. */
  submit(key: string, target: Target<S, R>, status: S): void {
    const cached = target;
    const previous = this.current(key, cached);
    if (!this.o.differs(previous, status)) return;
    let e = this.entries.get(key);
    if (!e || e.uid !== cached.uid) {
      // An entry of an object since replaced sends nothing more (its write in flight just ends).
      if (e) this.forget(key);
      e = { uid: cached.uid, ref: target.ref, latest: status, stored: cached.status, waiting: undefined, running: undefined, doneAt: 0, forgotten: false };
      this.entries.set(key, e);
    }
    e.ref = target.ref;
    e.latest = status;
    e.waiting = status;
    if (!e.running) {
      const run = this.run(key, e);
      e.running = run;
      this.running.add(run);
      void run.then(() => this.running.delete(run));
    }
  }

  private async run(key: string, e: Entry<S, R>): Promise<void> {
    try {
      while (e.waiting !== undefined) {
        const next = e.waiting;
        e.waiting = undefined;
        await this.o.write(key, e.ref, next);
        const before = e.stored;
        e.stored = next;
        await this.o.written?.(key, e.ref, before, next);
      }
    } catch (err) {
      // What the API server holds is unknown now: the cache is the truth again, and the key is retried.
      const current = !e.forgotten && this.entries.get(key) === e;
      e.forgotten = true;
      if (current) this.o.failed(key, err);
    } finally {
      e.running = undefined;
      e.doneAt = this.now();
      if (e.forgotten && this.entries.get(key) === e) this.entries.delete(key);
    }
  }

  /** Resolves once every write handed over so far is done (for a graceful stop). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.running.size === 0) return;
      await Promise.all(this.running);
    }
  }

  /** The object is gone: what was remembered of it goes too (a write in flight still finishes). */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.waiting = undefined;
    e.forgotten = true;
    if (!e.running) this.entries.delete(key);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private get trustCacheAfterMs(): number {
    return this.o.trustCacheAfterMs ?? 30_000;
  }

  get size(): number {
    return this.entries.size;
  }
}
