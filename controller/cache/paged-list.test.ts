// listInPages against a loopback HTTPS server that pages as the API server does (limit and
// continue, every page at the first page's resourceVersion, 410 for a continue token it expired).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import { selfSignedServingCert, startLoopbackServer, type LoopbackServer } from '../sources/test-servers.ts';
import { listInPages, pageQuery } from './paged-list.ts';

const OBJECTS = Array.from({ length: 1234 }, (_, i) => ({ metadata: { name: `vm-${i}`, namespace: 'ns', annotations: { big: 'x'.repeat(100) } } }));

describe('listInPages', () => {
  let server: LoopbackServer;
  let client: KubeClient;
  /** Continue tokens the server has expired. */
  const expired = new Set<string>();

  beforeAll(async () => {
    const tls = await selfSignedServingCert();
    server = await startLoopbackServer((req, res) => {
      const url = new URL(req.url ?? '', 'https://x');
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const token = url.searchParams.get('continue') ?? '';
      res.setHeader('Content-Type', 'application/json');
      if (expired.has(token)) {
        res.statusCode = 410;
        return res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'continue token expired' }));
      }
      const from = token ? Number(token) : 0;
      const to = limit > 0 ? Math.min(OBJECTS.length, from + limit) : OBJECTS.length;
      res.end(JSON.stringify({ kind: 'List', metadata: { resourceVersion: '42', ...(to < OBJECTS.length ? { continue: String(to) } : {}) }, items: OBJECTS.slice(from, to) }));
    }, tls);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'loopback', server: server.url, caData: Buffer.from(tls.cert).toString('base64') }],
      users: [{ name: 'user', token: 'token' }],
      contexts: [{ name: 'loopback', cluster: 'loopback', user: 'user' }],
      currentContext: 'loopback',
    });
    client = new KubeClient(kc, { qps: 0 });
  });
  afterAll(() => server.close());

  it('reads every object once, in order, a page at a time, each shrunk as its page arrives', async () => {
    server.requests.length = 0;
    const list = await listInPages<(typeof OBJECTS)[number]>(client, RESOURCES.vm, { namespace: 'ns', labelSelector: 'virtfleet.io/fleet', limit: 100, transform: (o) => delete (o.metadata as { annotations?: unknown }).annotations });
    expect(list.items.map((o) => o.metadata.name)).toEqual(OBJECTS.map((o) => o.metadata.name));
    expect(list.items.every((o) => !('annotations' in o.metadata))).toBe(true);
    expect(list.metadata?.resourceVersion).toBe('42');
    expect(server.requests).toHaveLength(13);
    expect(server.requests.every((r) => r.path.startsWith('/apis/kubevirt.io/v1/namespaces/ns/virtualmachines?labelSelector=virtfleet.io%2Ffleet&limit=100'))).toBe(true);
  });

  it('lists again without pages when a continue token expired midway', async () => {
    expired.add('500');
    server.requests.length = 0;
    const list = await listInPages<(typeof OBJECTS)[number]>(client, RESOURCES.vm, { namespace: 'ns', limit: 250 });
    expect(list.items).toHaveLength(OBJECTS.length);
    expect(server.requests.map((r) => r.path.replace(/^[^?]*/, ''))).toEqual(['?limit=250', '?limit=250&continue=250', '?limit=250&continue=500', '']);
    expired.clear();
  });

  it('encodes the selector, the page size and the token', () => {
    expect(pageQuery({ labelSelector: 'a in (b,c)', limit: 500, continueToken: 'x=/+' })).toBe('?labelSelector=a+in+%28b%2Cc%29&limit=500&continue=x%3D%2F%2B');
  });
});
