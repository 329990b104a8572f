// A work queue of keys with client-go's semantics: a key added many times is processed once, a
// key is never processed by two workers at once (re-adds while processing run again after
// done()), failures back off per key exponentially, and an overall token bucket limits retries.
// A key may also rest after done(): added meanwhile, it is handed out when its rest is over.

export interface WorkQueueOptions {
  /** First retry delay of a failing key (client-go: 5 ms). */
  baseDelayMs?: number;
  /** Longest retry delay of a failing key (client-go: 1000 s). */
  maxDelayMs?: number;
  /** Overall retry rate (client-go: 10 per second, burst 100). */
  qps?: number;
  burst?: number;
  now?: () => number;
}

/**
 * What a work queue reports as it goes, for metrics (client-go's MetricsProvider in miniature):
 * the queue knows nothing of Prometheus. Depth and the longest running key are read when
 * scraped (WorkQueue.length, longestRunningMs), not reported.
 */
export interface QueueObserver {
  /** A key entered the queue (not counted again while it waits or is already queued). */
  added(): void;
  /** A worker took a key after it waited this long. */
  started(waitedMs: number): void;
  /** A worker finished a key after this long. */
  finished(workedMs: number): void;
  /** A failed key was scheduled for a retry. */
  retried(): void;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  /** Keys resting after done(restMs), until their timer fires. */
  private readonly resting = new Map<K, NodeJS.Timeout>();
  /** Keys added urgently while being processed: done() lets them skip their rest. */
  private readonly urgentWhileProcessing = new Set<K>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  /** When each key entered the queue and when each key in processing was taken (both pruned as keys move on). */
  private readonly queuedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private observer: QueueObserver | undefined;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private tokensAt: number;
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    this.now = options.now ?? Date.now;
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  /** Reports to the observer from now on (set before the queue is used, by whoever runs it). */
  observe(observer: QueueObserver): void {
    this.observer = observer;
  }

  /** How long the longest-running key in processing has been at it (0 when none is). */
  longestRunningMs(): number {
    let oldest = Infinity;
    for (const at of this.startedAt.values()) oldest = Math.min(oldest, at);
    return oldest === Infinity ? 0 : Math.max(0, this.now() - oldest);
  }

  /** The keys being processed now, with how long each has been at it, the longest first. */
  running(): { key: K; ms: number }[] {
    const now = this.now();
    return [...this.startedAt].map(([key, at]) => ({ key, ms: Math.max(0, now - at) })).sort((a, b) => b.ms - a.ms);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting, being processed or scheduled for later. */
  get pending(): number {
    return this.dirty.size + this.processing.size + this.delayed.size;
  }

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.observer?.added();
    if (this.processing.has(key) || this.resting.has(key)) return; // queued again by done() or when its rest is over
    this.push(key);
  }

  /**
   * Adds the key and ends its rest, for a rare event a reaction is timed from (a node's placement
   * changed): pacing is for streams of routine events, not for the one that starts a repair.
   */
  addUrgent(key: K): void {
    if (this.processing.has(key) && !this.shuttingDown) this.urgentWhileProcessing.add(key);
    const timer = this.resting.get(key);
    if (timer !== undefined && !this.shuttingDown) {
      clearTimeout(timer);
      this.resting.delete(key);
      if (this.dirty.has(key)) return this.push(key);
    }
    this.add(key);
  }

  /** Hands a dirty key to a waiting worker, or queues it. */
  private push(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.take(key, this.now());
      waiter(key);
    } else {
      this.queuedAt.set(key, this.now());
      this.queue.push(key);
    }
  }

  /** Adds the key after a delay; an earlier pending delay for the key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** Retries a failed key after its per-key backoff and the overall rate limit, whichever is later. */
  addRateLimited(key: K): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.observer?.retried();
    const backoff = Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
    this.addAfter(key, Math.max(backoff, this.bucketDelay()));
  }

  /** Clears the key's failure count after a success. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  failureCount(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue shuts down (queued keys are dropped). */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.take(key, this.queuedAt.get(key) ?? this.now());
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Marks the key processed. With `restMs`, the key is not handed out again for that long: adds
   * meanwhile (and while it was processing) are kept and take effect when the rest is over.
   */
  done(key: K, restMs = 0): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.observer?.finished(this.now() - started);
    const urgent = this.urgentWhileProcessing.delete(key);
    if (restMs > 0 && !urgent && !this.shuttingDown) {
      const timer = setTimeout(() => {
        this.resting.delete(key);
        if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
      }, restMs);
      timer.unref?.();
      this.resting.set(key, timer);
      return;
    }
    // Added again while it was processing: counted by add() then, queued now.
    if (!this.dirty.has(key)) return;
    if (this.shuttingDown) this.dirty.delete(key);
    else this.push(key);
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const timer of this.resting.values()) clearTimeout(timer);
    this.resting.clear();
    this.urgentWhileProcessing.clear();
    this.queuedAt.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private take(key: K, queuedAt: number): void {
    const now = this.now();
    this.queuedAt.delete(key);
    this.processing.add(key);
    this.startedAt.set(key, now);
    this.observer?.started(now - queuedAt);
  }

  /** Token bucket: how long until a token is free, taking it. */
  private bucketDelay(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}

/**
 * Runs `workers` loops that take keys and hand them to the handler until the queue shuts down;
 * the handler may answer how long its key should rest (see done()).
 */
export async function runWorkers<K>(queue: WorkQueue<K>, workers: number, handle: (key: K) => Promise<number | void>): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      let restMs: number | void = 0;
      try {
        restMs = await handle(key);
      } finally {
        queue.done(key, restMs ?? 0);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
