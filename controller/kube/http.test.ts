import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { selfSignedServingCert, startLoopbackServer, type LoopbackServer } from '../sources/test-servers.ts';
import { KubeHttp } from './http.ts';

describe('KubeHttp connections', () => {
  let server: LoopbackServer;
  /** The client port of every request's connection: one port per TLS connection. */
  const ports: number[] = [];
  let kc: KubeConfig;

  beforeAll(async () => {
    const tls = await selfSignedServingCert();
    server = await startLoopbackServer((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ kind: 'Status', path: req.url }));
    }, tls);
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'loopback', server: server.url, caData: Buffer.from(tls.cert).toString('base64') }],
      users: [{ name: 'user', token: 'token' }],
      contexts: [{ name: 'loopback', cluster: 'loopback', user: 'user' }],
      currentContext: 'loopback',
    });
  });
  afterAll(() => server.close());

  it('keeps connections alive: many requests, at most maxSockets connections, the token on each', async () => {
    ports.length = 0;
    const http = new KubeHttp(kc, { qps: 0, maxSockets: 4 });
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 12 }, (_, i) => http.request('GET', `/api/v1/namespaces/r${round}-${i}`)));
    }
    expect(ports).toHaveLength(60);
    expect(new Set(ports).size).toBeLessThanOrEqual(4);
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer token')).toBe(true);
  });
});
