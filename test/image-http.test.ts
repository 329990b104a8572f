// An http GoldenImage with DataVolume storage, end to end: a loopback server serves real disk
// bytes and a SHA256SUMS file; the controller finds the image's checksum in it, CDI (the
// simulator, which really downloads loopback URLs and verifies the checksum) imports it into a PVC,
// a fleet's VMs clone that PVC, a new file and checksum add a version the fleet rolls onto, and a
// file whose bytes do not match its checksum ends Failed (ChecksumMismatch) with no VM moved.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { DataVolume } from '../controller/core/image/cdi.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { waitForImage as waitForImageStatus } from './harness/images.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
let server: Server;
let base: string;
/** What the server serves now: the image bytes and the checksum file's text. */
const served = { image: randomBytes(512 * 1024), sums: '' };
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const requests: string[] = [];

beforeAll(async () => {
  served.sums = `${sha256(served.image)}  disk.img\n${'f'.repeat(64)}  other.img\n`;
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url === '/SHA256SUMS') {
      const etag = `"${sha256(Buffer.from(served.sums))}"`;
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { ETag: etag }).end();
      return void res.writeHead(200, { 'Content-Type': 'text/plain', ETag: etag }).end(served.sums);
    }
    if (req.url === '/disk.img') return void res.writeHead(200, { 'Content-Length': served.image.length }).end(served.image);
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c = await fleetCluster('image-http', { cdi: { importMs: 500, cloneMs: 500 } }, { goldenImage: false });
}, 120_000);

afterAll(async () => {
  await c?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const waitForImage = (what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 60_000) => waitForImageStatus(c.client, c.namespace, 'disk', what, probe, timeoutMs, 100);

const fleetDiskSources = async () => (await c.fleetVMs('web')).map((vm) => vm.spec?.dataVolumeTemplates?.find((t) => t.spec?.source?.pvc)?.spec?.source?.pvc?.name);

describe('http images with DataVolume storage', () => {
  it('imports the checksum file\'s version, fleets clone it, a new file adds a version, a mismatch fails and moves nothing', async () => {
    await c.client.create(RESOURCES.goldenImage, {
      apiVersion: 'virtfleet.io/v1alpha1',
      kind: 'GoldenImage',
      metadata: { name: 'disk', namespace: c.namespace },
      spec: {
        source: { http: { url: `${base}/disk.img`, checksumURL: `${base}/SHA256SUMS`, pollInterval: '1s' } },
        storage: { type: 'DataVolume', size: '1Gi' },
        channels: [{ name: 'stable', follows: 'latest' }],
      },
    });
    const s1 = await waitForImage('the first version Ready', (s) => s.versions?.[0]?.phase === 'Ready');
    const v1 = s1.versions![0]!;
    expect(v1).toMatchObject({ checksum: `sha256:${sha256(served.image)}`, url: `${base}/disk.img`, pvcName: `disk-${v1.name}` });
    const dv = await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: `disk-${v1.name}` });
    expect(dv?.spec?.source?.http).toMatchObject({ url: `${base}/disk.img`, checksum: v1.checksum });
    expect(dv?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'GoldenImage', name: 'disk', controller: true });
    // One DataVolume for the version, however often the controller reconciled meanwhile.
    expect((await c.client.list<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, labelSelector: 'virtfleet.io/goldenimage=disk' })).items).toHaveLength(1);
    expect(requests.filter((r) => r.startsWith('GET /SHA256SUMS')).length).toBeGreaterThan(0);

    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 2, image: 'disk', channel: 'stable', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));
    await c.waitForFleet('web', 'the fleet on the first version', (f) => f.readyReplicas === 2 && f.imageVersion === v1.name);
    expect(await fleetDiskSources()).toEqual([v1.pvcName, v1.pvcName]);
    await waitForImage('usedBy 2', (s) => s.versions?.[0]?.usedBy === 2);
    const uids = (await c.fleetVMs('web')).map((vm) => vm.metadata!.uid).sort();

    // A new image and its checksum: a second version, imported, and the fleet moves onto it.
    served.image = randomBytes(512 * 1024);
    served.sums = `${sha256(served.image)}  disk.img\n`;
    const s2 = await waitForImage('the second version Ready on the channel', (s) => s.versions?.length === 2 && s.versions[1]!.phase === 'Ready' && s.channels?.[0]?.version === s.versions[1]!.name);
    const v2 = s2.versions![1]!;
    await c.waitForFleet('web', 'the fleet on the second version', (f) => f.imageVersion === v2.name && f.updatedReplicas === 2 && f.readyReplicas === 2, 120_000);
    expect(await fleetDiskSources()).toEqual([v2.pvcName, v2.pvcName]);
    // Restarted onto the new disk, not recreated: the same VMs, and the old image disks removed.
    expect((await c.fleetVMs('web')).map((vm) => vm.metadata!.uid).sort()).toEqual(uids);
    const imageDisks = async () => (await c.client.list<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, labelSelector: 'virtfleet.io/fleet=web,virtfleet.io/image-disk' })).items.filter((d) => !d.metadata?.deletionTimestamp).map((d) => d.spec?.source?.pvc?.name);
    await waitFor('only the new image disks left', async () => {
      const left = await imageDisks();
      return left.length === 2 && left.every((p) => p === v2.pvcName);
    }, 30_000);

    // The checksum file names a checksum the bytes do not have: Failed, and the fleet stays.
    served.image = randomBytes(512 * 1024);
    served.sums = `${'a'.repeat(64)}  disk.img\n`;
    const s3 = await waitForImage('the third version Failed', (s) => s.versions?.length === 3 && s.versions[2]!.phase === 'Failed');
    expect(s3.versions![2]!.message).toMatch(/checksum mismatch/);
    expect(s3.conditions?.find((x) => x.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'ChecksumMismatch' });
    expect(s3.channels?.[0]?.version).toBe(v2.name);
    expect(s3.latestVersion).toBe(v2.name);
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await c.fleetStatus('web'))?.imageVersion).toBe(v2.name);
    expect(await fleetDiskSources()).toEqual([v2.pvcName, v2.pvcName]);
  }, 300_000);
});
