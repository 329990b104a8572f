// The registry harness serves what a GoldenImage controller will read: real containerDisk
// manifests behind tags that move, over TLS from a test CA, refusing clients without credentials.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { deleteImage, dockerConfigJSON, pushContainerDisk, startRegistry, tagImage, type TestRegistry } from './harness/registry.ts';

// Without all four, distribution 2.8 converts a Docker v2 manifest to schema1 (another digest)
// or answers 404 for an OCI one.
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Answer {
  status: number;
  digest?: string;
  contentType?: string;
  authenticate?: string;
}

function manifestRequest(registry: TestRegistry, method: 'HEAD' | 'GET', path: string, credentials = true): Promise<Answer> {
  const headers: Record<string, string> = { Accept: MANIFEST_TYPES };
  if (credentials) headers.Authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(`https://${registry.host}${path}`, { method, headers, ca: registry.caPEM, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        digest: res.headers['docker-content-digest'] as string | undefined,
        contentType: res.headers['content-type'],
        authenticate: res.headers['www-authenticate'],
      }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('dockerConfigJSON', () => {
  it('carries the credentials for exactly the registry host, as docker encodes them', () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }).filter((u) => !u.includes(':')), fc.string(), fc.integer({ min: 1, max: 65535 }), (username, password, port) => {
      const host = `127.0.0.1:${port}`;
      const config = JSON.parse(dockerConfigJSON({ host, username, password })) as { auths: Record<string, { auth: string }> };
      expect(Object.keys(config.auths)).toEqual([host]);
      const decoded = Buffer.from(config.auths[host]!.auth, 'base64').toString();
      expect(decoded.slice(0, decoded.indexOf(':'))).toBe(username);
      expect(decoded.slice(decoded.indexOf(':') + 1)).toBe(password);
    }));
  });
});

describe('test registry', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: true });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('answers the manifest digest crane reported, refuses anonymous clients, and moves tags', async () => {
    const repo = 'containerdisks/harness';
    const first = await pushContainerDisk(registry, repo, 'latest', { seed: 'first' });
    const firstAnswer = await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/latest`);
    expect(firstAnswer).toMatchObject({ status: 200, digest: first, contentType: 'application/vnd.docker.distribution.manifest.v2+json' });

    const anonymous = await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/latest`, false);
    expect(anonymous.status).toBe(401);
    expect(anonymous.authenticate).toMatch(/^Basic realm="virtfleet-test"/);

    // A second image under the same tag: the tag moves, the first stays reachable by digest.
    const second = await pushContainerDisk(registry, repo, 'latest', { seed: 'second', oci: true });
    expect(second).not.toBe(first);
    expect(await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/latest`)).toMatchObject({ status: 200, digest: second, contentType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/${first}`)).toMatchObject({ status: 200, digest: first });

    // Moving the tag back by digest, then deleting the image it names.
    await tagImage(registry, repo, first, 'latest');
    expect((await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/latest`)).digest).toBe(first);
    await deleteImage(registry, repo, first);
    expect((await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/${first}`)).status).toBe(404);
    expect((await manifestRequest(registry, 'HEAD', `/v2/${repo}/manifests/${second}`)).status).toBe(200);
  });

  it('gives equal seeds equal digests and different seeds different ones', async () => {
    const repo = 'containerdisks/seeds';
    const [a, b, c] = await Promise.all([
      pushContainerDisk(registry, repo, 'a', { seed: 7 }),
      pushContainerDisk(registry, repo, 'b', { seed: 7 }),
      pushContainerDisk(registry, repo, 'c', { seed: 8 }),
    ]);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('serves a containerDisk layout: one qcow2 under disk/, owned by uid 107', async () => {
    const repo = 'containerdisks/layout';
    const digest = await pushContainerDisk(registry, repo, 'v1', { seed: 'layout', oci: true });
    const manifest = await getJSON<{ layers: { digest: string; mediaType: string }[] }>(registry, `/v2/${repo}/manifests/${digest}`);
    expect(manifest.layers).toHaveLength(1);
    const layer = await getBytes(registry, `/v2/${repo}/blobs/${manifest.layers[0]!.digest}`);
    const entries = tarEntries(await gunzipIfNeeded(layer));
    expect(entries.map((e) => [e.name, e.uid, e.gid])).toEqual([['disk/', 107, 107], ['disk/disk.qcow2', 107, 107]]);
    expect(entries[1]!.head.subarray(0, 4).toString('latin1')).toBe('QFI\xfb'); // the qcow2 magic
  });
});

function getBytes(registry: TestRegistry, path: string): Promise<Buffer> {
  const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(`https://${registry.host}${path}`, { headers: { Accept: MANIFEST_TYPES, Authorization: auth }, ca: registry.caPEM, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function getJSON<T>(registry: TestRegistry, path: string): Promise<T> {
  return JSON.parse((await getBytes(registry, path)).toString()) as T;
}

async function gunzipIfNeeded(bytes: Buffer): Promise<Buffer> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const { gunzipSync } = await import('node:zlib');
  return gunzipSync(bytes);
}

/** The entries of a ustar/GNU tar: name, owner and the first bytes of the content. */
function tarEntries(tar: Buffer): { name: string; uid: number; gid: number; head: Buffer }[] {
  const entries = [];
  for (let offset = 0; offset + 512 <= tar.length && tar[offset] !== 0;) {
    const field = (start: number, length: number) => tar.subarray(offset + start, offset + start + length).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    entries.push({ name: field(0, 100), uid: parseInt(field(108, 8), 8), gid: parseInt(field(116, 8), 8), head: tar.subarray(offset + 512, offset + 512 + Math.min(size, 16)) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}
