// Writes each VM's drift annotation beside the reconcile loop, a couple of requests at a time.
// After a relabel a thousand VMs drift at once; awaiting their annotation PATCHes inside the
// reconcile held the fleet's key and queued them in the client's rate limiter ahead of the
// migrations that repair the drift. Here a reconcile hands the texts over and moves on; the
// writes trickle out behind it, so at most `concurrency` of them wait in the limiter ahead of a
// migration create. The text handed over stands in for the cache's until the cache shows it, so
// a reconcile that runs meanwhile neither hands it over again nor tells its Event twice.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { ApiError } from '../kube/client.ts';
import type { Logger } from '../runtime/logger.ts';
import { OwnerMemory } from '../runtime/owner-memory.ts';
import { DRIFT_ANNOTATION } from './remediation.ts';

/** Sends one VM's drift annotation (`null` removes it); an ApiError that says not found means the VM is gone. */
export type AnnotationWrite = (namespace: string, vm: string, text: string | null) => Promise<unknown>;

export interface DriftAnnotationsOptions {
  write: AnnotationWrite;
  log: Logger;
  /** Writes in flight at once, over every fleet (default 2). */
  concurrency?: number;
  /** How long a written text stands in for a cache that still shows another (default 30 s): then the cache is the truth. */
  trustCacheAfterMs?: number;
  /** Delay before retrying a failed write, doubling per failure up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  now?: () => number;
}

/** One VM's annotation as handed over: `null` removes it. */
interface Entry {
  namespace: string;
  uid: string;
  text: string | null;
  state: 'queued' | 'writing' | 'written' | 'retrying';
  /** A write of this VM's annotation may have reached the API server without the cache showing it yet. */
  sentBefore: boolean;
  failures: number;
  doneAt: number;
  timer?: NodeJS.Timeout;
}

export class DriftAnnotations {
  /** Fleet key → VM name → its annotation being written, or written and not yet in the cache. */
  private readonly entries = new OwnerMemory<Entry>();
  /** Writes waiting for a slot, oldest first; an entry handed over again keeps its place. */
  private queue: { fleet: string; vm: string; entry: Entry }[] = [];
  private head = 0;
  private inFlight = 0;
  private readonly idle: (() => void)[] = [];
  private readonly o: Required<DriftAnnotationsOptions>;

  constructor(options: DriftAnnotationsOptions) {
    this.o = { concurrency: 2, trustCacheAfterMs: 30_000, retryMs: 500, maxRetryMs: 30_000, now: Date.now, ...options };
  }

  /**
   * The VM's annotation as the reconcile should see it: the text handed over while the cache does
   * not show it yet, else the cache's own. The entry goes once the cache shows it (or the VM was
   * replaced, or the cache was trusted again), so nothing pending means the cache is the truth.
   */
  current(fleet: string, vm: V1VirtualMachine): string | undefined {
    const cached = vm.metadata?.annotations?.[DRIFT_ANNOTATION];
    const name = vm.metadata!.name!;
    const e = this.entries.get(fleet, name);
    if (!e) return cached;
    if (e.uid !== vm.metadata?.uid) {
      this.drop(fleet, name, e);
      return cached;
    }
    if (e.state === 'written' && ((cached ?? null) === e.text || this.o.now() - e.doneAt > this.o.trustCacheAfterMs)) {
      this.drop(fleet, name, e);
      return cached;
    }
    return e.text ?? undefined;
  }

  /** Hands the VM's annotation over (`undefined` removes it); says whether that is news (for its Event). */
  submit(fleet: string, vm: V1VirtualMachine, text: string | undefined): boolean {
    if (this.current(fleet, vm) === text) return false;
    const name = vm.metadata!.name!;
    const value = text ?? null;
    const e = this.entries.get(fleet, name);
    if (e && e.state !== 'written') {
      if (!e.sentBefore && (vm.metadata?.annotations?.[DRIFT_ANNOTATION] ?? null) === value) {
        // Nothing sent yet and the VM already carries this text (the drift ended before its
        // annotation went out, as when the writes lag a large repair): there is nothing to write.
        this.drop(fleet, name, e);
        return true;
      }
      e.text = value; // queued, retrying or writing: the newest text goes out next
      if (e.state === 'writing') e.state = 'queued';
      return true;
    }
    const entry: Entry = { namespace: vm.metadata!.namespace!, uid: vm.metadata!.uid!, text: value, state: 'queued', sentBefore: e?.state === 'written', failures: 0, doneAt: 0 };
    this.entries.set(fleet, name, entry);
    this.enqueue(fleet, name, entry);
    return true;
  }

  /** Keeps only the entries of VMs the fleet still has. */
  retain(fleet: string, has: (vm: string) => boolean): void {
    for (const [name, e] of this.entries.entries(fleet)) if (!has(name)) this.drop(fleet, name, e);
  }

  /** The fleet is gone: so are its pending writes (one in flight still finishes). */
  forget(fleet: string): void {
    for (const [name, e] of this.entries.entries(fleet)) this.drop(fleet, name, e);
  }

  /**
   * Resolves once the writes queued or in flight are sent (for a graceful stop). Those waiting to
   * retry are left: the cache still shows the old text, so the next reconcile hands them over again.
   */
  async drain(): Promise<void> {
    if (this.inFlight === 0 && this.pending() === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  get size(): number {
    return this.entries.size;
  }

  private pending(): number {
    return this.queue.length - this.head;
  }

  private enqueue(fleet: string, vm: string, entry: Entry): void {
    this.queue.push({ fleet, vm, entry });
    this.pump();
  }

  private drop(fleet: string, vm: string, e: Entry): void {
    clearTimeout(e.timer);
    e.state = 'written'; // a queued copy is skipped; a write in flight just ends
    e.doneAt = -Infinity;
    this.entries.delete(fleet, vm);
  }

  private pump(): void {
    while (this.inFlight < this.o.concurrency && this.head < this.queue.length) {
      const { fleet, vm, entry } = this.queue[this.head++]!;
      if (this.entries.get(fleet, vm) !== entry || entry.state !== 'queued') continue;
      this.inFlight++;
      void this.write(fleet, vm, entry).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.inFlight === 0 && this.pending() === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private async write(fleet: string, vm: string, e: Entry): Promise<void> {
    const text = e.text;
    e.state = 'writing';
    e.sentBefore = true;
    try {
      await this.o.write(e.namespace, vm, text);
      e.failures = 0;
      e.doneAt = this.o.now();
      if (e.state === 'writing') e.state = 'written';
      else if (e.state === 'queued' && this.entries.get(fleet, vm) === e) this.queue.push({ fleet, vm, entry: e }); // handed over again meanwhile
    } catch (err) {
      if (this.entries.get(fleet, vm) !== e) return;
      if (err instanceof ApiError && err.notFound) return this.drop(fleet, vm, e);
      e.failures++;
      const delay = Math.min(this.o.retryMs * 2 ** (e.failures - 1), this.o.maxRetryMs);
      this.o.log.error('drift annotation not written; retrying', { fleet, vm, failures: e.failures, retryInMs: delay, error: err instanceof Error ? err.message : String(err) });
      e.state = 'retrying';
      e.timer = setTimeout(() => {
        e.timer = undefined;
        if (this.entries.get(fleet, vm) !== e || e.state !== 'retrying') return;
        e.state = 'queued';
        this.enqueue(fleet, vm, e);
      }, delay);
      e.timer.unref?.();
    }
  }
}
