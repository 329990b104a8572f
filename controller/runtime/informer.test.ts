// The informer against a loopback HTTPS server that plays an API server's watch endpoint: it
// answers some watches at once and holds others unanswered, so that what the informer does with
// a watch that hangs before its answer (abort it when the watchdog restarts) and with a handler
// that throws (the other handlers still see the event) is seen on real sockets.
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { generateControlPlaneCerts } from '../local/certs.ts';
import { Informer } from './informer.ts';

let server: Server;
let kc: KubeConfig;
const open = new Set<Socket>();
/** What the server does with the next watch requests: hold them unanswered, or answer and keep the response. */
let mode: 'hold' | 'answer' = 'hold';
const answered: ServerResponse[] = [];
let watches = 0;

beforeAll(async () => {
  const certs = await generateControlPlaneCerts();
  server = createServer({ cert: certs.serving.cert, key: certs.serving.key }, (req, res) => {
    if (!/[?&]watch=true/.test(req.url ?? '')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [] }));
      return;
    }
    watches++;
    if (mode === 'hold') return;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    answered.push(res);
  });
  server.on('secureConnection', (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(certs.ca.cert).toString('base64') }],
    users: [{ name: 'u', token: 'test' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
});
afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const configMap = (name: string, rv: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });

it('aborts a watch that hung before its answer when the watchdog restarts it, so only one stays open', async () => {
  mode = 'hold';
  watches = 0;
  const informer = new Informer<KubernetesObject>(kc, {
    path: '/api/v1/namespaces/ns/configmaps',
    list: async () => ({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: '10' }, items: [] }),
    silenceTimeoutMs: 1_000,
    onError: () => undefined,
  });
  await informer.start();
  try {
    // Four restarts by the watchdog, each after about 1 to 1.25 silent seconds.
    await until('four watches held', () => watches >= 5, 15_000);
    // Each restart closed the connection of the watch before it: at most the current one (and
    // one the kernel is still closing) stays.
    await until('the earlier held watches closed', () => open.size <= 2);
    expect(open.size).toBeLessThanOrEqual(2);
  } finally {
    await informer.stop();
  }
  await until('no connection left after stop', () => open.size === 0);
});

it('hands each event to every handler even when one of them throws, and reports the throw', async () => {
  mode = 'answer';
  answered.length = 0;
  const failures: string[] = [];
  const informer = new Informer<KubernetesObject>(kc, {
    path: '/api/v1/namespaces/ns/configmaps',
    list: async () => ({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: '10' }, items: [] }),
    onHandlerError: (err, type, obj) => failures.push(`${type} ${obj.metadata?.name}: ${String(err)}`),
    onError: () => undefined,
  });
  const seen: string[] = [];
  informer.on((type, obj) => {
    if (obj.metadata?.name === 'bad') throw new Error('index broke');
  });
  informer.on((type, obj) => seen.push(`${type} ${obj.metadata?.name}`));
  await informer.start();
  try {
    await until('the watch answered', () => answered.length === 1);
    const res = answered[0]!;
    // Two events in one write, the second split over two writes: lines are put back together.
    res.write(`${JSON.stringify({ type: 'ADDED', object: configMap('bad', '11') })}\n${JSON.stringify({ type: 'ADDED', object: configMap('good', '12') }).slice(0, 20)}`);
    res.write(`${JSON.stringify({ type: 'ADDED', object: configMap('good', '12') }).slice(20)}\n`);
    await until('both events seen', () => seen.length === 2);
    expect(seen).toEqual(['add bad', 'add good']);
    expect(failures).toEqual(['add bad: Error: index broke']);
    expect(informer.get('bad', 'ns')?.metadata?.resourceVersion).toBe('11');
    // The watch stays: no restart, so no second watch request.
    await new Promise((r) => setTimeout(r, 300));
    expect(answered.length).toBe(1);
  } finally {
    await informer.stop();
  }
});
