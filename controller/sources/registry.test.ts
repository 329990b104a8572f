import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { generateControlPlaneCerts, type ControlPlaneCerts } from '../local/certs.ts';
import { SourceError } from './errors.ts';
import { closeSourceConnections } from './http-client.ts';
import { cachedTokenCount, headManifest, MANIFEST_MEDIA_TYPES, manifestExists, parseWWWAuthenticate, splitRepository } from './registry.ts';
import { startLoopbackServer, type LoopbackServer, failure } from './test-servers.ts';

const DIGEST_V1 = `sha256:${'a1'.repeat(32)}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * A registry as distribution answers manifest HEADs: `token/…` repositories want a Bearer token
 * from /token (which wants reader:s3cret), `basic/…` ones plain basic auth, `open/…` nothing.
 * Tag v1 names DIGEST_V1; `busy` is rate limited; `garbled` answers a bad digest.
 */
function registryHandler(base: () => string, tokenAnswer: () => Record<string, unknown>) {
  let issued = 0;
  const valid = new Set<string>();
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '', 'https://x');
    if (url.pathname === '/token') {
      if (req.headers.authorization !== basic('reader', 's3cret')) return void res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      const token = `tok-${++issued}-${url.searchParams.get('service')}-${url.searchParams.get('scope')}`;
      valid.add(token);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ expires_in: tokenAnswer().expires_in, ...tokenFields(token, tokenAnswer()) }));
    }
    const m = /^\/v2\/((token|basic|open)\/[a-z0-9/-]+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!m || req.method !== 'HEAD') return void res.writeHead(404).end();
    const [, name = '', kind, ref = ''] = m;
    const auth = req.headers.authorization ?? '';
    if (kind === 'token' && !valid.has(auth.replace(/^Bearer /, ''))) {
      return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${base()}/token",service="test-registry",scope="repository:${name}:pull"` }).end();
    }
    if (kind === 'basic' && auth !== basic('reader', 's3cret')) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
    if (ref === 'busy') return void res.writeHead(429, { 'retry-after': '42' }).end();
    if (ref === 'garbled') return void res.writeHead(200, { 'docker-content-digest': 'sha256:nothex' }).end();
    if (ref !== 'v1' && ref !== DIGEST_V1) return void res.writeHead(404).end();
    const etag = `"${DIGEST_V1}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
    res.writeHead(200, { 'docker-content-digest': DIGEST_V1, 'content-type': OCI_MANIFEST, etag, 'content-length': '512' }).end();
  };
}

function tokenFields(token: string, answer: Record<string, unknown>): Record<string, unknown> {
  return answer.useAccessToken ? { access_token: token } : { token };
}

describe('headManifest against a loopback registry', () => {
  let certs: ControlPlaneCerts;
  let server: LoopbackServer;
  let tokenAnswer: Record<string, unknown> = { expires_in: 300 };
  const reader = { username: 'reader', password: 's3cret' };

  beforeAll(async () => {
    certs = await generateControlPlaneCerts();
    server = await startLoopbackServer(registryHandler(() => server.url, () => tokenAnswer), certs.serving);
  });
  afterAll(async () => {
    await server.close();
    closeSourceConnections();
  });

  const repo = (path: string) => `${server.host}/${path}`;

  it('does the bearer token flow with all four manifest types in Accept, then reuses the token', async () => {
    const before = server.requests.length;
    const head = await headManifest({ repository: repo('token/containerdisks/fedora'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert, timeoutMs: 5_000 });
    expect(head).toEqual({ notModified: false, digest: DIGEST_V1, mediaType: OCI_MANIFEST, etag: `"${DIGEST_V1}"` });
    const flow = server.requests.slice(before);
    expect(flow.map((r) => `${r.method} ${r.path}`)).toEqual([
      'HEAD /v2/token/containerdisks/fedora/manifests/v1',
      `GET /token?service=test-registry&scope=${encodeURIComponent('repository:token/containerdisks/fedora:pull')}`,
      'HEAD /v2/token/containerdisks/fedora/manifests/v1',
    ]);
    expect(flow[0]?.headers.accept).toBe(MANIFEST_MEDIA_TYPES.join(', '));
    expect(flow[1]?.headers.authorization).toBe(basic('reader', 's3cret'));
    expect(flow[2]?.headers.authorization).toMatch(/^Bearer tok-/);

    // The cached token goes with the first request; the ETag turns it into a 304.
    const again = await headManifest({ repository: repo('token/containerdisks/fedora'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert, etag: head.notModified ? undefined : head.etag });
    expect(again).toEqual({ notModified: true });
    expect(server.requests.length - before).toBe(4);
    expect(server.requests.at(-1)?.headers['if-none-match']).toBe(`"${DIGEST_V1}"`);
  });

  it('keeps tokens apart per credentials, and reads access_token', async () => {
    tokenAnswer = { useAccessToken: true, expires_in: 300 };
    try {
      const err = await failure(headManifest({ repository: repo('token/containerdisks/fedora'), tag: 'v1', credentials: { username: 'reader', password: 'wrong' }, caPEM: certs.ca.cert }));
      expect(err).toMatchObject({ reason: 'Unauthorized', status: 401 });
      expect(err.message).toContain('(registry token): 401: {"errors":[{"code":"UNAUTHORIZED"}]}');
      const head = await headManifest({ repository: repo('token/containerdisks/other'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert });
      expect(head).toMatchObject({ digest: DIGEST_V1 });
    } finally {
      tokenAnswer = { expires_in: 300 };
    }
  });

  it('does not cache a token that expires within the margin', async () => {
    tokenAnswer = { expires_in: 5 };
    try {
      const count = cachedTokenCount();
      for (let i = 0; i < 2; i++) await headManifest({ repository: repo('token/short-lived'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert });
      expect(cachedTokenCount()).toBe(count);
      expect(server.requests.filter((r) => r.path.startsWith('/token') && r.path.includes('short-lived'))).toHaveLength(2);
    } finally {
      tokenAnswer = { expires_in: 300 };
    }
  });

  it('answers a Basic challenge with the credentials, and says when there are none', async () => {
    expect(await headManifest({ repository: repo('basic/fedora'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert })).toMatchObject({ digest: DIGEST_V1 });
    const none = await failure(headManifest({ repository: repo('basic/fedora'), tag: 'v1', caPEM: certs.ca.cert }));
    expect(none.reason).toBe('Unauthorized');
    expect(none.message).toContain('none were given');
    const wrong = await failure(headManifest({ repository: repo('basic/fedora'), tag: 'v1', credentials: { username: 'reader', password: 'x' }, caPEM: certs.ca.cert }));
    expect(wrong.reason).toBe('Unauthorized');
  });

  it('sends Basic credentials at once to a registry that asked for them before: one request per poll', async () => {
    await headManifest({ repository: repo('basic/fedora'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert });
    const before = server.requests.length;
    expect(await headManifest({ repository: repo('basic/fedora'), tag: 'v1', credentials: reader, caPEM: certs.ca.cert })).toMatchObject({ digest: DIGEST_V1 });
    const sent = server.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.authorization).toMatch(/^Basic /);
  });

  it('reports TagNotFound, RateLimited with Retry-After, a malformed digest and TLS failures', async () => {
    const opts = { caPEM: certs.ca.cert };
    expect(await failure(headManifest({ ...opts, repository: repo('open/fedora'), tag: 'v9' }))).toMatchObject({ reason: 'TagNotFound', status: 404 });
    expect(await failure(headManifest({ ...opts, repository: repo('open/fedora'), tag: 'busy' }))).toMatchObject({ reason: 'RateLimited', retryAfterMs: 42_000 });
    const garbled = await failure(headManifest({ ...opts, repository: repo('open/fedora'), tag: 'garbled' }));
    expect(garbled.reason).toBe('Malformed');
    expect(garbled.message).toContain('Docker-Content-Digest is "sha256:nothex"');
    const tls = await failure(headManifest({ repository: repo('open/fedora'), tag: 'v1' }));
    expect(tls.reason).toBe('SourceUnreachable');
    expect(tls.message).toContain('unable to verify the first certificate');
  });

  it('confirms a pinned digest', async () => {
    const opts = { caPEM: certs.ca.cert };
    expect(await manifestExists(repo('open/fedora'), DIGEST_V1, opts)).toBe(true);
    expect(await manifestExists(repo('open/fedora'), `sha256:${'0'.repeat(64)}`, opts)).toBe(false);
    expect(await failure(manifestExists(repo('open/fedora'), 'sha256:short', opts))).toMatchObject({ reason: 'Malformed' });
  });
});

describe('WWW-Authenticate', () => {
  it('reads distribution\'s Bearer challenge and several challenges in one header', () => {
    expect(parseWWWAuthenticate('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' } },
    ]);
    expect(parseWWWAuthenticate('Basic realm="Registry Realm", Bearer realm="https://t", error="invalid_token"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://t', error: 'invalid_token' } },
    ]);
  });

  it('reads back printed challenges, and never throws on garbage', () => {
    const tokenArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/);
    const challengeArb = fc.record({ scheme: tokenArb, params: fc.dictionary(tokenArb.map((k) => k.toLowerCase()), fc.string({ maxLength: 20 }), { maxKeys: 4 }) });
    fc.assert(
      fc.property(fc.array(challengeArb, { minLength: 1, maxLength: 3 }), (challenges) => {
        const printed = challenges
          .map((c) => `${c.scheme} ${Object.entries(c.params).map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(', ')}`)
          .join(', ');
        expect(parseWWWAuthenticate(printed)).toEqual(challenges.map((c) => ({ scheme: c.scheme.toLowerCase(), params: c.params })));
      }),
    );
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => Array.isArray(parseWWWAuthenticate(s))));
  });
});

describe('splitRepository', () => {
  it('takes the host from the first path segment', () => {
    expect(splitRepository('127.0.0.1:5000/containerdisks/fedora')).toEqual({ host: '127.0.0.1:5000', name: 'containerdisks/fedora' });
    for (const bad of ['fedora', 'quay.io/', 'https://quay.io/x', 'quay.io/x@sha256:00']) expect(() => splitRepository(bad)).toThrow(SourceError);
  });
});
