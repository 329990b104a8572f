// An informer over @kubernetes/client-node's ListWatch that a long-running controller can rely
// on: managed fields are stripped before anything is cached, a watch that stops on an error is
// restarted with backoff (client-node leaves it stopped), and a watch that goes silent is
// restarted by a watchdog.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (type: EventType, obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** The collection's path, for example /apis/kubevirt.io/v1/virtualmachineinstances. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Restart the watch after this long without any event (default 5 minutes). */
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

export function stripManagedFields<T extends KubernetesObject>(obj: T): void {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
}

export class Informer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly handlers: Handler<T>[] = [];
  private readonly options: InformerOptions<T>;
  private synced = false;
  private stopped = true;
  private backoffMs: number;
  private lastEventAt = Date.now();
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];

  constructor(kc: KubeConfig, options: InformerOptions<T>) {
    this.options = options;
    this.backoffMs = options.minBackoffMs ?? 500;
    const shrink = options.transform ?? stripManagedFields;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await options.list();
      result.items.forEach(shrink);
      return result;
    };
    this.lw = new ListWatch<T>(options.path, new Watch(kc), list, false, options.labelSelector);
    const emit = (type: EventType) => (obj: T) => {
      this.lastEventAt = Date.now();
      shrink(obj);
      for (const h of this.handlers) h(type, obj);
    };
    this.lw.on('add', emit('add'));
    this.lw.on('update', emit('update'));
    this.lw.on('delete', emit('delete'));
    this.lw.on('connect', () => {
      this.lastEventAt = Date.now();
    });
    this.lw.on('error', (err) => this.restartLater(err));
  }

  /** Registers a handler of every add, update and delete (including those of the initial list). */
  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts listing and watching; resolves once the first list has been cached. */
  async start(): Promise<void> {
    this.stopped = false;
    const silence = this.options.silenceTimeoutMs ?? 5 * 60_000;
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastEventAt > silence) this.restartNow();
    }, Math.min(silence, 30_000));
    this.watchdog.unref();
    const synced = new Promise<void>((resolve) => this.syncWaiters.push(resolve));
    await this.startOnce();
    await synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.restartTimer);
    await this.lw.stop();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private async startOnce(): Promise<void> {
    if (this.stopped) return;
    this.lastEventAt = Date.now();
    await this.lw.start();
    // ListWatch.start() resolves even when the list failed; the error handler restarts it then.
    if (this.lw.latestResourceVersion() !== '' && !this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    if (this.synced) this.backoffMs = this.options.minBackoffMs ?? 500;
  }

  private restartLater(err: unknown): void {
    if (this.stopped) return; // stop() aborts the watch: not an error
    this.options.onError?.(err);
    if (this.restartTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.startOnce().catch((e: unknown) => this.restartLater(e));
    }, delay);
    this.restartTimer.unref();
  }

  private restartNow(): void {
    if (this.stopped) return;
    void this.lw.stop().then(() => this.startOnce()).catch((e: unknown) => this.restartLater(e));
  }
}
