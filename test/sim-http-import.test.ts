// The simulator's CDI importer really downloads an http source on a loopback URL: a node:http
// server on 127.0.0.1 serves a few MiB slowly, and the DataVolume reports progress from the
// bytes read, succeeds when they hash to its checksum, fails for good when they do not, and
// restarts with back-off when the server answers 404.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import type { DataVolume } from '../sim/world.ts';
import { kubeConfig } from './harness/cluster.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { waitFor } from './harness/wait.ts';

const IMAGE = randomBytes(3 * 1024 * 1024);
const SHA256 = createHash('sha256').update(IMAGE).digest('hex');
const CHUNK = 48 * 1024;
const CHUNK_INTERVAL_MS = 25; // 64 chunks: about 1.6 s per download

let c: SimulatedCluster;
let server: Server;
let base: string;
const requests = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (path !== '/disk.img') {
      res.writeHead(404, 'Not Found').end('no such image');
      return;
    }
    res.writeHead(200, { 'Content-Length': IMAGE.length, 'Content-Type': 'application/octet-stream' });
    let offset = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(IMAGE.subarray(offset, offset + CHUNK));
      offset += CHUNK;
      if (offset >= IMAGE.length) {
        clearInterval(timer);
        res.end();
      }
    }, CHUNK_INTERVAL_MS);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c = await simulatedCluster('httpimport', { speed: 10, nodes: { count: 0 }, cdi: { importMs: 1_000 } });
});

afterAll(async () => {
  await c?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

type Condition = { type: string; status: string; reason?: string; message?: string };
const dv = (name: string) => c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name });
const pvc = (name: string) => c.client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace: c.namespace, name });
const condition = (obj: DataVolume | undefined, type: string) => (obj?.status?.conditions as Condition[] | undefined)?.find((x) => x.type === type);

function dataVolume(name: string, http: Record<string, string>): DataVolume {
  return { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name, namespace: c.namespace }, spec: { source: { http }, storage: { resources: { requests: { storage: '1Gi' } } } } };
}

/** Creates the DataVolume and records every status a watch sees until `done` holds. */
async function statusesUntil(obj: DataVolume, done: (status: NonNullable<DataVolume['status']>) => boolean): Promise<NonNullable<DataVolume['status']>[]> {
  const seen: NonNullable<DataVolume['status']>[] = [];
  let request: AbortController | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      void new Watch(kubeConfig())
        .watch(pathOf(RESOURCES.dataVolume, c.namespace), { fieldSelector: `metadata.name=${obj.metadata!.name}` }, (_type, got: DataVolume) => {
          if (!got.status) return;
          seen.push(got.status);
          if (done(got.status)) resolve();
        }, (err) => (err ? reject(err) : undefined))
        .then((r) => {
          request = r;
          return c.client.create(RESOURCES.dataVolume, obj);
        })
        .catch(reject);
      setTimeout(() => reject(new Error(`${obj.metadata!.name}: not done in time; saw ${seen.map((s) => `${s.phase} ${s.progress}`).join(', ')}`)), 60_000).unref();
    });
  } finally {
    request?.abort();
  }
  return seen;
}

describe('simulated CDI importer on a loopback http source', () => {
  it('downloads the image, shows progress while it reads, and succeeds with a bound claim when the checksum matches', async () => {
    const seen = await statusesUntil(dataVolume('good', { url: `${base}/disk.img`, checksum: `sha256:${SHA256}` }), (s) => s.phase === 'Succeeded');
    const reading = seen.filter((s) => s.phase === 'ImportInProgress' && /%$/.test(s.progress ?? '')).map((s) => parseFloat(s.progress!));
    expect(reading.some((p) => p > 0 && p < 100)).toBe(true);
    expect(reading).toEqual([...reading].sort((a, b) => a - b));
    for (const s of seen.filter((x) => x.phase === 'ImportInProgress')) expect(s.progress).toMatch(/^(N\/A|\d{1,2}\.\d{2}%)$/);
    const done = (await dv('good'))!;
    expect(done.status).toMatchObject({ phase: 'Succeeded', progress: '100.0%' });
    expect(done.status?.restartCount).toBeUndefined();
    expect((await pvc('good'))?.status?.phase).toBe('Bound');
    expect(requests.get('/disk.img')).toBeGreaterThanOrEqual(1);
  });

  it('fails for good on a checksum mismatch, in CDI’s words, and never downloads again', async () => {
    const wrong = 'f'.repeat(64);
    const before = requests.get('/disk.img') ?? 0;
    await statusesUntil(dataVolume('tampered', { url: `${base}/disk.img`, checksum: `sha256:${wrong}` }), (s) => s.phase === 'Failed');
    await new Promise((r) => setTimeout(r, 2_500)); // longer than a restart back-off at this speed
    const failed = (await dv('tampered'))!;
    expect(failed.status?.phase).toBe('Failed');
    expect(failed.status?.restartCount).toBeUndefined();
    expect(condition(failed, 'Running')).toMatchObject({
      status: 'False',
      reason: 'ChecksumError',
      message: `Unable to process data: Unable to transfer source data to scratch space: checksum validation failed: checksum mismatch: expected sha256:${wrong}, calculated sha256:${SHA256}`,
    });
    expect(requests.get('/disk.img')).toBe(before + 1);
    expect((await pvc('tampered'))?.status?.phase).not.toBe('Bound');
  });

  it('a 404 is a failing importer: restarts with back-off, the importer’s message, never Failed', async () => {
    await c.client.create(RESOURCES.dataVolume, dataVolume('missing', { url: `${base}/missing.img` }));
    const restarted = await waitFor('two restarts', async () => {
      const got = await dv('missing');
      return (got?.status?.restartCount ?? 0) >= 2 ? got : undefined;
    }, 30_000);
    expect(restarted.status?.phase).toBe('ImportInProgress');
    expect(condition(restarted, 'Running')).toMatchObject({
      status: 'False',
      reason: 'Error',
      message: 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found',
    });
    // Back-off: 10 s then 20 s of simulated time, so at 10x no more than a few attempts in this time.
    expect(requests.get('/missing.img')).toBeLessThanOrEqual(4);

    // Deleted, it is never tried again.
    await c.client.delete(RESOURCES.dataVolume, { namespace: c.namespace, name: 'missing' });
    await waitFor('DataVolume gone', async () => (await dv('missing')) === undefined);
    const after = requests.get('/missing.img');
    await new Promise((r) => setTimeout(r, 4_500));
    expect(requests.get('/missing.img')).toBe(after);
  });
});
