// The registry client against a real registry: Debian's docker-registry (distribution 2.8) with
// TLS and htpasswd auth, holding containerDisks that crane pushed (test/harness/registry.ts).
import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { closeSourceConnections } from '../controller/sources/http-client.ts';
import { headManifest, manifestExists } from '../controller/sources/registry.ts';
import { failure } from '../controller/sources/test-servers.ts';
import { FIXTURE_REPOSITORY, FIXTURE_TAG, pushContainerDisk, sharedDigests, sharedRegistry } from './harness/registry.ts';

const registry = sharedRegistry();
const digests = sharedDigests();
const repository = `${registry.host}/${FIXTURE_REPOSITORY}`;
const credentials = { username: registry.username, password: registry.password };
const timeoutMs = 10_000;

afterAll(() => closeSourceConnections());

describe('headManifest on a real registry', () => {
  it('reads the digest crane reports, and a 304 with its ETag', async () => {
    expect(credentials).toEqual({ username: registry.username, password: registry.password });
    const head = await headManifest({ repository, tag: FIXTURE_TAG, credentials, caPEM: registry.caPEM, timeoutMs });
    expect(head).toEqual({ notModified: false, digest: digests.v3, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', etag: `"${digests.v3}"` });
    const again = await headManifest({ repository, tag: FIXTURE_TAG, credentials, caPEM: registry.caPEM, etag: `"${digests.v3}"`, timeoutMs });
    expect(again).toEqual({ notModified: true });
    // Another tag's ETag does not match: the tag moved.
    const moved = await headManifest({ repository, tag: FIXTURE_TAG, credentials, caPEM: registry.caPEM, etag: `"${digests.v1}"`, timeoutMs });
    expect(moved).toMatchObject({ notModified: false, digest: digests.v3 });
  });

  it('reads an OCI manifest\'s digest', async () => {
    const ociRepository = `sources-test/oci-${randomBytes(4).toString('hex')}`;
    const pushed = await pushContainerDisk(registry, ociRepository, 'latest', { seed: ociRepository, oci: true });
    const head = await headManifest({ repository: `${registry.host}/${ociRepository}`, credentials, caPEM: registry.caPEM, timeoutMs });
    expect(head).toEqual({ notModified: false, digest: pushed, mediaType: 'application/vnd.oci.image.manifest.v1+json', etag: `"${pushed}"` });
  });

  it('confirms pinned digests', async () => {
    expect(await manifestExists(repository, digests.v1, { credentials, caPEM: registry.caPEM, timeoutMs })).toBe(true);
    expect(await manifestExists(repository, `sha256:${'0'.repeat(64)}`, { credentials, caPEM: registry.caPEM, timeoutMs })).toBe(false);
  });

  it('reports Unauthorized with wrong or no credentials', async () => {
    const wrong = await failure(headManifest({ repository, tag: FIXTURE_TAG, credentials: { username: registry.username, password: 'wrong' }, caPEM: registry.caPEM, timeoutMs }));
    expect(wrong).toMatchObject({ reason: 'Unauthorized', status: 401 });
    const none = await failure(headManifest({ repository, tag: FIXTURE_TAG, caPEM: registry.caPEM, timeoutMs }));
    expect(none).toMatchObject({ reason: 'Unauthorized', status: 401 });
    expect(none.message).toContain('none were given');
  });

  it('reports TagNotFound for an unknown tag and an unknown repository', async () => {
    expect(await failure(headManifest({ repository, tag: 'no-such-tag', credentials, caPEM: registry.caPEM, timeoutMs }))).toMatchObject({ reason: 'TagNotFound', status: 404 });
    expect(await failure(headManifest({ repository: `${registry.host}/no/such-repo`, tag: 'v1', credentials, caPEM: registry.caPEM, timeoutMs }))).toMatchObject({ reason: 'TagNotFound' });
  });

  it('fails TLS without the registry\'s CA', async () => {
    const err = await failure(headManifest({ repository, tag: FIXTURE_TAG, credentials, timeoutMs }));
    expect(err.reason).toBe('SourceUnreachable');
    expect(err.message).toContain('TLS: unable to verify the first certificate');
  });
});
