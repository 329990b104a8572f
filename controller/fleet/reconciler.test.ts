import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { Cache } from '../cache/cache.ts';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { Expectations } from '../runtime/expectations.ts';
import { vmFleet } from '../../test/fixtures/fleets.ts';
import { desiredVM } from '../core/fleet/desired.ts';
import { DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { decideFleet, NO_FLEET_MEMORY } from './decide.ts';
import { fleetRef } from './drift-repair.ts';
import { FLEET_FINALIZER, FleetReconciler, type FleetCaches } from './reconciler.ts';
import { MigrationBudget, type Migration } from './remediation.ts';

const namespace = 'ns';
const DIGEST = `sha256:${'a'.repeat(64)}`;

function cacheOf<T extends { metadata?: { name?: string; namespace?: string } }>(objects: T[] = []): Cache<T> & { objects: T[] } {
  return {
    objects,
    get: (name, ns) => objects.find((o) => o.metadata?.name === name && (ns === undefined || o.metadata?.namespace === ns)),
    list: (ns) => objects.filter((o) => ns === undefined || o.metadata?.namespace === ns),
  };
}

/** A fleet of one VM that does not exist yet, on a Ready pinned version of its image. */
function world() {
  const fleet = vmFleet(namespace, 'web', { replicas: 1, version: 'v1', image: 'img' }) as unknown as VMFleet;
  fleet.metadata = { ...fleet.metadata, uid: 'fleet-uid', generation: 1, resourceVersion: '1', finalizers: [FLEET_FINALIZER] };
  const image: GoldenImage = {
    metadata: { name: 'img', namespace },
    spec: { source: { registry: { repository: 'registry.example/disks/fedora', tag: '42' } }, versions: [{ name: 'v1', digest: DIGEST }] },
    status: { versions: [{ name: 'v1', digest: DIGEST, phase: 'Ready' }] },
  } as GoldenImage;
  const caches: FleetCaches = {
    fleets: cacheOf([fleet]), vms: cacheOf(), vmis: cacheOf(), nodes: cacheOf(), goldenImages: cacheOf([image]), dataVolumes: cacheOf(), migrations: cacheOf(),
  };
  return { fleet, caches };
}

/** Lets every pending promise callback run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe('FleetReconciler', () => {
  it('hands its status and Events over and is done: neither write holds the key, and drain waits for both', async () => {
    const { caches } = world();
    const writes: string[] = [];
    let statusWritten!: () => void;
    const client = {
      createManaged: async (_res: unknown, vm: V1VirtualMachine) => {
        writes.push(`create ${vm.metadata!.name}`);
        return { ...vm, metadata: { ...vm.metadata, uid: 'vm-uid' } };
      },
      mergePatch: (res: { plural: string }, ref: { name: string }, _patch: unknown, subresource?: string) => {
        writes.push(`patch ${res.plural}/${ref.name}${subresource ? `/${subresource}` : ''}`);
        return new Promise((resolve) => (statusWritten = () => resolve({})));
      },
      get: async () => undefined,
    } as unknown as KubeClient;
    let eventWritten!: () => void;
    const recorded: string[] = [];
    const events = {
      record: (_object: unknown, _type: string, reason: string) => {
        recorded.push(reason);
        return new Promise<void>((resolve) => (eventWritten = resolve));
      },
    } as unknown as EventRecorder;
    const reconciler = new FleetReconciler({ client, caches, expectations: new Expectations(), events, log: { info: () => undefined, error: () => undefined }, budget: new MigrationBudget() });

    await reconciler.reconcile(`${namespace}/web`);
    expect(recorded).toEqual(['Created']);
    // The reconcile is over while the status write and the Event are both still under way.
    expect(writes).toEqual(['create web-0', 'patch vmfleets/web/status']);
    let drained = false;
    const drain = reconciler.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    statusWritten();
    await settle();
    expect(drained).toBe(false);
    eventWritten();
    await drain;
    expect(drained).toBe(true);
  });
});

/**
 * A fleet of 3 running, ready, live-migratable VMs, all on node-0, which has lost the label the
 * fleet's nodeSelector asks for (node-1 has it): every VM drifts.
 */
function driftingWorld() {
  const now = Date.now();
  const fleet = vmFleet(namespace, 'web', { replicas: 3, version: 'v1', image: 'img', nodeSelector: { pool: 'web' }, remediation: { liveMigration: { maxConcurrent: 5 } } }) as unknown as VMFleet;
  fleet.metadata = { ...fleet.metadata, uid: 'fleet-uid', generation: 1, resourceVersion: '1', finalizers: [FLEET_FINALIZER] };
  const { caches } = world();
  const image = caches.goldenImages.get('img', namespace)!;
  const nodes: V1Node[] = ['node-0', 'node-1'].map((name, i) => ({
    metadata: { name, labels: i === 0 ? ({} as Record<string, string>) : { pool: 'web' } }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] as never },
  }));
  // The revision and image the fleet stamps its VMs with, from a decision over no VMs.
  const empty = decideFleet({ fleet, foreignVMs: [], vms: [], vmis: [], nodes, goldenImage: image, migrations: [], budget: { slots: 5, pending: new Map() }, backoff: DEFAULT_BACKOFF, now, memory: NO_FLEET_MEMORY }).verdict;
  if (!('revision' in empty)) throw new Error(`no decision: ${JSON.stringify(empty)}`);
  const ready = [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(now - 600_000).toISOString() }];
  const vms: V1VirtualMachine[] = [];
  const vmis: V1VirtualMachineInstance[] = [];
  for (let index = 0; index < 3; index++) {
    const vm = desiredVM({ fleet: fleetRef(fleet), spec: fleet.spec, image: empty.image, index, revision: empty.revision });
    vm.metadata = { ...vm.metadata, uid: `vm-uid-${index}`, generation: 1, resourceVersion: '1', creationTimestamp: new Date(now - 900_000).toISOString() as never };
    vm.status = { ready: true, printableStatus: 'Running', created: true, conditions: ready as never };
    vms.push(vm);
    vmis.push({
      metadata: { name: vm.metadata.name!, namespace, uid: `vmi-uid-${index}`, labels: { [FLEET_LABEL]: 'web' } },
      spec: structuredClone(vm.spec.template!.spec!),
      status: { phase: 'Running', nodeName: 'node-0', conditions: [...ready, { type: 'LiveMigratable', status: 'True' }] as never },
    });
  }
  const goldenImages = cacheOf([image]);
  const migrations = cacheOf<Migration>();
  const all: FleetCaches = { ...caches, fleets: cacheOf([fleet]), vms: cacheOf(vms), vmis: cacheOf(vmis), nodes: cacheOf(nodes), goldenImages, migrations };
  const created: Migration[] = [];
  const client = {
    create: async (_res: unknown, m: Migration) => {
      created.push(m);
      return { ...m, metadata: { ...m.metadata, uid: `m-uid-${created.length}` } };
    },
    mergePatch: async () => ({}),
    get: async () => undefined,
  } as unknown as KubeClient;
  const events = { record: async () => undefined } as unknown as EventRecorder;
  // A cluster budget of one: the first reconcile starts one migration and holds the other two back as its standby.
  const budget = new MigrationBudget(1);
  const reconciler = new FleetReconciler({ client, caches: all, expectations: new Expectations(), events, log: { info: () => undefined, error: () => undefined }, budget });
  /** The first migration created, as the informer then shows it: running, then ended. */
  const informer = (phase: string) => {
    const m = { ...created[0]!, metadata: { ...created[0]!.metadata, uid: 'm-uid-1' }, status: { phase } };
    migrations.objects.splice(0, migrations.objects.length, m);
    budget.observe('update', m);
    reconciler.migrationChanged('update', m);
  };
  return { reconciler, created, goldenImages, informer };
}

describe('FleetReconciler standby migrations', () => {
  it('starts the next standby migration when one ends, while the fleet acts', async () => {
    const w = driftingWorld();
    await w.reconciler.reconcile(`${namespace}/web`);
    expect(w.created).toHaveLength(1);
    w.informer('Running');
    await settle();
    expect(w.created).toHaveLength(1);
    w.informer('Succeeded');
    await settle();
    expect(w.created).toHaveLength(2);
    expect(w.created[1]!.spec?.vmiName).not.toBe(w.created[0]!.spec?.vmiName);
  });

  it('starts none of an earlier plan once the fleet stalls or waits (its image gone), though nothing the standby was judged on changed', async () => {
    const w = driftingWorld();
    await w.reconciler.reconcile(`${namespace}/web`);
    expect(w.created).toHaveLength(1);
    w.informer('Running');
    w.goldenImages.objects.length = 0;
    await w.reconciler.reconcile(`${namespace}/web`);
    w.informer('Succeeded');
    await settle();
    expect(w.created).toHaveLength(1);
  });
});
