// The KubeVirt/CDI simulator: informers over the KubeVirt, CDI and core objects it plays, one
// work queue per kind feeding its reconcilers, the migration admission webhook, and the node
// pool. Start it against any API server; it acts only in its namespaces and on its own nodes.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../controller/kube/client.ts';
import { WorkQueue, runWorkers } from '../controller/runtime/workqueue.ts';
import { reconcileDataSource } from './cdi/datasource.ts';
import { stopDownloads, reconcileDataVolume } from './cdi/datavolume.ts';
import { reconcilePVC } from './cdi/pvc.ts';
import { dataSourcesForClaim, dataSourcesPointingAt, dataVolumesForClaim, dataVolumesForDataSource } from './cdi/watches.ts';
import { SimClock } from './clock.ts';
import { defaultSimConfig, type DeepPartial, type SimConfig } from './config.ts';
import type { QueueKind, Reconciler, SimContext, SimLogger } from './context.ts';
import { reconcileMigration } from './migration/controller.ts';
import { NodeOps } from './nodes.ts';
import { SeededChance } from './random.ts';
import { vmiRequests } from './rules/resources.ts';
import { Usage } from './usage.ts';
import { reconcileVM } from './vm/controller.ts';
import { reconcileVMI } from './vmi/controller.ts';
import { FailingImages } from './vmi/failing-images.ts';
import { isFinished } from './vmi/lifecycle.ts';
import { isLoopbackServer, MigrationWebhook } from './webhook.ts';
import { keyOf } from '../controller/runtime/keys.ts';
import { World } from './world.ts';

const RECONCILERS: Record<QueueKind, Reconciler> = {
  vm: reconcileVM,
  vmi: reconcileVMI,
  migration: reconcileMigration,
  dataVolume: reconcileDataVolume,
  dataSource: reconcileDataSource,
  pvc: reconcilePVC,
};

export interface SimulatorOptions {
  config?: DeepPartial<SimConfig>;
  log?: SimLogger;
  /** Told of every request the simulator sends, for tests that count its writes. */
  onRequest?: (method: string, path: string) => void;
}

const quietLog: SimLogger = { info: () => undefined, error: () => undefined };

export class Simulator {
  readonly config: SimConfig;
  readonly nodes: NodeOps;
  readonly client: KubeClient;
  private readonly world: World;
  private readonly queues = new Map<QueueKind, WorkQueue<string>>();
  private readonly ctx: SimContext;
  private readonly kc: KubeConfig;
  private workers: Promise<void>[] = [];
  private webhook: MigrationWebhook | undefined;

  constructor(kc: KubeConfig, options: SimulatorOptions = {}) {
    this.kc = kc;
    this.config = defaultSimConfig(options.config);
    this.client = new KubeClient(kc, {
      qps: this.config.client.qps,
      burst: this.config.client.burst,
      maxSockets: this.config.client.workers * 2,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
    this.world = new World(kc, this.client, this.config.namespaces);
    this.nodes = new NodeOps(this.client);
    for (const kind of Object.keys(RECONCILERS) as QueueKind[]) this.queues.set(kind, new WorkQueue<string>({ qps: 1000, burst: 1000 }));
    this.ctx = {
      client: this.client,
      world: this.world,
      clock: new SimClock(this.config.speed),
      config: this.config,
      chance: new SeededChance(this.config.seed),
      usage: new Usage(),
      failingImages: new FailingImages(this.client, { onError: (err) => (options.log ?? quietLog).error('ConfigMap kube-system/virtfleet-sim not read', { error: String(err) }) }),
      startedMigrations: new Set<string>(),
      enqueue: (kind, key, delay) => {
        const q = this.queues.get(kind)!;
        if (delay && delay > 0) q.addAfter(key, delay);
        else q.add(key);
      },
      log: options.log ?? quietLog,
    };
    this.wire();
  }

  /** Creates the node pool, starts the informers, the webhook and the workers. */
  async start(): Promise<void> {
    if (this.config.nodes.count > 0) await this.nodes.createPool(this.config.nodes);
    await this.world.start();
    if (isLoopbackServer(this.kc.getCurrentCluster()!.server)) {
      this.webhook = await MigrationWebhook.start(this.client, this.world, this.config.namespaces);
    } else {
      this.ctx.log.info('API server is not on this machine: migrations are checked by the migration controller, not at admission');
    }
    for (const [kind, queue] of this.queues) {
      this.workers.push(runWorkers(queue, this.config.client.workers, (key) => this.process(kind, queue, key)));
    }
  }

  async stop(options: { deleteNodes?: boolean } = {}): Promise<void> {
    for (const q of this.queues.values()) q.shutdown();
    await Promise.all(this.workers);
    stopDownloads(this.ctx);
    await this.webhook?.stop();
    await this.world.stop();
    if (options.deleteNodes && this.config.nodes.count > 0) await this.nodes.deletePool(this.config.nodes);
  }

  private async process(kind: QueueKind, queue: WorkQueue<string>, key: string): Promise<void> {
    try {
      await RECONCILERS[kind](this.ctx, key);
      queue.forget(key);
    } catch (err) {
      // Conflicts are normal (a newer version is on its way through the informer); others are logged.
      const status = (err as { status?: number }).status;
      if (status !== 409 && status !== 422) this.ctx.log.error(`${kind} ${key}: ${(err as Error).message}`);
      queue.addRateLimited(key);
    }
  }

  // Events become keys; every reconciler re-reads the caches (level-triggered).
  private wire(): void {
    const { world, ctx } = this;
    const owners = (obj: KubernetesObject, kind: string): string[] =>
      (obj.metadata?.ownerReferences ?? []).filter((o) => o.kind === kind).map((o) => `${obj.metadata?.namespace}/${o.name}`);

    world.vms.on((_t, vm) => ctx.enqueue('vm', keyOf(vm)));
    world.vmis.on((type, vmi) => {
      const key = keyOf(vmi);
      if (type === 'delete') ctx.usage.forget(key);
      else if (isFinished(vmi)) ctx.usage.forget(key);
      else {
        const state = vmi.status?.migrationState;
        const nodes = [vmi.status?.nodeName ?? '', state && !state.completed ? (state.targetNode ?? '') : ''];
        ctx.usage.observe(key, nodes, vmiRequests(vmi.spec));
      }
      ctx.enqueue('vmi', key);
      ctx.enqueue('vm', key);
      for (const m of world.migrationsOf(vmi.metadata?.namespace ?? '', vmi.metadata?.name ?? '')) ctx.enqueue('migration', keyOf(m));
    });
    world.migrations.on((_t, m) => {
      ctx.enqueue('migration', keyOf(m));
      ctx.enqueue('vmi', `${m.metadata?.namespace}/${m.spec?.vmiName}`);
    });
    world.nodes.on((_t, node) => {
      for (const key of ctx.usage.vmisOn(node.metadata?.name ?? '')) ctx.enqueue('vmi', key);
    });
    world.pvcs.on((_t, pvc) => {
      ctx.enqueue('pvc', keyOf(pvc));
      for (const dv of dataVolumesForClaim(world, pvc)) ctx.enqueue('dataVolume', dv);
      for (const ds of dataSourcesForClaim(world, pvc.metadata?.namespace ?? '', pvc.metadata?.name ?? '')) ctx.enqueue('dataSource', ds);
      for (const vmi of world.vmis.list(pvc.metadata?.namespace)) {
        if (vmi.spec?.volumes?.some((v) => (v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name) === pvc.metadata?.name)) ctx.enqueue('vmi', keyOf(vmi));
      }
    });
    world.dataVolumes.on((_t, dv) => {
      ctx.enqueue('dataVolume', keyOf(dv));
      for (const vm of owners(dv, 'VirtualMachine')) ctx.enqueue('vm', vm);
      // A DataSource's readiness follows the phase of the DataVolume that fills its claim.
      for (const ds of dataSourcesForClaim(world, dv.metadata?.namespace ?? '', dv.metadata?.name ?? '')) ctx.enqueue('dataSource', ds);
    });
    world.dataSources.on((_t, ds) => {
      ctx.enqueue('dataSource', keyOf(ds));
      for (const dv of dataVolumesForDataSource(world, ds)) ctx.enqueue('dataVolume', dv);
      for (const pointer of dataSourcesPointingAt(world, ds)) ctx.enqueue('dataSource', pointer);
    });
  }
}
