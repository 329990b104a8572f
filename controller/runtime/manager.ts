// The process's manager, as controller-runtime's Manager: it owns the client, the informers the
// controllers share (one VM informer serves every controller that reads VMs), leader election
// (one Lease for the process) and the controllers it runs. Controllers register a setup
// function; while leading, the manager builds them against a fresh set of shared informers,
// starts them, and stops them all (then the informers) when leadership ends or stop() is called.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeConfigLike } from '../kube/kubeconfig.ts';
import { ApiError, KubeClient } from '../kube/client.ts';
import type { RequestObserver } from '../kube/http.ts';
import { pathOf, type Resource } from '../kube/resources.ts';
import type { Controller, ReconcileObserver, Source } from './controller.ts';
import { streamWatch } from '../kube/watch-stream.ts';
import { listInPages } from '../cache/paged-list.ts';
import { Informer, stripManagedFields } from './informer.ts';
import { LeaderElector, LeadershipLost } from './leader-election.ts';
import type { Logger } from './logger.ts';
import type { QueueObserver, WorkQueue } from './workqueue.ts';

/** Reporting hooks, for metrics and debug logs (none by default). */
export interface ManagerObservers {
  /** Every request of the controllers' and the leader election's clients. */
  requests?: RequestObserver;
  reconciles?: ReconcileObserver;
  /** The observer of the named controller's queue, asked once per term. */
  queue?: (controller: string) => QueueObserver;
}

/** An informer whose list or watch has failed without a good list since, for this long, is stuck. */
export const INFORMER_STUCK_AFTER_MS = 2 * 60_000;

export interface LeaderElectionConfig {
  namespace: string;
  name?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kubeConfig: KubeConfigLike;
  /** Client-side rate limit of the controllers' requests (client-go defaults 5/10 are low for fleets). */
  qps?: number;
  burst?: number;
  /** Keep-alive connections for plain requests, so as many in flight (watches have their own; default KubeHttp's). */
  maxSockets?: number;
  leaderElection?: LeaderElectionConfig;
  identity?: string;
  log?: Logger;
  /** Called for every request the controllers make (not the leader election's). */
  onRequest?: (method: string, path: string) => void;
  /**
   * Called at once when leadership is lost (not on stop()), after the client has been fenced so
   * that no further request goes out. Losing leadership is final: the manager does not campaign
   * again. `virtfleet run` exits with code 1 here, as controller-runtime does.
   */
  onLeadershipLost?: (reason: string) => void;
  observers?: ManagerObservers;
}

export const DEFAULT_LEASE_NAME = 'virtfleet-controller';

export interface InformerRequest<T extends KubernetesObject> {
  /** Namespace to watch; all namespaces when unset. */
  namespace?: string | undefined;
  labelSelector?: string;
  /**
   * Shrinks each object before it is cached. Informers are shared by (resource, namespace,
   * selector): every controller asking for one must pass the same transform function.
   */
  transform?: (obj: T) => void;
}

/** A cache shared by several controllers: started once, stopped by the manager, not by them. */
export interface SharedInformer<T extends KubernetesObject> extends Source {
  on(handler: (type: 'add' | 'update' | 'delete', obj: T) => void): void;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  readonly hasSynced: boolean;
}

/** What a controller's setup gets: the client, the log, and the shared informers of this term. */
export interface ManagerContext {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly identity: string;
  informer<T extends KubernetesObject>(res: Resource, request?: InformerRequest<T>): SharedInformer<T>;
}

/** Builds one controller for a leadership term. */
export type ControllerSetup = (ctx: ManagerContext) => Controller;

const jsonLog: Logger = {
  info: (msg, fields) => console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), msg, ...fields })),
  error: (msg, fields) => console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg, ...fields })),
};

class Shared<T extends KubernetesObject> implements SharedInformer<T> {
  private starting: Promise<void> | undefined;
  readonly inner: Informer<T>;
  readonly transform: ((obj: T) => void) | undefined;
  /** Since when its list or watch has been failing with no good list or event since (for /healthz). */
  failingSince: number | undefined;

  constructor(inner: Informer<T>, transform: ((obj: T) => void) | undefined) {
    this.inner = inner;
    this.transform = transform;
    inner.on(() => (this.failingSince = undefined));
  }

  on(handler: (type: 'add' | 'update' | 'delete', obj: T) => void): void {
    this.inner.on(handler);
  }
  get(name: string, namespace?: string): T | undefined {
    return this.inner.get(name, namespace);
  }
  list(namespace?: string): readonly T[] {
    return this.inner.list(namespace);
  }
  get hasSynced(): boolean {
    return this.inner.hasSynced;
  }
  /** The first controller to start it starts it; the others wait for the same sync. */
  start(): Promise<void> {
    return (this.starting ??= this.inner.start());
  }
  /** Controllers stop their loops only; the manager stops the informer once all have stopped. */
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** The controllers and informers of one leadership term (or of the whole run without election). */
class Term implements ManagerContext {
  private readonly informers = new Map<string, Shared<KubernetesObject>>();
  readonly controllers: Controller[] = [];
  readonly queues = new Map<string, WorkQueue<string>>();
  /** Every controller's caches synced and its workers running. */
  started = false;
  readonly client: KubeClient;
  readonly log: Logger;
  readonly identity: string;
  private readonly kubeConfig: KubeConfigLike;

  constructor(client: KubeClient, log: Logger, identity: string, kubeConfig: KubeConfigLike) {
    this.client = client;
    this.log = log;
    this.identity = identity;
    this.kubeConfig = kubeConfig;
  }

  informer<T extends KubernetesObject>(res: Resource, request: InformerRequest<T> = {}): SharedInformer<T> {
    const { namespace, labelSelector, transform } = request;
    const key = `${res.group}/${res.plural}|${namespace ?? '*'}|${labelSelector ?? ''}`;
    const known = this.informers.get(key) as Shared<T> | undefined;
    if (known) {
      if (known.transform !== transform) throw new Error(`informer ${key} is shared and was requested with another transform`);
      return known;
    }
    // The informer's hooks mark the Shared that wraps it, made just below.
    const ref: { shared?: Shared<T> } = {};
    const informer = new Informer<T>(this.kubeConfig, {
      path: pathOf(res, namespace),
      list: async () => {
        // In pages, each shrunk as it arrives: a relist of thousands of objects is never one
        // response held whole (its text and parse stay in the process's RSS long after).
        const listed = await listInPages<T>(this.client, res, { namespace, labelSelector, transform: transform ?? stripManagedFields });
        if (ref.shared) ref.shared.failingSince = undefined;
        return listed as never;
      },
      ...(labelSelector ? { labelSelector } : {}),
      ...(transform ? { transform } : {}),
      // Watches go through the manager's client: its rate limit, and its fence when leadership ends.
      watch: (watchRequest, onEvent, signal) => streamWatch(this.client.http, watchRequest, onEvent, signal),
      onHandlerError: (err, type, obj) =>
        this.log.error('an event handler failed', { resource: res.plural, event: type, object: `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`, error: String(err) }),
      onError: (err) => {
        if (ref.shared) ref.shared.failingSince ??= Date.now();
        // A CRD just created answers 429 "storage is (re)initializing" until the API server has
        // set up its storage: a normal first start, retried with backoff like any failure.
        if (storageInitializing(err)) this.log.info('watch waits for the API server to initialise storage; retrying', { resource: res.plural });
        else this.log.error('watch failed; restarting', { resource: res.plural, error: String(err) });
      },
    });
    const shared = new Shared<T>(informer, transform);
    ref.shared = shared;
    this.informers.set(key, shared as unknown as Shared<KubernetesObject>);
    return shared;
  }

  async start(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.start()));
    this.started = true;
  }

  /** What the term's informers of this resource hold, each object once. */
  cached(res: Resource): KubernetesObject[] {
    const prefix = `${res.group}/${res.plural}|`;
    const seen = new Map<string, KubernetesObject>();
    for (const [key, shared] of this.informers) {
      if (!key.startsWith(prefix)) continue;
      for (const obj of shared.list()) seen.set(obj.metadata?.uid ?? `${obj.metadata?.namespace}/${obj.metadata?.name}`, obj);
    }
    return [...seen.values()];
  }

  /** Informers failing for longer than INFORMER_STUCK_AFTER_MS, by key. */
  stuckInformers(now: number): string[] {
    return [...this.informers].filter(([, i]) => i.failingSince !== undefined && now - i.failingSince > INFORMER_STUCK_AFTER_MS).map(([key]) => key);
  }

  async stop(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all([...this.informers.values()].map((i) => i.inner.stop()));
  }
}

export class Manager {
  readonly identity: string;
  readonly client: KubeClient;
  readonly log: Logger;
  private readonly o: ManagerOptions;
  private readonly setups: { name: string; setup: ControllerSetup }[] = [];
  private term: Term | undefined;
  private elector: LeaderElector | undefined;
  private running: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    this.o = options;
    this.log = options.log ?? jsonLog;
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    const observer = options.observers?.requests ? { observer: options.observers.requests } : {};
    this.client = new KubeClient(options.kubeConfig, { qps: options.qps ?? 50, burst: options.burst ?? 100, ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}), ...(options.onRequest ? { onRequest: options.onRequest } : {}), ...observer });
  }

  /** Registers a controller; it is built (and rebuilt) by the manager for every term it leads. */
  add(name: string, setup: ControllerSetup): void {
    this.setups.push({ name, setup });
  }

  /** Whether the controllers run now (leading, or no election configured). */
  get leading(): boolean {
    return this.term !== undefined;
  }

  /**
   * Starts the controllers, after winning the election when one is configured. Resolves once they
   * run (without election) or the campaign has begun (with it).
   */
  async start(): Promise<void> {
    const le = this.o.leaderElection;
    if (!le) {
      const term = this.build();
      this.term = term;
      await term.start();
      this.log.info('controllers running', { identity: this.identity, controllers: this.setups.map((s) => s.name) });
      return;
    }
    // A separate client, so the controllers' request count excludes lease renewals, and so the
    // fence on the controllers' client leaves the elector alone.
    const observer = this.o.observers?.requests ? { observer: this.o.observers.requests } : {};
    this.elector = new LeaderElector(new KubeClient(this.o.kubeConfig, { qps: 0, ...observer }), { name: DEFAULT_LEASE_NAME, ...le, identity: this.identity, log: this.log });
    this.running = this.elector.run(async (ended) => {
      // Lost leadership fences the client synchronously, before anything else runs, so not one
      // more write goes out, not even from a reconcile in flight.
      const onEnded = () => {
        if (!(ended.reason instanceof LeadershipLost)) return;
        this.client.http.fence(ended.reason.message);
        this.log.error('leadership lost', { identity: this.identity, reason: ended.reason.why });
        this.o.onLeadershipLost?.(ended.reason.why);
      };
      if (ended.aborted) return onEnded();
      ended.addEventListener('abort', onEnded, { once: true });
      const over = new Promise<void>((resolve) => ended.addEventListener('abort', () => resolve(), { once: true }));
      this.log.info('became leader', { identity: this.identity });
      const term = this.build();
      this.term = term;
      // Leadership may end while the caches still sync (a fenced client never lists them).
      const starting = term.start().then(
        () => undefined,
        (err: unknown) => this.log.error('controllers did not start', { identity: this.identity, error: String(err) }),
      );
      await over;
      this.log.info('leadership ended', { identity: this.identity });
      if (!term.started) {
        await term.stop(); // ends the wait for the caches
        await starting;
      }
      await term.stop();
      this.term = undefined;
    }).then(() => undefined);
  }

  /**
   * Graceful shutdown: reconciles in flight finish, informers stop, the lease is released. After
   * a lost leadership it waits for the controllers to wind down (their requests refused by the fence).
   */
  async stop(): Promise<void> {
    if (this.elector) {
      this.elector.stop();
      await this.running;
    } else {
      await this.term?.stop();
      this.term = undefined;
    }
  }

  /** The Lease this process campaigns for (when it campaigns). */
  get leaseName(): string {
    return this.o.leaderElection?.name ?? DEFAULT_LEASE_NAME;
  }

  /** What the running controllers' informers of this resource hold (none while standby). */
  cached<T extends KubernetesObject>(res: Resource): T[] {
    return (this.term?.cached(res) ?? []) as T[];
  }

  /** The running controllers' queues by controller name (none while standby). */
  queues(): ReadonlyMap<string, WorkQueue<string>> {
    return this.term?.queues ?? new Map();
  }

  /**
   * /readyz: the caches synced and the controllers run; a standby replica that is not leading is
   * ready too, having no caches to sync.
   */
  readiness(): { ready: boolean; reason: string } {
    const term = this.term;
    if (!term) return this.elector ? { ready: true, reason: 'standby: not leading' } : { ready: false, reason: 'not started' };
    return term.started ? { ready: true, reason: 'caches synced' } : { ready: false, reason: 'caches not synced yet' };
  }

  /** /healthz: no informer of the running controllers stuck failing its list or watch. */
  health(now = Date.now()): { healthy: boolean; reason: string } {
    const stuck = this.term?.stuckInformers(now) ?? [];
    if (stuck.length > 0) return { healthy: false, reason: `informers failing for over ${INFORMER_STUCK_AFTER_MS / 1000} s: ${stuck.join(', ')}` };
    return { healthy: true, reason: 'ok' };
  }

  private build(): Term {
    const term = new Term(this.client, this.log, this.identity, this.o.kubeConfig);
    const { reconciles, queue } = this.o.observers ?? {};
    for (const { name, setup } of this.setups) {
      const controller = setup(term);
      controller.instrument(name, { ...(reconciles ? { reconciles } : {}), ...(queue ? { queue: queue(name) } : {}) });
      term.queues.set(name, controller.queue);
      term.controllers.push(controller);
    }
    return term;
  }
}

/** The API server's 429 for a resource whose storage it is still setting up (a fresh CRD). */
export function storageInitializing(err: unknown): boolean {
  const text = String(err);
  return ((err instanceof ApiError && err.status === 429) || /\b429\b/.test(text)) && /storage is \(re\)initializing/i.test(text);
}
