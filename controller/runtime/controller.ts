// The loop that runs a reconciler over keys (kube-rs' Controller, controller-runtime's manager in
// miniature): events of the primary kind, and of related kinds mapped to primary keys, enqueue
// `namespace/name` keys; workers reconcile each key level-triggered from the caches; errors retry
// with per-key backoff unless terminal; a result may ask to look again later; stop() lets the
// reconciles in flight finish, then stops the informers.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventType } from './informer.ts';
import { keyOf } from './keys.ts';
import { WorkQueue, runWorkers, type QueueObserver, type WorkQueueOptions } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile the key again after this long even without an event (for timed conditions). */
  requeueAfterMs?: number;
  /** How long the reconcile computed without yielding (its decision): paces the key's next reconcile. */
  busyMs?: number;
}

/**
 * A key whose reconcile computed for `busyMs` rests REST_PER_BUSY times as long (at most
 * MAX_REST_MS) before it is reconciled again: a fleet of thousands of VMs, with an event every few
 * milliseconds, would otherwise be reconciled back to back and hold a core, starving the API
 * server it depends on. Small keys (under MIN_PACED_BUSY_MS) never rest.
 */
export const REST_PER_BUSY = 2;
export const MAX_REST_MS = 2_000;
export const MIN_PACED_BUSY_MS = 5;
export const restAfter = (busyMs: number | undefined): number =>
  busyMs === undefined || busyMs < MIN_PACED_BUSY_MS ? 0 : Math.min(MAX_REST_MS, REST_PER_BUSY * busyMs);

/** controller-runtime's result label: an error, a result asking to look again later, or done. */
export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

/** What the loop reports of each reconcile, for metrics and debug logs. */
export interface ReconcileObserver {
  reconciled(controller: string, key: string, outcome: ReconcileOutcome, seconds: number, err?: unknown): void;
}

/** What a controller reports once instrumented (see Controller.instrument). */
export interface ControllerObservers {
  reconciles?: ReconcileObserver;
  queue?: QueueObserver;
}

/** What the loop needs of an informer (method syntax, so informers of any object type fit). */
export interface Source {
  on(handler: (type: EventType, obj: KubernetesObject) => void): void;
  list(): readonly KubernetesObject[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Related {
  informer: Source;
  /** The primary keys an event of this kind concerns (none for an event that cannot change a decision). */
  keysFor: (obj: KubernetesObject, type: EventType) => string[];
  /**
   * Reconcile the keys this long after the first event of a burst rather than at once, so a burst
   * (VMs created by the hundred) makes one reconcile per period, not one per event.
   */
  coalesceMs?: number;
  /** Its events end a key's rest (WorkQueue.addUrgent): rare ones that a reaction is timed from. */
  urgent?: boolean;
}

export interface ControllerOptions {
  primary: Source;
  /** Which events of the primary kind reconcile it (default all), as controller-runtime's predicates. */
  primaryChanged?: (type: EventType, obj: KubernetesObject) => boolean;
  related?: Related[];
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  workers?: number;
  queue?: WorkQueueOptions;
  /** Errors that retrying cannot fix (for example invalid input reported as Stalled). */
  isTerminal?: (err: unknown) => boolean;
  onError?: (key: string, err: unknown) => void;
  /** Reconcile every primary object this often even without events (0: never). */
  resyncMs?: number;
  /** Writes the reconciler sends beside the loop (status, say): stop() waits for them after the workers. */
  drain?: () => Promise<void>;
}

/** Maps a child to the key of its controlling owner of the given kind, as `Controller::owns` does. */
export function controllerOwnerKey(kind: string): (obj: KubernetesObject) => string[] {
  return (obj) => (obj.metadata?.ownerReferences ?? [])
    .filter((o) => o.controller && o.kind === kind)
    .map((o) => (obj.metadata?.namespace ? `${obj.metadata.namespace}/${o.name}` : o.name));
}

export class Controller {
  readonly queue: WorkQueue<string>;
  private readonly options: ControllerOptions;
  private workers: Promise<void> | undefined;
  private resync: NodeJS.Timeout | undefined;
  private name = 'controller';
  private observers: ControllerObservers = {};

  constructor(options: ControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue<string>(options.queue);
    const changed = options.primaryChanged;
    options.primary.on((type, obj) => (!changed || changed(type, obj)) && this.queue.add(keyOf(obj)));
    for (const r of options.related ?? []) {
      const enqueue = r.coalesceMs ? (k: string) => this.queue.addAfter(k, r.coalesceMs!) : r.urgent ? (k: string) => this.queue.addUrgent(k) : (k: string) => this.queue.add(k);
      r.informer.on((type, obj) => r.keysFor(obj, type).forEach(enqueue));
    }
  }

  /**
   * Names the controller and reports its reconciles and queue from now on; the manager calls it
   * with the name the controller was registered under, before start().
   */
  instrument(name: string, observers: ControllerObservers): void {
    this.name = name;
    this.observers = observers;
    if (observers.queue) this.queue.observe(observers.queue);
  }

  /** Starts the informers, waits for their caches, then starts the workers. */
  async start(): Promise<void> {
    await Promise.all([this.options.primary, ...(this.options.related ?? []).map((r) => r.informer)].map((i) => i.start()));
    this.workers = runWorkers(this.queue, this.options.workers ?? 4, (key) => this.process(key));
    if (this.options.resyncMs) {
      this.resync = setInterval(() => this.options.primary.list().forEach((obj) => this.queue.add(keyOf(obj))), this.options.resyncMs);
      this.resync.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.resync);
    this.queue.shutdown();
    await this.workers;
    await this.options.drain?.();
    await Promise.all([this.options.primary, ...(this.options.related ?? []).map((r) => r.informer)].map((i) => i.stop()));
  }

  /** Reconciles the key; answers how long it should rest (see restAfter). */
  private async process(key: string): Promise<number> {
    const started = performance.now();
    const report = (outcome: ReconcileOutcome, err?: unknown) =>
      this.observers.reconciles?.reconciled(this.name, key, outcome, (performance.now() - started) / 1000, err);
    try {
      const result = await this.options.reconcile(key);
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        report(result.requeueAfterMs > 0 ? 'requeue_after' : 'requeue');
      } else {
        report('success');
      }
      return restAfter(result?.busyMs);
    } catch (err) {
      report('error', err);
      this.options.onError?.(key, err);
      if (this.options.isTerminal?.(err)) this.queue.forget(key);
      else this.queue.addRateLimited(key);
      return 0;
    }
  }
}
