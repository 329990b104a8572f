// Retention of a DataVolume-storage GoldenImage on the real API server, with CDI played by the
// simulator (which really downloads the loopback http source): ten versions discovered one after
// the other from a changing checksum file, `retention.keepUnused: 2`, and everything that must
// protect a version: fleets pinned to versions, a plain VM (no fleet's) whose dataVolumeTemplates
// clone a version's PVC, a channel pinned to an old version, a version listed in spec.versions.
// A watch samples every DataVolume change the whole time: exactly the expected versions end
// Deleted (deletedAt, DataVolume and PVC gone), and no protected one is ever marked for deletion.
// Then the race of a use that begins while retention decides: a VM cloning version X created in
// the same instant keepUnused is lowered so that X becomes deletable, in a bounded loop; X is
// never deleted after that VM was created (the retention guard refuses a VM that comes while X
// is being deleted, which is the third outcome).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { Watch, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import type { DataVolume } from '../controller/core/image/cdi.ts';
import { RETENTION_GUARD_MESSAGE } from '../controller/image/retention-guard.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { imageStatus, waitForImage as waitForImageStatus } from './harness/images.ts';
import { waitFor } from './harness/wait.ts';

const IMAGE = 'disk';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let c: FleetCluster;
let server: Server;
let base: string;
/** Files by path; SHA256SUMS names the current disk.img. */
const files = new Map<string, Buffer>();

/** The first moment (resourceVersion) each DataVolume was marked for deletion, by name. */
const deletionMarked = new Map<string, bigint>();
let stopWatch: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end('not found');
    const etag = `"${sha256(body)}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { ETag: etag }).end();
    res.writeHead(200, { 'Content-Length': body.length, ETag: etag }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c = await fleetCluster('image-retention', { cdi: { importMs: 100, cloneMs: 100 }, speed: 50 }, { goldenImage: false });
  const list = await c.client.list<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace });
  const req = await new Watch(kubeConfig()).watch(pathOf(RESOURCES.dataVolume, c.namespace), { resourceVersion: list.metadata?.resourceVersion }, (type, dv: DataVolume) => {
    const name = dv.metadata!.name!;
    if ((type === 'DELETED' || dv.metadata?.deletionTimestamp) && !deletionMarked.has(name)) deletionMarked.set(name, BigInt(dv.metadata!.resourceVersion!));
  }, () => undefined);
  stopWatch = () => req.abort();
}, 120_000);

afterAll(async () => {
  stopWatch?.();
  await c?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const status = () => imageStatus(c.client, c.namespace, IMAGE);
const waitForImage = (what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 20_000) => waitForImageStatus(c.client, c.namespace, IMAGE, what, probe, timeoutMs, 50);

/** Serves a new disk.img and names it in SHA256SUMS; returns its checksum. */
function publish(): string {
  const disk = randomBytes(32 * 1024);
  files.set('/disk.img', disk);
  files.set('/SHA256SUMS', Buffer.from(`${sha256(disk)}  disk.img\n`));
  return `sha256:${sha256(disk)}`;
}

/** A file of its own for a pinned version (spec.versions[].url). */
function pinnedFile(path: string): string {
  const disk = randomBytes(32 * 1024);
  files.set(path, disk);
  return `sha256:${sha256(disk)}`;
}

/** Someone's own VM, not a fleet's: its disk clones a version's PVC. */
function cloningVM(name: string, pvc: string): V1VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: c.namespace },
    spec: {
      runStrategy: 'Halted',
      dataVolumeTemplates: [{ metadata: { name: `${name}-root` }, spec: { source: { pvc: { namespace: c.namespace, name: pvc } }, storage: { resources: { requests: { storage: '1Gi' } } } } }],
      template: {
        spec: {
          domain: { devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] }, memory: { guest: '512Mi' } },
          volumes: [{ name: 'root', dataVolume: { name: `${name}-root` } }],
        },
      },
    },
  };
}

const dvName = (version: string) => `${IMAGE}-${version}`;
const versionOf = (s: GoldenImageStatus, name: string) => s.versions?.find((v) => v.name === name);

describe('retention of DataVolume versions', () => {
  it('deletes exactly the unused versions beyond keepUnused, never one a VM, a channel or spec.versions holds', async () => {
    const gold = pinnedFile('/gold.img');
    const keep = pinnedFile('/keep.img');
    publish();
    await c.client.create(RESOURCES.goldenImage, {
      apiVersion: 'virtfleet.io/v1alpha1',
      kind: 'GoldenImage',
      metadata: { name: IMAGE, namespace: c.namespace },
      spec: {
        source: { http: { url: `${base}/disk.img`, checksumURL: `${base}/SHA256SUMS`, pollInterval: '1s' } },
        storage: { type: 'DataVolume', size: '1Gi' },
        channels: [{ name: 'stable', follows: 'latest' }],
        retention: { keepUnused: 2 },
      },
    });

    // d[i] is the i-th discovered version (1-based); users are set up on d2, d5 (fleets pinned
    // to them) and d7 (a plain VM cloning its PVC) as soon as each is Ready, before retention
    // could reach them.
    const d: string[] = [''];
    const protectedNames = new Set(['gold', 'keep']);
    for (let i = 1; i <= 10; i++) {
      if (i > 1) publish();
      const s = await waitForImage(`version d${i} Ready on stable`, (x) => {
        const discovered = (x.versions ?? []).filter((v) => v.name !== 'gold' && v.name !== 'keep');
        return discovered.length === i && discovered[i - 1]!.phase === 'Ready' && x.channels?.find((ch) => ch.name === 'stable')?.version === discovered[i - 1]!.name;
      });
      const name = s.versions!.filter((v) => v.name !== 'gold' && v.name !== 'keep')[i - 1]!.name;
      d.push(name);
      if (i === 1) {
        // Pinned after the first discovery (recorded in one reconcile with it, their equal
        // discoveredAt would leave `latest` to the names' order): old enough for retention to
        // reach them after a few versions.
        await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }, { spec: {
          versions: [{ name: 'gold', checksum: gold, url: `${base}/gold.img` }, { name: 'keep', checksum: keep, url: `${base}/keep.img` }],
          channels: [{ name: 'stable', follows: 'latest' }, { name: 'lts', version: 'gold' }],
        } });
        await waitForImage('the pinned versions Ready', (x) => versionOf(x, 'gold')?.phase === 'Ready' && versionOf(x, 'keep')?.phase === 'Ready');
      }
      if (i === 2 || i === 5) {
        protectedNames.add(name);
        await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, `on-d${i}`, { replicas: 1, image: IMAGE, version: name }));
      }
      if (i === 7) {
        protectedNames.add(name);
        await c.client.create(RESOURCES.vm, cloningVM('own-vm', versionOf(s, name)!.pvcName!));
      }
      if (i === 2 || i === 5 || i === 7) await waitForImage(`d${i} used`, (x) => (versionOf(x, name)?.usedBy ?? 0) >= 1);
    }

    const expectedDeleted = [d[1]!, d[3]!, d[4]!, d[6]!];
    const final = await waitForImage('the unused versions beyond keepUnused Deleted', (x) => (x.versions ?? []).filter((v) => v.phase === 'Deleted').length === expectedDeleted.length);
    expect(final.versions!.filter((v) => v.phase === 'Deleted').map((v) => v.name).sort()).toEqual([...expectedDeleted].sort());
    for (const name of expectedDeleted) {
      expect(versionOf(final, name)?.deletedAt).toEqual(expect.any(String));
      expect(versionOf(final, name)?.usedBy).toBe(0);
    }
    const kept = ['gold', 'keep', d[2]!, d[5]!, d[7]!, d[8]!, d[9]!, d[10]!];
    for (const name of kept) expect(versionOf(final, name)?.phase).toBe('Ready');
    expect(versionOf(final, d[2]!)?.usedBy).toBe(1);
    expect(versionOf(final, d[5]!)?.usedBy).toBe(1);
    expect(versionOf(final, d[7]!)?.usedBy).toBe(1);

    await waitFor('the deleted versions\' DataVolumes and PVCs gone', async () => {
      for (const name of expectedDeleted) {
        if (await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName(name) })) return false;
        // The API server's StorageObjectInUseProtection puts kubernetes.io/pvc-protection on
        // every claim; kube-controller-manager, which this test world does not run, lifts it
        // once no pod mounts the claim. Deleted, then, is marked for deletion with only that left.
        const pvc = await c.client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace: c.namespace, name: dvName(name) });
        if (pvc && !(pvc.metadata?.deletionTimestamp && (pvc.metadata.finalizers ?? []).every((f) => f === 'kubernetes.io/pvc-protection'))) return false;
      }
      return true;
    }, 15_000).catch(async (err: Error) => {
      const left = await Promise.all(expectedDeleted.map(async (name) => ({
        name,
        dataVolume: (await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName(name) }))?.metadata,
        pvc: (await c.client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace: c.namespace, name: dvName(name) }))?.metadata,
      })));
      throw new Error(`${err.message}\nleft: ${JSON.stringify(left)}`);
    });
    for (const name of kept) expect(await c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name: dvName(name) })).toBeDefined();
    // Sampled the whole time: exactly the expected DataVolumes were ever marked for deletion.
    expect([...deletionMarked.keys()].sort()).toEqual(expectedDeleted.map(dvName).sort());
    for (const name of protectedNames) expect(deletionMarked.has(dvName(name))).toBe(false);
  }, 60_000);

  it('a VM that begins to clone a version as keepUnused drops below it keeps the version, every time', async () => {
    // Candidates: Ready versions nothing protects, kept only by keepUnused (d8, d9 of the test
    // above first, then each version stable leaves behind).
    const holders = new Set(['gold', 'keep']);
    const used = (x: GoldenImageStatus) => (x.versions ?? []).filter((v) => (v.usedBy ?? 0) > 0).map((v) => v.name);
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      let now = (await status())!;
      const candidates = (x: GoldenImageStatus) => x.versions!.filter((v) => v.phase === 'Ready' && !holders.has(v.name) && !used(x).includes(v.name) && !x.channels?.some((ch) => ch.version === v.name));
      if (candidates(now).length === 0) {
        // None left: a new version moves stable on, and the one it left becomes the candidate.
        const before = now.versions!.length;
        publish();
        await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }, { spec: { retention: { keepUnused: 1 } } });
        now = await waitForImage('a new version on stable', (y) => y.versions!.length === before + 1 && y.channels?.find((ch) => ch.name === 'stable')?.version === y.versions!.at(-1)!.name && y.versions!.at(-1)!.phase === 'Ready' && candidates(y).length === 1);
      }
      const keptUnused = candidates(now);
      // The oldest of them is the one lowering keepUnused by one makes deletable.
      const x = keptUnused[0]!;
      const vmName = `racer-${round}`;
      // Jitter the two requests against each other, so that both orders happen over the rounds.
      const jitter = [0, 10, 25, 50, 100, 200][round]!;
      const [, created] = await Promise.all([
        c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }, { spec: { retention: { keepUnused: keptUnused.length - 1 } } }),
        new Promise((r) => setTimeout(r, jitter)).then(() => c.client.create<V1VirtualMachine>(RESOURCES.vm, cloningVM(vmName, x.pvcName!)).catch((err: Error) => {
          // The retention guard refuses a clone of a version while retention deletes it.
          if (err.message.includes(RETENTION_GUARD_MESSAGE)) return undefined;
          throw err;
        })),
      ]);
      const generation = (await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }))!.metadata!.generation;
      if (!created) {
        // Refused: the VM came while X was being deleted, so nothing uses the version it ends.
        const gone = await waitForImage(`round ${round} settled`, (y) => y.observedGeneration === generation && versionOf(y, x.name)?.phase === 'Deleted');
        expect(versionOf(gone, x.name)?.usedBy).toBe(0);
        expect(deletionMarked.has(dvName(x.name))).toBe(true);
        outcomes.push('VM refused during the deletion');
        holders.add(x.name);
        continue;
      }
      const createdAt = BigInt(created.metadata!.resourceVersion!);
      const after = await waitForImage(`round ${round} settled`, (y) => y.observedGeneration === generation && (versionOf(y, x.name)?.phase === 'Deleted' || (versionOf(y, x.name)?.usedBy ?? 0) > 0));
      const marked = deletionMarked.get(dvName(x.name));
      if (versionOf(after, x.name)?.phase === 'Deleted') {
        // Only legitimate when the deletion came first and the VM began after it.
        expect(marked).toBeDefined();
        expect(marked! < createdAt).toBe(true);
        outcomes.push('deleted before the VM');
      } else {
        expect(marked).toBeUndefined();
        outcomes.push('kept for the VM');
      }
      // Wait a little for a deletion that would come late, then let go of the VM.
      await new Promise((r) => setTimeout(r, 300));
      if (deletionMarked.has(dvName(x.name)) && versionOf(after, x.name)?.phase !== 'Deleted') throw new Error(`${x.name} deleted while ${vmName} clones it`);
      await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: vmName });
      await waitFor(`${vmName} gone`, async () => !(await c.client.get(RESOURCES.vm, { namespace: c.namespace, name: vmName })), 15_000);
      holders.add(x.name); // kept or gone, either way not the next round's candidate
    }
    console.log(`retention race rounds: ${outcomes.join(', ')}`);
    expect(outcomes.length).toBeGreaterThan(0);
  }, 45_000);
});
