// The GoldenImage controller against the run's real registry (Debian's docker-registry, TLS and
// htpasswd): discovery of a tracked tag, a new push becoming a new Ready version, a fleet on a
// channel that follows latest rolling onto it, a tag moved back recording nothing twice, and
// credentials (right, wrong, and a Secret in another namespace that is never read).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { REGISTRY_CA, REGISTRY_SECRET, vmFleet } from './fixtures/fleets.ts';
import { kubectl } from './harness/cluster.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { dockerConfigJSON, pushContainerDisk, sharedRegistry, tagImage } from './harness/registry.ts';
import { imageStatus, waitForImage as waitForImageStatus } from './harness/images.ts';

let c: FleetCluster;
const registry = () => sharedRegistry();

beforeAll(async () => {
  c = await fleetCluster('image-registry', {}, { goldenImage: false });
}, 120_000);

afterAll(async () => {
  await c?.stop();
});

const status = (name: string) => imageStatus(c.client, c.namespace, name);
const waitForImage = (name: string, what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000) => waitForImageStatus(c.client, c.namespace, name, what, probe, timeoutMs, 100);
const condition = (s: GoldenImageStatus | undefined, type: string) => s?.conditions?.find((x) => x.type === type);

function trackedImage(name: string, repository: string, extra: Partial<GoldenImage['spec']> = {}): GoldenImage {
  return {
    apiVersion: 'virtfleet.io/v1alpha1',
    kind: 'GoldenImage',
    metadata: { name, namespace: c.namespace },
    spec: {
      source: { registry: { repository: `${registry().host}/${repository}`, tag: 'latest', pollInterval: '1s', pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA } },
      channels: [{ name: 'stable', follows: 'latest' }],
      ...extra,
    },
  };
}

describe('registry discovery', () => {
  it('records the tag\'s digest as a Ready version, then a new push as a new one that a following fleet rolls onto', async () => {
    const repository = `disks/tracked-${randomBytes(3).toString('hex')}`;
    const first = await pushContainerDisk(registry(), repository, 'latest', { seed: 1 });
    await c.client.create(RESOURCES.goldenImage, trackedImage('tracked', repository));
    const s1 = await waitForImage('tracked', 'the first version Ready', (s) => s.versions?.length === 1 && s.versions[0]!.phase === 'Ready');
    const v1 = s1.versions![0]!;
    expect(v1.digest).toBe(first);
    expect(v1.name).toMatch(/^\d{8}-\d{6}-[0-9a-f]{10}$/);
    expect(s1.latestVersion).toBe(v1.name);
    expect(s1.channels).toEqual([expect.objectContaining({ name: 'stable', version: v1.name })]);
    expect(condition(s1, 'Ready')?.status).toBe('True');
    // As a user checks it, and as the printer columns show it.
    expect((await kubectl(['wait', '--for=condition=Ready', 'goldenimage/tracked', '-n', c.namespace, '--timeout=20s'])).code).toBe(0);
    const get = await kubectl(['get', 'gimg', 'tracked', '-n', c.namespace]);
    expect(get.stdout).toMatch(new RegExp(`tracked\\s+True\\s+${v1.name}\\s+1\\s`));

    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 3, image: 'tracked', channel: 'stable', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));
    await c.waitForFleet('web', 'the fleet on the first version', (f, vms) => f.readyReplicas === 3 && f.imageVersion === v1.name && vms.every((vm) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === `${registry().host}/${repository}@${first}`)));

    const second = await pushContainerDisk(registry(), repository, 'latest', { seed: 2 });
    expect(second).not.toBe(first);
    const s2 = await waitForImage('tracked', 'the second version Ready and on the channel', (s) => s.versions?.length === 2 && s.latestVersion !== v1.name && s.channels?.[0]?.version === s.latestVersion);
    const v2 = s2.versions!.find((v) => v.digest === second)!;
    expect(v2.phase).toBe('Ready');
    expect(s2.versions!.find((v) => v.name === v1.name)).toMatchObject({ digest: first, discoveredAt: v1.discoveredAt });
    await c.waitForFleet('web', 'the fleet rolled onto the second version', (f, vms) => f.imageVersion === v2.name && f.updatedReplicas === 3 && f.readyReplicas === 3 && vms.every((vm) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === `${registry().host}/${repository}@${second}`)), 120_000);
    // The image controller counts use from its own VM events, independently of the fleet's status:
    // the count follows within one of its reconciles, well before the 60-s resync would mend a missed event.
    const after = await waitForImage('tracked', 'the second version used by the 3 VMs', (s) => s.versions?.find((v) => v.name === v2.name)?.usedBy === 3, 20_000);
    expect(after.versions?.find((v) => v.name === v1.name)?.usedBy).toBe(0);

    // The tag moves back to the first digest: nothing new is recorded, nothing changes name.
    await tagImage(registry(), repository, first, 'latest');
    await new Promise((r) => setTimeout(r, 3_000));
    const s3 = await status('tracked');
    expect(s3?.versions?.map((v) => [v.name, v.digest])).toEqual(s2.versions!.map((v) => [v.name, v.digest]));
    // latest stays the newest discovered version, whatever the tag says now.
    expect(s3?.latestVersion).toBe(v2.name);
    await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
  }, 240_000);

  it('confirms pinned digests and reports an unknown tag as TagNotFound', async () => {
    const repository = `disks/pinned-${randomBytes(3).toString('hex')}`;
    const digest = await pushContainerDisk(registry(), repository, 'v1', { seed: 3 });
    await c.client.create(RESOURCES.goldenImage, trackedImage('pinned', repository, {
      versions: [{ name: 'v1', digest }, { name: 'ghost', digest: `sha256:${'0'.repeat(64)}` }],
      channels: [{ name: 'stable', version: 'v1' }],
    }));
    const s = await waitForImage('pinned', 'v1 Ready and the tag reported missing', (x) => x.versions?.find((v) => v.name === 'v1')?.phase === 'Ready' && condition(x, 'Stalled')?.status === 'True');
    expect(condition(s, 'Stalled')?.reason).toBe('TagNotFound');
    expect(condition(s, 'Stalled')?.message).toMatch(/latest/);
    // A digest the registry does not hold never becomes Ready.
    expect(s.versions?.find((v) => v.name === 'ghost')?.phase).toBe('Discovered');
  }, 60_000);
});

describe('registry credentials', () => {
  it('a wrong password gives Unauthorized with the registry\'s words; a Secret of another namespace is never read', async () => {
    const repository = `disks/auth-${randomBytes(3).toString('hex')}`;
    await pushContainerDisk(registry(), repository, 'latest', { seed: 4 });
    const wrong = dockerConfigJSON({ ...registry(), password: 'not-the-password' });
    await c.client.create(RESOURCES.secret, { metadata: { name: 'wrong-credentials', namespace: c.namespace }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(wrong).toString('base64') } });
    const image = trackedImage('wrong-auth', repository);
    image.spec.source.registry!.pullSecretRef = { name: 'wrong-credentials' };
    await c.client.create(RESOURCES.goldenImage, image);
    const s = await waitForImage('wrong-auth', 'Stalled Unauthorized', (x) => condition(x, 'Stalled')?.reason === 'Unauthorized');
    expect(condition(s, 'Ready')?.status).toBe('False');
    expect(s.versions ?? []).toEqual([]);

    // The right Secret exists only in another namespace: the image names it, but it is looked up
    // in the image's own namespace only.
    const other = `${c.namespace}-other`;
    await c.client.create(RESOURCES.namespace, { metadata: { name: other } });
    try {
      await c.client.create(RESOURCES.secret, { metadata: { name: 'elsewhere', namespace: other }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(dockerConfigJSON(registry())).toString('base64') } });
      const lonely = trackedImage('secret-elsewhere', repository);
      lonely.spec.source.registry!.pullSecretRef = { name: 'elsewhere' };
      await c.client.create(RESOURCES.goldenImage, lonely);
      const t = await waitForImage('secret-elsewhere', 'Stalled SecretNotFound', (x) => condition(x, 'Stalled')?.status === 'True');
      expect(condition(t, 'Stalled')).toMatchObject({ reason: 'SecretNotFound', message: `Secret ${c.namespace}/elsewhere not found` });
    } finally {
      await c.client.delete(RESOURCES.namespace, { name: other });
    }

    // Fixed in Git: the right Secret, and the image becomes Ready.
    image.spec.source.registry!.pullSecretRef = { name: REGISTRY_SECRET };
    await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: 'wrong-auth' }, { spec: { source: { registry: { pullSecretRef: { name: REGISTRY_SECRET } } } } });
    await waitForImage('wrong-auth', 'Ready with the right Secret', (x) => condition(x, 'Ready')?.status === 'True' && x.versions?.length === 1);
  }, 90_000);
});

describe('fleets and image status', () => {
  it('a fleet waits, Reconciling, while its channel has no version yet', async () => {
    const repository = `disks/empty-${randomBytes(3).toString('hex')}`;
    await c.client.create(RESOURCES.goldenImage, trackedImage('empty', repository));
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'waiting', { replicas: 1, image: 'empty', channel: 'stable' }));
    await c.waitForFleet('waiting', 'the fleet waiting for its channel', (f) => isCondition(f, 'Reconciling', 'True', 'ChannelNotReady') && isCondition(f, 'Stalled', 'False'));
    expect(await c.fleetVMs('waiting')).toEqual([]);
    await pushContainerDisk(registry(), repository, 'latest', { seed: 5 });
    await c.waitForFleet('waiting', 'the fleet running once the version is Ready', (f) => f.readyReplicas === 1, 60_000);
    await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'waiting' });
  }, 90_000);
});
