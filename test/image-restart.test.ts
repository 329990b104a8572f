// The GoldenImage controller as users run it (`virtfleet run`, its own process) killed with
// SIGKILL at the two moments a restart could duplicate work, and a successor started:
// - mid-import: the loopback server feeds the DataVolume's importer slowly, the controller dies
//   while the DataVolume is ImportInProgress; the successor records no second version, creates
//   no second DataVolume, and the version becomes Ready when the import finishes;
// - between discovery and the status write: the server holds its answer to the checksum-file
//   GET that would discover a new version, and the controller dies while it waits; the successor
//   discovers the version once, imports it once.
// A watch on the namespace's DataVolumes records every one ever created, the whole time.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Watch } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import type { DataVolume } from '../controller/core/image/cdi.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { kubeConfig } from './harness/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './harness/controller-process.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { imageStatus, waitForImage as waitForImageStatus } from './harness/images.ts';
import { waitFor } from './harness/wait.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What the server serves under /<image>/: the disk's bytes, its checksum file, and how. */
interface Served {
  disk: Buffer;
  sums: string;
  /** Bytes per write of the disk and the pause between writes (a slow mirror). */
  chunk: number;
  pauseMs: number;
  /** When set, a GET of the checksum file is held here instead of answered. */
  hold?: (res: ServerResponse) => void;
}

let c: SimulatedCluster;
let server: Server;
let base: string;
const served = new Map<string, Served>();
const processes: ControllerProcess[] = [];
/** Every DataVolume ADDED in the namespace since the watch began, by name, with its uid. */
const dataVolumesAdded: { name: string; uid: string }[] = [];
let stopWatch: (() => void) | undefined;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const [, image, file] = /^\/([^/]+)\/([^/?]+)$/.exec(req.url ?? '') ?? [];
  const s = image ? served.get(image) : undefined;
  if (!s) return void res.writeHead(404).end('not found');
  if (file === 'SHA256SUMS') {
    if (s.hold) return s.hold(res);
    const etag = `"${sha256(s.sums)}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { ETag: etag }).end();
    return void res.writeHead(200, { 'Content-Type': 'text/plain', ETag: etag }).end(s.sums);
  }
  if (file !== 'disk.img') return void res.writeHead(404).end('not found');
  const disk = s.disk;
  res.writeHead(200, { 'Content-Length': disk.length });
  let at = 0;
  const next = () => {
    if (res.destroyed) return;
    const end = Math.min(disk.length, at + s.chunk);
    res.write(disk.subarray(at, end));
    at = end;
    if (at >= disk.length) res.end();
    else setTimeout(next, s.pauseMs);
  };
  next();
}

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c = await simulatedCluster('image-restart', { speed: 20 });
  const list = await c.client.list<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace });
  const req = await new Watch(kubeConfig()).watch(pathOf(RESOURCES.dataVolume, c.namespace), { resourceVersion: list.metadata?.resourceVersion }, (type, dv: DataVolume) => {
    if (type === 'ADDED') dataVolumesAdded.push({ name: dv.metadata!.name!, uid: dv.metadata!.uid! });
  }, () => undefined);
  stopWatch = () => req.abort();
}, 120_000);

afterAll(async () => {
  stopWatch?.();
  await Promise.all(processes.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? p.kill('SIGKILL') : Promise.resolve())));
  await c?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const startController = () => {
  const p = startControllerProcess(c.namespace);
  processes.push(p);
  return p;
};

const status = (name: string) => imageStatus(c.client, c.namespace, name);
const waitForImage = (name: string, what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000) => waitForImageStatus(c.client, c.namespace, name, what, probe, timeoutMs, 50);

const httpImage = (name: string): GoldenImage => ({
  apiVersion: 'virtfleet.io/v1alpha1',
  kind: 'GoldenImage',
  metadata: { name, namespace: c.namespace },
  spec: {
    source: { http: { url: `${base}/${name}/disk.img`, checksumURL: `${base}/${name}/SHA256SUMS`, pollInterval: '1s' } },
    storage: { type: 'DataVolume', size: '1Gi' },
    channels: [{ name: 'stable', follows: 'latest' }],
  },
});

function newDisk(image: string, bytes: number, chunk: number, pauseMs: number): Served {
  const disk = randomBytes(bytes);
  const s: Served = { disk, sums: `${sha256(disk)}  disk.img\n`, chunk, pauseMs };
  served.set(image, s);
  return s;
}

const addedFor = (image: string) => dataVolumesAdded.filter((d) => d.name.startsWith(`${image}-`));

describe('a controller killed and restarted', () => {
  it('mid-import: the successor records no second version, creates no second DataVolume, and the import finishes Ready', async () => {
    // 640 KiB at 16 KiB per 100 ms: about 4 s of import, long enough to kill a controller in.
    const s = newDisk('slow', 640 * 1024, 16 * 1024, 100);
    const first = startController();
    await c.client.create(RESOURCES.goldenImage, httpImage('slow'));
    const importing = await waitForImage('slow', 'the version Importing', (x) => x.versions?.length === 1 && x.versions[0]!.phase === 'Importing', 30_000);
    const version = importing.versions![0]!;
    const dvName = `slow-${version.name}`;
    await waitFor('the DataVolume ImportInProgress', async () => (await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName }))?.status?.phase === 'ImportInProgress', 15_000, 20);
    await first.kill('SIGKILL');

    const dvBefore = await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName });
    // Still under way when the successor starts (its Lease wait included): the kill was mid-import.
    expect(dvBefore?.status?.phase).toBe('ImportInProgress');
    startController();
    const ready = await waitForImage('slow', 'the version Ready after the restart', (x) => x.versions?.[0]?.phase === 'Ready', 30_000);
    expect(ready.versions).toHaveLength(1);
    expect(ready.versions![0]).toMatchObject({ name: version.name, checksum: `sha256:${sha256(s.disk)}`, discoveredAt: version.discoveredAt, pvcName: dvName });
    expect(ready.channels?.[0]?.version).toBe(version.name);
    const dv = await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName });
    expect(dv?.metadata?.uid).toBe(dvBefore?.metadata?.uid);
    expect(dv?.status?.phase).toBe('Succeeded');
    expect(addedFor('slow')).toEqual([{ name: dvName, uid: dv!.metadata!.uid! }]);
  }, 60_000);

  it('between discovery and the status write: the successor records the new version once and imports it once', async () => {
    await Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.stop()));
    newDisk('held', 64 * 1024, 64 * 1024, 0);
    const first = startController();
    await c.client.create(RESOURCES.goldenImage, httpImage('held'));
    const s1 = await waitForImage('held', 'the first version Ready', (x) => x.versions?.length === 1 && x.versions[0]!.phase === 'Ready');
    const v1 = s1.versions![0]!;

    // A new disk and checksum; the controller's next GET of the checksum file is held.
    const next = newDisk('held', 64 * 1024, 64 * 1024, 0);
    const held = new Promise<ServerResponse>((resolve) => (next.hold = resolve));
    const response = await held;
    await first.kill('SIGKILL');
    // The answer the dead controller asked for goes nowhere; the next asker gets it at once.
    delete next.hold;
    response.destroy();
    await new Promise((r) => setTimeout(r, 500));
    expect((await status('held'))?.versions?.map((v) => v.name)).toEqual([v1.name]);

    startController();
    const s2 = await waitForImage('held', 'the second version Ready after the restart', (x) => x.versions?.length === 2 && x.versions[1]!.phase === 'Ready', 30_000);
    const v2 = s2.versions![1]!;
    expect(v2.checksum).toBe(`sha256:${sha256(next.disk)}`);
    expect(s2.versions![0]).toMatchObject({ name: v1.name, checksum: v1.checksum, discoveredAt: v1.discoveredAt });
    // Polls after the restart find the same checksum: still two versions, one DataVolume each.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await status('held'))?.versions?.map((v) => v.name)).toEqual([v1.name, v2.name]);
    expect(addedFor('held').map((d) => d.name)).toEqual([`held-${v1.name}`, `held-${v2.name}`]);
    const live = await c.client.list<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, labelSelector: 'virtfleet.io/goldenimage=held' });
    expect(live.items.map((d) => d.metadata!.name).sort()).toEqual([`held-${v1.name}`, `held-${v2.name}`].sort());
  }, 60_000);
});
