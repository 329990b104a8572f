// The loop that runs a reconciler over keys (kube-rs' Controller, controller-runtime's manager in
// miniature): events of the primary kind, and of related kinds mapped to primary keys, enqueue
// `namespace/name` keys; workers reconcile each key level-triggered from the caches; errors retry
// with per-key backoff unless terminal; a result may ask to look again later; stop() lets the
// reconciles in flight finish, then stops the informers.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventType } from './informer.ts';
import { keyOf } from './keys.ts';
import { WorkQueue, runWorkers, type WorkQueueOptions } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile the key again after this long even without an event (for timed conditions). */
  requeueAfterMs?: number;
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
  /** The primary keys an event of this kind concerns. */
  keysFor: (obj: KubernetesObject) => string[];
}

export interface ControllerOptions {
  primary: Source;
  related?: Related[];
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  workers?: number;
  queue?: WorkQueueOptions;
  /** Errors that retrying cannot fix (for example invalid input reported as Stalled). */
  isTerminal?: (err: unknown) => boolean;
  onError?: (key: string, err: unknown) => void;
  /** Reconcile every primary object this often even without events (0: never). */
  resyncMs?: number;
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

  constructor(options: ControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue<string>(options.queue);
    options.primary.on((_type, obj) => this.queue.add(keyOf(obj)));
    for (const r of options.related ?? []) r.informer.on((_type, obj) => r.keysFor(obj).forEach((k) => this.queue.add(k)));
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
    await Promise.all([this.options.primary, ...(this.options.related ?? []).map((r) => r.informer)].map((i) => i.stop()));
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.options.reconcile(key);
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      this.options.onError?.(key, err);
      if (this.options.isTerminal?.(err)) this.queue.forget(key);
      else this.queue.addRateLimited(key);
    }
  }
}
