// An informer (list, then watch from the list's resourceVersion) that a long-running controller can
// rely on under faults: managed fields are stripped before anything is cached; a watch that ends
// is resumed from the last resourceVersion seen, one that fails is retried with backoff, one the
// API server answers 410 Gone is replaced by a fresh list (deletions missed meanwhile are emitted),
// and a watch that goes silent is restarted by a watchdog.
//
// Exactly one watch feeds the cache at a time: every (re)start opens a new generation and aborts
// the watch of the one before, whether or not the API server answered it yet; events or endings
// of an earlier generation's watch are ignored. (With client-node's Watch, which can only be
// aborted once answered, a watch restarted while its request hung stayed open beside its
// successor, and one that timed out on its own after 30 quiet seconds counted as a failure.)
//
// A handler that throws is reported (onHandlerError) and the other handlers still see the event:
// a cache index and the controller's enqueue are separate handlers, and one failing must not
// silently keep the other from an event.
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { KubeConfigLike } from '../kube/kubeconfig.ts';
import { KubeHttp } from '../kube/http.ts';
import { streamWatch, type WatchEvent, type WatchRequest } from '../kube/watch-stream.ts';

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (type: EventType, obj: T) => void;
/** Streams one watch's events until it ends (see kube/watch-stream.ts). */
export type WatchFn<T> = (request: WatchRequest, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal) => Promise<void>;

export interface InformerOptions<T extends KubernetesObject> {
  /** The collection's path, for example /apis/kubevirt.io/v1/virtualmachineinstances. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /**
   * Restart the watch after this long without any event (default: the environment's
   * VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS, else 5 minutes).
   */
  silenceTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onError?: (err: unknown) => void;
  /** A handler threw on an event (the other handlers still got it). Default: printed to stderr. */
  onHandlerError?: (err: unknown, type: EventType, obj: T) => void;
  /** How watches are opened (default: a stream over a client of the kubeconfig with no rate limit). */
  watch?: WatchFn<T>;
  /**
   * Shrinks each object in place before it is cached, so the cache holds only what the controllers
   * read; it replaces the default, which strips managedFields.
   */
  transform?: (obj: T) => void;
}

/** The API server ends each watch after 5 to 10 minutes, picked at random as client-go does, so watches of many informers do not all end at once. */
function watchTimeoutSeconds(): number {
  return Math.round(300 * (1 + Math.random()));
}

/** The default silence timeout: 5 minutes, or VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS when set (fault tests shorten it). */
export function defaultSilenceTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS);
  return Number.isFinite(ms) && ms >= 1_000 ? ms : 5 * 60_000;
}

export function stripManagedFields<T extends KubernetesObject>(obj: T): void {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
}

export class Informer<T extends KubernetesObject> {
  private readonly kc: KubeConfigLike;
  private readonly handlers: Handler<T>[] = [];
  private readonly options: InformerOptions<T>;
  private readonly shrink: (obj: T) => void;
  private readonly watch: WatchFn<T>;
  private client: KubeHttp | undefined;
  /** namespace ('' for cluster-scoped) → name → object. */
  private objects = new Map<string, Map<string, T>>();
  private resourceVersion = '';
  private generation = 0;
  private abortWatch: (() => void) | undefined;
  private synced = false;
  private stopped = true;
  private backoffMs: number;
  private lastEventAt = Date.now();
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];

  constructor(kc: KubeConfigLike, options: InformerOptions<T>) {
    this.kc = kc;
    this.options = options;
    this.backoffMs = options.minBackoffMs ?? 500;
    this.shrink = options.transform ?? stripManagedFields;
    this.watch = options.watch ?? ((request, onEvent, signal) => streamWatch(this.defaultClient(), request, onEvent, signal));
  }

  private defaultClient(): KubeHttp {
    this.client ??= new KubeHttp(this.kc, { qps: 0 });
    return this.client;
  }

  /** Registers a handler of every add, update and delete (including those of the initial list). */
  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? '')?.get(name);
  }

  list(namespace?: string): readonly T[] {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    return [...this.objects.values()].flatMap((m) => [...m.values()]);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts listing and watching; resolves once the first list has been cached. */
  async start(): Promise<void> {
    this.stopped = false;
    const silence = this.options.silenceTimeoutMs ?? defaultSilenceTimeoutMs();
    // Checked a few times per period, so a silent watch is restarted within about 1.25 periods.
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastEventAt > silence) this.restart();
    }, Math.min(silence / 4, 30_000));
    this.watchdog.unref();
    const synced = new Promise<void>((resolve) => this.syncWaiters.push(resolve));
    this.restart();
    await synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    clearInterval(this.watchdog);
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.abortWatch?.();
    this.abortWatch = undefined;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** Ends the current watch (its late events are ignored) and lists if needed, then watches anew. */
  private restart(): void {
    if (this.stopped) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const generation = ++this.generation;
    this.abortWatch?.();
    this.abortWatch = undefined;
    this.lastEventAt = Date.now();
    void this.listAndWatch(generation).catch((err: unknown) => this.failed(generation, err));
  }

  private current(generation: number): boolean {
    return !this.stopped && generation === this.generation;
  }

  private async listAndWatch(generation: number): Promise<void> {
    if (this.resourceVersion === '') {
      const list = await this.options.list();
      if (!this.current(generation)) return;
      this.replaceAll(list);
    }
    const abort = new AbortController();
    this.abortWatch = () => abort.abort('the watch was restarted or stopped');
    const startedAt = Date.now();
    let sawEvent = false;
    try {
      await this.watch({
        path: this.options.path,
        resourceVersion: this.resourceVersion,
        timeoutSeconds: watchTimeoutSeconds(),
        ...(this.options.labelSelector !== undefined ? { labelSelector: this.options.labelSelector } : {}),
      }, (event) => {
        if (!this.current(generation)) return;
        sawEvent = true;
        this.onEvent(generation, event.type, event.object);
      }, abort.signal);
    } catch (err) {
      return this.failed(generation, err);
    }
    if (!this.current(generation)) return;
    // A watch the API server ended after a while (its timeout): resume from where it was. One
    // that ended at once without an event is a failure, so that it cannot spin.
    if (sawEvent || Date.now() - startedAt > 1_000) return this.restart();
    this.failed(generation, new Error('the watch ended at once'));
  }

  private onEvent(generation: number, type: string, obj: T): void {
    this.lastEventAt = Date.now();
    const resourceVersion = obj.metadata?.resourceVersion;
    if (type === 'ERROR') {
      // 410 Gone: the resourceVersion is too old to resume from; anything else is a failure.
      const status = obj as unknown as { code?: number; message?: string };
      if (status.code === 410) {
        this.resourceVersion = '';
        return this.restart();
      }
      return this.failed(generation, new Error(`watch error ${status.code ?? ''}: ${status.message ?? ''}`));
    }
    this.backoffMs = this.options.minBackoffMs ?? 500;
    if (resourceVersion) this.resourceVersion = resourceVersion;
    if (type === 'BOOKMARK') return;
    this.shrink(obj);
    if (type === 'DELETED') {
      this.remove(obj);
      this.emit('delete', obj);
    } else {
      const existed = this.put(obj);
      this.emit(existed ? 'update' : 'add', obj);
    }
  }

  private failed(generation: number, err: unknown): void {
    if (!this.current(generation)) return;
    // A 410 answer to the watch request itself: start over from a list.
    if ((err as { status?: number } | undefined)?.status === 410) this.resourceVersion = '';
    // Already failed (the abort of this watch by its own failure ends here too): once is enough.
    if (this.restartTimer) return;
    this.options.onError?.(err);
    this.abortWatch?.();
    this.abortWatch = undefined;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    // Not unref'd: when every watch failed at once (the API server unreachable) this timer may be
    // all that is left, and a controller must retry, not exit because its event loop ran dry.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restart();
    }, delay);
  }

  /** A fresh list replaces the cache: adds, updates (changed resourceVersion) and deletes are emitted. */
  private replaceAll(list: KubernetesListObject<T>): void {
    list.items.forEach(this.shrink);
    const next = new Map<string, Map<string, T>>();
    const changes: [EventType, T][] = [];
    for (const obj of list.items) {
      const ns = obj.metadata?.namespace ?? '';
      const name = obj.metadata?.name ?? '';
      const before = this.get(name, ns || undefined);
      if (!next.has(ns)) next.set(ns, new Map());
      next.get(ns)!.set(name, obj);
      if (!before) changes.push(['add', obj]);
      else if (before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) changes.push(['update', obj]);
    }
    for (const [ns, byName] of this.objects) {
      for (const [name, obj] of byName) if (!next.get(ns)?.has(name)) changes.push(['delete', obj]);
    }
    this.objects = next;
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.lastEventAt = Date.now();
    if (!this.synced && this.resourceVersion !== '') {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    for (const [type, obj] of changes) this.emit(type, obj);
  }

  private put(obj: T): boolean {
    const ns = obj.metadata?.namespace ?? '';
    if (!this.objects.has(ns)) this.objects.set(ns, new Map());
    const byName = this.objects.get(ns)!;
    const existed = byName.has(obj.metadata?.name ?? '');
    byName.set(obj.metadata?.name ?? '', obj);
    return existed;
  }

  private remove(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const byName = this.objects.get(ns);
    byName?.delete(obj.metadata?.name ?? '');
    if (byName?.size === 0) this.objects.delete(ns);
  }

  private emit(type: EventType, obj: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj);
      } catch (err) {
        if (this.options.onHandlerError) this.options.onHandlerError(err, type, obj);
        else console.error(`informer ${this.options.path}: a handler of ${type} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''} threw: ${String(err)}`);
      }
    }
  }
}
