import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { Cache } from '../cache/cache.ts';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { Expectations } from '../runtime/expectations.ts';
import { vmFleet } from '../../test/fixtures/fleets.ts';
import { FLEET_FINALIZER, FleetReconciler, type FleetCaches } from './reconciler.ts';
import { MigrationBudget } from './remediation.ts';

const namespace = 'ns';
const DIGEST = `sha256:${'a'.repeat(64)}`;

function cacheOf<T extends { metadata?: { name?: string; namespace?: string } }>(objects: T[] = []): Cache<T> {
  return {
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
