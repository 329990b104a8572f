// A GoldenImage shared across namespaces, with one manager per namespace as a multi-tenant
// cluster runs them: the manager of namespace A reconciles A's image (and writes its status),
// the manager of namespace B reads GoldenImages of every namespace but reconciles only B's
// fleets. A fleet in B that names A's image is Stalled (ImageNotShared) and creates nothing until
// the image lists B in spec.sharing.namespaces; then it runs. Neither manager writes outside its
// own namespace.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import { DEFAULT_RETENTION_GUARD_NAMESPACE, RETENTION_GUARD_NAME } from '../controller/image/retention-guard.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { DIGESTS, fixtureRepository, goldenImage, vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let a: FleetCluster;
let b: FleetCluster;
/** Every request each manager made that was not a read, as `METHOD path`. */
const writes = { a: [] as string[], b: [] as string[] };
const reads = { a: [] as string[], b: [] as string[] };
const record = (into: 'a' | 'b') => (method: string, path: string) => void (method === 'GET' ? reads : writes)[into].push(`${method} ${path}`);

beforeAll(async () => {
  [a, b] = await Promise.all([
    fleetCluster('share-a', {}, { goldenImage: false, manager: { onRequest: record('a') } }),
    fleetCluster('share-b', {}, { goldenImage: false, manager: { onRequest: record('b') } }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const imageStatus = async (): Promise<GoldenImageStatus | undefined> => (await a.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: a.namespace, name: 'fedora' }))?.status;

/** The namespace a request's path names, or undefined for a cluster-scoped path. */
const namespaceOf = (request: string): string | undefined => /\/namespaces\/([^/?]+)/.exec(request)?.[1];

describe('sharing a GoldenImage with another namespace', () => {
  it('a fleet of another namespace is Stalled ImageNotShared and creates nothing until spec.sharing lists its namespace', async () => {
    await a.client.create(RESOURCES.goldenImage, goldenImage(a.namespace, 'fedora'));
    // A's manager reconciles the image: its pinned versions are confirmed, the channel points at v1.
    await waitFor('the image Ready in A', async () => {
      const s = await imageStatus();
      return s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && s.channels?.[0]?.version === 'v1';
    }, 30_000);

    const fleet = vmFleet(b.namespace, 'web', { replicas: 2, channel: 'stable' });
    fleet.spec.image = { ...fleet.spec.image, namespace: a.namespace };
    await b.client.create(RESOURCES.vmFleet, fleet);
    await b.waitForFleet('web', 'the fleet Stalled ImageNotShared', (f) => isCondition(f, 'Stalled', 'True', 'ImageNotShared'), 30_000);
    const stalled = await b.fleetStatus('web');
    expect(stalled?.conditions?.find((x) => x.type === 'Stalled')?.message).toContain(`GoldenImage ${a.namespace}/fedora is not shared with namespace ${b.namespace}`);
    // Give it a few reconciles to do something wrong.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await b.fleetVMs('web')).toEqual([]);
    expect((await b.client.list(RESOURCES.vm, { namespace: b.namespace })).items).toEqual([]);
    expect(writes.b.filter((w) => w.includes('/virtualmachines'))).toEqual([]);

    await a.client.mergePatch(RESOURCES.goldenImage, { namespace: a.namespace, name: 'fedora' }, { spec: { sharing: { namespaces: [b.namespace] } } });
    await b.waitForFleet('web', 'the fleet running on A\'s v1', (f, vms) => f.readyReplicas === 2 && f.imageVersion === 'v1' && isCondition(f, 'Stalled', 'False')
      && vms.every((vm) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === `${fixtureRepository()}@${DIGESTS.v1}`)), 60_000);

    // A's image controller saw the new generation and wrote A's status; B's manager never did.
    const generation = (await a.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: a.namespace, name: 'fedora' }))?.metadata?.generation;
    await waitFor('the new generation observed', async () => (await imageStatus())?.observedGeneration === generation, 15_000);
    expect(writes.a.some((w) => w.startsWith('PATCH') && w.includes(`/namespaces/${a.namespace}/goldenimages/fedora/status`))).toBe(true);
    expect(writes.b.filter((w) => w.includes('/goldenimages'))).toEqual([]);

    // Each manager wrote only into its own namespace; B's read A's image through the
    // cluster-wide GoldenImage informer, never an object of A one by one.
    expect(writes.a.length).toBeGreaterThan(0);
    expect(writes.b.length).toBeGreaterThan(0);
    expect(writes.a.filter((w) => namespaceOf(w) !== a.namespace)).toEqual([]);
    expect(writes.b.filter((w) => namespaceOf(w) !== b.namespace)).toEqual([]);
    // Beside its namespace, each reads the retention guard's ConfigMap in the controller's own namespace (as it would its Lease).
    const guardConfigMap = pathOf(RESOURCES.configMap, DEFAULT_RETENTION_GUARD_NAMESPACE, RETENTION_GUARD_NAME);
    const foreignReads = (mine: string, list: string[]) => list.filter((r) => namespaceOf(r) !== undefined && namespaceOf(r) !== mine && !r.endsWith(` ${guardConfigMap}`));
    expect(foreignReads(a.namespace, reads.a)).toEqual([]);
    expect(foreignReads(b.namespace, reads.b)).toEqual([]);
    expect(reads.b.some((r) => r.includes('/goldenimages') && namespaceOf(r) === undefined)).toBe(true);
  }, 90_000);
});
