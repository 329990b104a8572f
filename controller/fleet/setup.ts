// Registers the fleet controller with the manager: informers over fleets, every VM (foreign ones
// shrunk to what the fleets read), the fleets' VMIs, nodes, golden images and live migrations;
// expectations fed by the VM informer; the controller loop with a periodic resync.
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { dataVolumeInformer } from '../cache/datavolumes.ts';
import { ImageChanges } from '../cache/image-changes.ts';
import { migrationInformer } from '../cache/migrations.ts';
import { FleetsByNode, NodeChanges } from '../cache/node-index.ts';
import { nodeInformer } from '../cache/nodes.ts';
import { vmiInformer } from '../cache/vmis.ts';
import { vmInformer } from '../cache/vms.ts';
import type { Backoff } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { RESOURCES } from '../kube/resources.ts';
import { Controller, controllerOwnerKey } from '../runtime/controller.ts';
import type { EventType } from '../runtime/informer.ts';
import { EventRecorder } from '../runtime/events.ts';
import { Expectations } from '../runtime/expectations.ts';
import { keyOf } from '../runtime/keys.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import { FleetReconciler } from './reconciler.ts';
import { DEFAULT_MIGRATION_BUDGET, fleetKeyOfMigration, MigrationBudget, type Migration } from './remediation.ts';

export interface FleetControllerOptions {
  /** Watch and reconcile fleets of this namespace only (default: all namespaces). */
  namespace?: string | undefined;
  workers?: number;
  /** Reconcile every fleet this often without events (default 10 minutes). */
  resyncMs?: number;
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
  /** Told of the reconciler of each term (tests look at what it remembers) and of every reconcile. */
  onReconciler?: (reconciler: FleetReconciler) => void;
  onReconcile?: () => void;
}

export function fleetController(ctx: ManagerContext, o: FleetControllerOptions): Controller {
  const ns = o.namespace;
  const fleets = ctx.informer<VMFleet & KubernetesObject>(RESOURCES.vmFleet, { namespace: ns });
  // Every VM, so a name held by someone else's VM is never taken (invariant 4).
  const vms = vmInformer(ctx, ns);
  // The fleets' VMIs and every node, each shrunk to the fields the fleets read.
  const vmis = vmiInformer(ctx, ns);
  const nodes = nodeInformer(ctx);
  // Images in every namespace: a fleet may use one another namespace shares.
  const goldenImages = ctx.informer<GoldenImage & KubernetesObject>(RESOURCES.goldenImage);
  const dataVolumes = dataVolumeInformer(ctx, ns);
  // Every migration of the cluster, anyone's, whatever the namespace scope: the budget is
  // cluster-wide (KubeVirt's parallelMigrationsPerCluster) and foreign ones are waited for.
  const migrations = migrationInformer(ctx, o.migrationBudgetScope === 'namespace' ? ns : undefined);
  const budget = new MigrationBudget(o.migrationBudget ?? DEFAULT_MIGRATION_BUDGET);
  migrations.on((type, m) => budget.observe(type, m));
  const expectations = new Expectations();
  // A fleet's Events already group a reconcile's actions by kind, one Event naming many VMs, so
  // one fleet carries what client-go spreads over many pods: a larger per-object allowance than
  // client-go's 25 and one per 10 s, so a busy repair never drops its Warnings.
  const events = new EventRecorder(ctx.client, ctx.identity, (err) => ctx.log.error('event not recorded', { error: String(err) }), { burst: 100, refillMs: 10_000 });
  const reconciler = new FleetReconciler({
    client: ctx.client,
    caches: { fleets, vms, vmis, nodes, goldenImages, migrations, dataVolumes },
    expectations,
    events,
    log: ctx.log,
    budget,
    ...(o.migrationBackoff ? { backoff: o.migrationBackoff } : {}),
    // Bound below, once the controller (and so its queue) exists.
    onStatusFailed: (key) => controller.queue.addRateLimited(key),
  });
  o.onReconciler?.(reconciler);
  // After the budget has seen it: a migration that ended hands its slot to a standby migration at once.
  migrations.on((type, m) => reconciler.migrationChanged(type, m));
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
  // Node events reach the fleets with VMIs there by one lookup, and only when something placement
  // reads changed (labels, taints, cordon, readiness), not on every heartbeat.
  const byNode = new FleetsByNode();
  vmis.on((type, vmi) => byNode.observe(type, vmi, (v) => fleetOfChild(v as KubernetesObject)[0]));
  const nodeChanges = new NodeChanges();
  const fleetsOnNode = (node: KubernetesObject, type: EventType) => (nodeChanges.changed(type, node as V1Node) ? byNode.fleetsOn(node.metadata?.name ?? '') : []);
  // Ours carry the fleet label; others' are mapped through the fleet label of the VMI they move.
  const fleetsOfMigration = (m: KubernetesObject) => {
    const key = fleetKeyOfMigration(m as Migration, (name, namespace) => vmis.get(name, namespace)?.metadata?.labels);
    return key ? [key] : [];
  };
  // Only when something a fleet reads changed: not the use counts the image controller rewrites.
  const imageChanges = new ImageChanges();
  const fleetsOfImage = (image: KubernetesObject, type: EventType) =>
    !imageChanges.changed(type, image as GoldenImage & KubernetesObject) ? [] : fleets.list().filter((f) => f.spec.image.name === image.metadata?.name && (f.spec.image.namespace ?? f.metadata?.namespace) === image.metadata?.namespace).map(keyOf);
  // A VM under a fleet's name that the fleet does not own changes which names it may use.
  const fleetOfName = (vm: KubernetesObject) => {
    const m = /^(.+)-(0|[1-9]\d*)$/.exec(vm.metadata?.name ?? '');
    return m && fleets.get(m[1]!, vm.metadata?.namespace) ? [`${vm.metadata!.namespace}/${m[1]}`] : [];
  };
  const controller: Controller = new Controller({
    primary: fleets,
    related: [
      { informer: vms, keysFor: (vm) => [...new Set([...ownerKey(vm), ...fleetOfName(vm)])] },
      { informer: vmis, keysFor: fleetOfChild },
      // A node's placement change starts drift repair: it ends the fleet's rest, not waits it out.
      { informer: nodes, keysFor: fleetsOnNode, urgent: true },
      { informer: goldenImages, keysFor: fleetsOfImage },
      { informer: migrations, keysFor: fleetsOfMigration },
      // Image disks carry the fleet label (from the template): their events time the clean-up.
      { informer: dataVolumes, keysFor: fleetOfChild },
    ],
    reconcile: (key) => {
      o.onReconcile?.();
      return reconciler.reconcile(key);
    },
    workers: o.workers ?? 4,
    resyncMs: o.resyncMs ?? 10 * 60_000,
    onError: (key, err) => ctx.log.error('reconcile failed; retrying', { fleet: key, error: String(err) }),
    drain: () => reconciler.drain(),
  });
  return controller;
}
