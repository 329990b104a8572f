// Wires the fleet reconciler into a running controller: informers over fleets, their VMs and VMIs,
// nodes, golden images and live migrations; expectations fed by the VM informer; the controller loop with a
// periodic resync; and, optionally, Lease-based leader election so only the leader reconciles.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeConfig, KubernetesObject, V1Node } from '@kubernetes/client-node';
import type { Backoff } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { KubeClient } from '../kube/client.ts';
import { pathOf, RESOURCES, type Resource } from '../kube/resources.ts';
import { Controller, controllerOwnerKey } from '../runtime/controller.ts';
import { Expectations } from '../runtime/expectations.ts';
import { Informer } from '../runtime/informer.ts';
import { keyOf } from '../runtime/keys.ts';
import { LeaderElector, LeadershipLost } from '../runtime/leader-election.ts';
import type { Logger } from '../runtime/logger.ts';
import { EventRecorder } from './events.ts';
import { cachedVM } from './vm-writes.ts';
import { FleetReconciler, type GoldenImage, type VMFleet } from './reconciler.ts';
import { DEFAULT_MIGRATION_BUDGET, MigrationBudget, type Migration } from './remediation.ts';

export interface LeaderElectionConfig {
  namespace: string;
  name?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface FleetManagerOptions {
  kubeConfig: KubeConfig;
  /** Watch and reconcile fleets of this namespace only (default: all namespaces). */
  namespace?: string;
  /** Client-side rate limit of the controller's requests (client-go defaults 5/10 are low for fleets). */
  qps?: number;
  burst?: number;
  workers?: number;
  /** Reconcile every fleet this often without events (default 10 minutes). */
  resyncMs?: number;
  leaderElection?: LeaderElectionConfig;
  identity?: string;
  log?: Logger;
  /**
   * Most live migrations in flight in the cluster at once, anyone's included (default 5, KubeVirt's
   * parallelMigrationsPerCluster), so drift repair never floods KubeVirt with Pending migrations.
   */
  migrationBudget?: number;
  /**
   * Which migrations count against the budget: `cluster` (default) watches every namespace's,
   * whatever `namespace` says (it needs list/watch of virtualmachineinstancemigrations cluster-wide);
   * `namespace` counts only the watched namespace's, for a namespace that is its own migration
   * domain (a test's simulated cluster, say).
   */
  migrationBudgetScope?: 'cluster' | 'namespace';
  /** Retry delays after a failed migration of one VM (default 10s doubling up to 5m). */
  migrationBackoff?: Backoff;
  /** Called for every request the controller makes (not the leader election's). */
  onRequest?: (method: string, path: string) => void;
  /**
   * Called at once when leadership is lost (not on stop()), after the controller's client has been
   * fenced so that no further request goes out. Losing leadership is final: the manager does not
   * campaign again. `virtfleet run` exits with code 1 here, as controller-runtime does.
   */
  onLeadershipLost?: (reason: string) => void;
}

export const DEFAULT_LEASE_NAME = 'virtfleet-controller';


const jsonLog: Logger = {
  info: (msg, fields) => console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), msg, ...fields })),
  error: (msg, fields) => console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg, ...fields })),
};

export class FleetManager {
  readonly identity: string;
  readonly client: KubeClient;
  private readonly o: FleetManagerOptions;
  private readonly log: Logger;
  private controller: Controller | undefined;
  private elector: LeaderElector | undefined;
  private running: Promise<void> | undefined;
  /** The running reconciler (while leading), for tests that look at what it remembers. */
  reconciler: FleetReconciler | undefined;
  /** Reconciles run so far (resyncs included), for tests and logs. */
  reconciles = 0;

  constructor(options: FleetManagerOptions) {
    this.o = options;
    this.log = options.log ?? jsonLog;
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.client = new KubeClient(options.kubeConfig, { qps: options.qps ?? 50, burst: options.burst ?? 100, ...(options.onRequest ? { onRequest: options.onRequest } : {}) });
  }

  /**
   * Starts reconciling, after winning the election when one is configured. Resolves once the
   * controller runs (without election) or the campaign has begun (with it).
   */
  async start(): Promise<void> {
    const le = this.o.leaderElection;
    if (!le) {
      this.controller = this.build();
      await this.controller.start();
      this.log.info('reconciling fleets', { identity: this.identity, namespace: this.o.namespace ?? '*' });
      return;
    }
    // A separate client, so the controller's request count excludes lease renewals, and so the
    // fence on the controller's client leaves the elector alone.
    this.elector = new LeaderElector(new KubeClient(this.o.kubeConfig, { qps: 0 }), { name: DEFAULT_LEASE_NAME, ...le, identity: this.identity, log: this.log });
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
      const controller = this.build();
      this.controller = controller;
      // Leadership may end while the caches still sync (a fenced client never lists them).
      let started = false;
      const starting = controller.start().then(
        () => void (started = true),
        (err: unknown) => this.log.error('controller did not start', { identity: this.identity, error: String(err) }),
      );
      await over;
      this.log.info('leadership ended', { identity: this.identity });
      if (!started) {
        await controller.stop(); // ends the wait for the caches
        await starting;
      }
      await controller.stop();
      this.controller = undefined;
    }).then(() => undefined);
  }

  /**
   * Graceful shutdown: reconciles in flight finish, informers stop, the lease is released. After
   * a lost leadership it waits for the controller to wind down (its requests refused by the fence).
   */
  async stop(): Promise<void> {
    if (this.elector) {
      this.elector.stop();
      await this.running;
    } else {
      await this.controller?.stop();
      this.controller = undefined;
    }
  }

  private informer<T extends KubernetesObject>(res: Resource, namespace: string | undefined, labelSelector?: string, transform?: (obj: T) => void): Informer<T> {
    return new Informer<T>(this.o.kubeConfig, {
      path: pathOf(res, namespace),
      list: () => this.client.list<T>(res, { ...(namespace ? { namespace } : {}), ...(labelSelector ? { labelSelector } : {}) }) as never,
      ...(labelSelector ? { labelSelector } : {}),
      ...(transform ? { transform } : {}),
      onError: (err) => this.log.error('watch failed; restarting', { resource: res.plural, error: String(err) }),
    });
  }

  private build(): Controller {
    const ns = this.o.namespace;
    const fleets = this.informer<VMFleet & KubernetesObject>(RESOURCES.vmFleet, ns);
    // Every VM, so a name held by someone else's VM is never taken (invariant 4); of those not in
    // a fleet only the identity is cached.
    const vms = this.informer<V1VirtualMachine & KubernetesObject>(RESOURCES.vm, ns, undefined, cachedVM);
    const vmis = this.informer<V1VirtualMachineInstance & KubernetesObject>(RESOURCES.vmi, ns, FLEET_LABEL);
    const nodes = this.informer<V1Node>(RESOURCES.node, undefined);
    const goldenImages = this.informer<GoldenImage & KubernetesObject>(RESOURCES.goldenImage, undefined);
    // Every migration of the cluster, anyone's, whatever the namespace scope: the budget is
    // cluster-wide (KubeVirt's parallelMigrationsPerCluster) and foreign ones are waited for.
    const migrations = this.informer<Migration & KubernetesObject>(RESOURCES.vmim, this.o.migrationBudgetScope === 'namespace' ? ns : undefined);
    const budget = new MigrationBudget(this.o.migrationBudget ?? DEFAULT_MIGRATION_BUDGET);
    migrations.on((type, m) => budget.observe(type, m));
    const expectations = new Expectations();
    // A fleet's Events already group a reconcile's actions by kind, one Event naming many VMs, so
    // one fleet carries what client-go spreads over many pods: a larger per-object allowance than
    // client-go's 25 and one per 5 minutes, so a busy repair never drops its Warnings.
    const events = new EventRecorder(this.client, this.identity, (err) => this.log.error('event not recorded', { error: String(err) }), { burst: 100, refillMs: 10_000 });
    const reconciler = (this.reconciler = new FleetReconciler({
      client: this.client,
      caches: { fleets, vms, vmis, nodes, goldenImages, migrations },
      expectations,
      events,
      log: this.log,
      budget,
      ...(this.o.migrationBackoff ? { backoff: this.o.migrationBackoff } : {}),
    }));
    const ownerKey = controllerOwnerKey('VMFleet');
    // Registered before the controller's own handlers, so a reconcile the event triggers sees them.
    vms.on((type, vm) => {
      for (const key of ownerKey(vm)) {
        if (type === 'add') expectations.creationObserved(key, vm.metadata!.name!);
        if (type === 'delete') expectations.deletionObserved(key, vm.metadata!.name!);
      }
    });
    vmis.on((type, vmi) => type !== 'delete' && reconciler.vmiObserved(vmi));
    const fleetOfChild = (obj: KubernetesObject) => {
      const fleet = obj.metadata?.labels?.[FLEET_LABEL];
      return fleet && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${fleet}`] : [];
    };
    const fleetsOnNode = (node: KubernetesObject) => [...new Set(vmis.list().filter((vmi) => vmi.status?.nodeName === node.metadata?.name).flatMap(fleetOfChild))];
    // Ours carry the fleet label; others' are mapped through the fleet label of the VMI they move.
    const fleetsOfMigration = (m: KubernetesObject) => {
      const own = fleetOfChild(m);
      if (own.length > 0) return own;
      const vmi = vmis.get((m as Migration).spec?.vmiName ?? '', m.metadata?.namespace);
      return vmi ? fleetOfChild(vmi) : [];
    };
    const fleetsOfImage = (image: KubernetesObject) =>
      fleets.list().filter((f) => f.spec.image.name === image.metadata?.name && (f.spec.image.namespace ?? f.metadata?.namespace) === image.metadata?.namespace).map(keyOf);
    // A VM under a fleet's name that the fleet does not own changes which names it may use.
    const fleetOfName = (vm: KubernetesObject) => {
      const m = /^(.+)-(0|[1-9]\d*)$/.exec(vm.metadata?.name ?? '');
      return m && fleets.get(m[1]!, vm.metadata?.namespace) ? [`${vm.metadata!.namespace}/${m[1]}`] : [];
    };
    return new Controller({
      primary: fleets,
      related: [
        { informer: vms, keysFor: (vm) => [...new Set([...ownerKey(vm), ...fleetOfName(vm)])] },
        { informer: vmis, keysFor: fleetOfChild },
        { informer: nodes, keysFor: fleetsOnNode },
        { informer: goldenImages, keysFor: fleetsOfImage },
        { informer: migrations, keysFor: fleetsOfMigration },
      ],
      reconcile: (key) => {
        this.reconciles++;
        return reconciler.reconcile(key);
      },
      workers: this.o.workers ?? 4,
      resyncMs: this.o.resyncMs ?? 10 * 60_000,
      onError: (key, err) => this.log.error('reconcile failed; retrying', { fleet: key, error: String(err) }),
    });
  }
}
