// `virtfleet run` as users run it: a process serving Prometheus /metrics (parsed with a real
// text-format parser) and the /healthz and /readyz probes, not ready until its caches synced;
// exit code 2, and no local cluster, when its config is missing or unusable; and in-cluster
// credentials that follow a rotated ServiceAccount token.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import parsePrometheus, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { ApiError, KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { startRunProcess, type ControllerProcess } from './harness/controller-process.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtfleet-run-'));
const processes: ControllerProcess[] = [];
const run = (args: string[], env?: NodeJS.ProcessEnv) => {
  const p = startRunProcess(args, env);
  processes.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(processes.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? p.kill('SIGKILL') : Promise.resolve())));
  rmSync(dir, { recursive: true, force: true });
});

/** An environment with no cluster in it: no KUBECONFIG, not in a pod, an empty home. */
function bareEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, VIRTFLEET_HOME: join(home, 'state') };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  return env;
}

describe('a missing or unusable config', () => {
  it.each([
    ['a kubeconfig that is not YAML', (home: string) => {
      const path = join(home, 'broken');
      writeFileSync(path, 'clusters: [unclosed\n');
      return ['--kubeconfig', path];
    }, /--kubeconfig .*broken cannot be read/],
    ['a kubeconfig with no current cluster', (home: string) => {
      const path = join(home, 'empty');
      writeFileSync(path, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
      return ['--kubeconfig', path];
    }, /has no current context with a cluster/],
    ['a kubeconfig that does not exist', (home: string) => ['--kubeconfig', join(home, 'nowhere')], /does not exist/],
    ['no config at all', () => [], /no cluster to run against/],
  ])('%s: one line on stderr, exit code 2, no local cluster', async (_what, argsFor, message) => {
    const home = mkdtempSync(join(dir, 'home-'));
    const p = run(argsFor(home), bareEnv(home));
    const { code } = await p.exited;
    expect(code).toBe(2);
    const errors = p.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('virtfleet run:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(message);
    // `up` would have written its state here and said that it starts etcd.
    expect(readdirSync(home).filter((f) => f === 'state')).toEqual([]);
    expect(p.lines.some((l) => String(l.msg).includes('etcd'))).toBe(false);
  });

  it('a bad bind address is exit code 2 too', async () => {
    const p = run(['--kubeconfig', process.env.VIRTFLEET_TEST_KUBECONFIG!, '--metrics-bind-address', 'localhost']);
    expect((await p.exited).code).toBe(2);
    expect(p.lines.some((l) => String(l.msg).includes('--metrics-bind-address must be'))).toBe(true);
  });
});

/** A TCP relay to the API server that holds every connection until released (TLS passes through). */
async function holdingProxy(target: URL): Promise<{ port: number; release(): void; close(): Promise<void> }> {
  let held = true;
  const waiting: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.pause();
    const relay = () => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      client.pipe(upstream).on('error', () => client.destroy());
      upstream.pipe(client).on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.resume();
    };
    if (held) waiting.push(relay);
    else relay();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    release: () => {
      held = false;
      waiting.splice(0).forEach((r) => r());
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

const sum = (families: PrometheusFamily[], name: string, labels: Record<string, string>) =>
  (families.find((f) => f.name === name)?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((total, m) => total + Number(m.value ?? 0), 0);

describe('metrics and probes', () => {
  let c: FleetCluster;
  let proxy: Awaited<ReturnType<typeof holdingProxy>>;
  beforeAll(async () => {
    c = await fleetCluster('runproc', { nodes: { count: 2 }, speed: 10 }, { controller: false });
    const kc = kubeConfig();
    proxy = await holdingProxy(new URL(kc.getCurrentCluster()!.server));
    const viaProxy = new KubeConfig();
    viaProxy.loadFromString(kc.exportConfig());
    viaProxy.clusters = viaProxy.clusters.map((cl) => ({ ...cl, server: `https://127.0.0.1:${proxy.port}` }));
    writeFileSync(join(dir, 'via-proxy'), viaProxy.exportConfig());
  });
  afterAll(async () => {
    await proxy?.close();
    await c?.stop();
  });

  it('is not ready before its caches sync, then is, and counts reconciles under controller-runtime\'s names', async () => {
    const [metricsPort, probePort] = [await freePort(), await freePort()];
    const p = run(['--kubeconfig', join(dir, 'via-proxy'), '-n', c.namespace, '--migration-budget-scope', 'namespace',
      '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${probePort}`]);
    const probes = `http://127.0.0.1:${probePort}`;
    await waitFor('the probe server', () => get(`${probes}/healthz`).then((r) => r.status === 200), 30_000);
    // The API server's answers are held: the caches cannot have synced.
    const early = await get(`${probes}/readyz`);
    expect(early.status).toBe(500);
    expect(early.text).toContain('not ready');
    proxy.release();
    await waitFor('/readyz ok', () => get(`${probes}/readyz`).then((r) => r.status === 200), 60_000);
    expect((await get(`${probes}/healthz`)).text).toBe('ok\n');

    const scrape = async () => {
      const res = await get(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      return parsePrometheus(res.text);
    };
    const first = await scrape();
    const names = new Set(first.map((f) => f.name));
    for (const name of ['controller_runtime_reconcile_total', 'controller_runtime_reconcile_errors_total', 'controller_runtime_reconcile_time_seconds',
      'workqueue_depth', 'workqueue_adds_total', 'workqueue_queue_duration_seconds', 'workqueue_work_duration_seconds', 'workqueue_retries_total',
      'workqueue_longest_running_processor_seconds', 'rest_client_requests_total', 'leader_election_master_status',
      'virtfleet_fleet_replicas', 'virtfleet_fleet_drifted_replicas', 'virtfleet_fleet_rollout_progress', 'virtfleet_migrations_in_flight',
      'virtfleet_migrations_finished', 'virtfleet_image_versions', 'virtfleet_image_polls']) {
      expect(names).toContain(name);
    }
    expect(first.find((f) => f.name === 'controller_runtime_reconcile_time_seconds')?.type).toBe('HISTOGRAM');
    // The process's own memory, as a memory alert or the soak reads it.
    expect(sum(first, 'process_resident_memory_bytes', {})).toBeGreaterThan(50 * 2 ** 20);
    expect(sum(first, 'nodejs_heap_size_used_bytes', {})).toBeGreaterThan(0);
    expect(sum(first, 'rest_client_requests_total', { code: '200', method: 'GET' })).toBeGreaterThan(0);
    expect(sum(first, 'workqueue_depth', { name: 'vmfleet' })).toBeGreaterThanOrEqual(0);
    const before = sum(first, 'controller_runtime_reconcile_total', { controller: 'vmfleet' });

    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'scraped', { replicas: 2 }));
    await c.waitForFleet('scraped', '2 ready', (s) => s.readyReplicas === 2);
    const after = await waitFor('reconciles counted and the fleet gauge filled', async () => {
      const families = await scrape();
      const desired = sum(families, 'virtfleet_fleet_replicas', { fleet: 'scraped', state: 'desired' });
      const ready = sum(families, 'virtfleet_fleet_replicas', { fleet: 'scraped', state: 'ready' });
      return desired === 2 && ready === 2 ? families : undefined;
    }, 30_000, 500);
    expect(sum(after, 'controller_runtime_reconcile_total', { controller: 'vmfleet' })).toBeGreaterThan(before);
    expect(sum(after, 'controller_runtime_reconcile_total', { controller: 'vmfleet', result: 'success' }) + sum(after, 'controller_runtime_reconcile_total', { controller: 'vmfleet', result: 'requeue_after' })).toBeGreaterThan(0);
    expect(sum(after, 'workqueue_adds_total', { name: 'vmfleet' })).toBeGreaterThan(0);
    expect(sum(after, 'rest_client_requests_total', { method: 'POST' })).toBeGreaterThan(0);
    expect(sum(after, 'leader_election_master_status', {})).toBe(1);

    const stopping = Date.now();
    await p.stop();
    expect((await p.exited).code).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(25_000);
    // Both servers closed with it.
    await expect(get(`${probes}/healthz`)).rejects.toThrow();
  });
});

describe('in-cluster credentials', () => {
  const admin = () => new KubeClient(kubeConfig(), { qps: 0 });
  const ns = `rotate-${Date.now().toString(36)}`;
  beforeAll(async () => {
    const a = admin();
    await a.create(RESOURCES.namespace, { metadata: { name: ns } });
  });
  afterAll(async () => {
    await admin().http.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  /** A TokenRequest for the ServiceAccount bound to a Secret: deleting the Secret revokes the token. */
  async function boundToken(secret: string): Promise<string> {
    const a = admin().http;
    const s = await a.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret } });
    const tr = await a.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: secret, uid: s.metadata.uid } },
    });
    return tr.status.token;
  }

  it('a rotated token file is used from the next request on', async () => {
    const a = admin().http;
    await a.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader' } });
    await a.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] });
    await a.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] });
    const [first, second] = [await boundToken('first'), await boundToken('second')];

    // The files a pod has, under a prefix, read by client-node's own in-cluster loader.
    const prefix = mkdtempSync(join(dir, 'pod-'));
    const saDir = join(prefix, 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
    mkdirSync(saDir, { recursive: true });
    const cluster = kubeConfig().getCurrentCluster()!;
    writeFileSync(join(saDir, 'ca.crt'), Buffer.from(cluster.caData!, 'base64'));
    writeFileSync(join(saDir, 'namespace'), ns);
    const rotate = (token: string) => {
      writeFileSync(join(saDir, '.token.new'), token);
      renameSync(join(saDir, '.token.new'), join(saDir, 'token')); // atomic, as the kubelet swaps it
    };
    rotate(first);
    const server = new URL(cluster.server);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    const kc = new KubeConfig();
    try {
      process.env.KUBERNETES_SERVICE_HOST = server.hostname;
      process.env.KUBERNETES_SERVICE_PORT = server.port;
      kc.loadFromCluster(prefix);
    } finally {
      for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const pod = new KubeClient(kc, { qps: 0 });
    const listConfigMaps = () => pod.http.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${ns}/configmaps`);
    expect((await listConfigMaps()).items).toBeDefined();

    rotate(second);
    await a.request('DELETE', `/api/v1/namespaces/${ns}/secrets/first`);
    // The first token is revoked now: a client holding it on would be refused.
    await waitFor('the first token refused', async () => {
      const stale = new KubeConfig();
      stale.loadFromClusterAndUser({ ...kc.getCurrentCluster()! }, { name: 'stale', token: first });
      try {
        await new KubeClient(stale, { qps: 0 }).http.request('GET', `/api/v1/namespaces/${ns}/configmaps`);
        return false;
      } catch (err) {
        return err instanceof ApiError && err.status === 401;
      }
    }, 30_000, 200);
    expect((await listConfigMaps()).items).toBeDefined();
  });
});
