// An informer (list, then watch from the list's resourceVersion) that a long-running controller can
// rely on under faults: managed fields are stripped before anything is cached; a watch that ends
// is resumed from the last resourceVersion seen, one that fails is retried with backoff, one the
// API server answers 410 Gone is replaced by a fresh list (deletions missed meanwhile are emitted),
// and a watch that goes silent is restarted by a watchdog.
//
// Exactly one watch feeds the cache at a time: every (re)start opens a new generation, and events
// or endings of an earlier generation's watch are ignored. (client-node's ListWatch can leave an
// aborted watch running beside its successor when connections drop in bursts; a late event of the
// old stream then overwrote a newer object in the cache, and the controller acted on the stale
// copy until that object changed again.)
import { Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (type: EventType, obj: T) => void;

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
  /**
   * Shrinks each object in place before it is cached, so the cache holds only what the controllers
   * read; it replaces the default, which strips managedFields.
   */
  transform?: (obj: T) => void;
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
  private readonly kc: KubeConfig;
  private readonly handlers: Handler<T>[] = [];
  private readonly options: InformerOptions<T>;
  private readonly shrink: (obj: T) => void;
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

  constructor(kc: KubeConfig, options: InformerOptions<T>) {
    this.kc = kc;
    this.options = options;
    this.backoffMs = options.minBackoffMs ?? 500;
    this.shrink = options.transform ?? stripManagedFields;
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
    const startedAt = Date.now();
    let sawEvent = false;
    const watch = await new Watch(this.kc).watch(this.options.path, {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      ...(this.options.labelSelector !== undefined ? { labelSelector: this.options.labelSelector } : {}),
    }, (type: string, obj: T) => {
      if (!this.current(generation)) return;
      sawEvent = true;
      this.onEvent(generation, type, obj);
    }, (err: unknown) => {
      if (!this.current(generation)) return;
      // A watch the API server ended after a while (its timeout): resume from where it was. One
      // that ended at once without an event is a failure, so that it cannot spin.
      if (!err && (sawEvent || Date.now() - startedAt > 1_000)) return this.restart();
      this.failed(generation, err ?? new Error('the watch ended at once'));
    });
    if (!this.current(generation)) {
      watch.abort();
      return;
    }
    this.abortWatch = () => watch.abort();
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
    if ((err as { statusCode?: number } | undefined)?.statusCode === 410) this.resourceVersion = '';
    this.options.onError?.(err);
    this.abortWatch?.();
    this.abortWatch = undefined;
    if (this.restartTimer) return;
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
    for (const h of this.handlers) h(type, obj);
  }
}
