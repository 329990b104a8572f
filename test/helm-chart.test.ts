// The Helm chart charts/virtfleet: lint, rendering checked by kubeconform against the cluster's own
// schemas, install/upgrade/uninstall on the test API server, restricted Pod Security, and the RBAC
// proof: the controller, holding only a token of the chart's ServiceAccount, takes a fleet and a
// GoldenImage through their lifecycle with zero 403s.
//
// The test setup has already installed the real CRDs (other test files use them at the same time),
// so the install test installs a copy of the chart whose CRDs are renamed into a group of its own:
// helm owns, upgrades and keeps those, and never touches the shared ones. The RBAC proof installs
// with crds.install=false.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { GoldenImageStatus, VMFleetStatus } from '../controller/api/generated/types.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { ApiError, KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { generateControlPlaneCerts } from '../controller/local/certs.ts';
import { RETENTION_GUARD_NAME } from '../controller/image/retention-guard.ts';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import { createRegistryObjects, goldenImage, vmFleet } from './fixtures/fleets.ts';
import { createNamespace, kubeConfig, kubectl } from './harness/cluster.ts';
import { REPO_ROOT } from './harness/paths.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts', 'virtfleet');
const CI_VALUES = ['ci/namespaced-values.yaml', 'ci/monitoring-values.yaml'];

let helmBin: string;
let kubeconformBin: string;
let work: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const { stdout } = await run('bash', [join(REPO_ROOT, 'hack', 'build-tools.sh'), 'helm', 'kubeconform'], { maxBuffer: 1 << 20 });
  [helmBin, kubeconformBin] = stdout.trim().split('\n') as [string, string];
  work = await mkdtemp(join(tmpdir(), 'virtfleet-helm-'));
}, 600_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
  await rm(work, { recursive: true, force: true });
}, 120_000);

interface Result { code: number; stdout: string; stderr: string }

async function exec(bin: string, args: string[], input?: string): Promise<Result> {
  try {
    const child = run(bin, args, {
      maxBuffer: 64 << 20,
      timeout: 120_000,
      // Helm's caches and config in the test's temp dir, never the user's.
      env: { ...process.env, KUBECONFIG: process.env.VIRTFLEET_TEST_KUBECONFIG, HELM_CACHE_HOME: join(work, 'helm-cache'), HELM_CONFIG_HOME: join(work, 'helm-config'), HELM_DATA_HOME: join(work, 'helm-data') },
    });
    if (input !== undefined) child.child.stdin?.end(input);
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const helm = (...args: string[]) => exec(helmBin, args);

async function helmOk(...args: string[]): Promise<string> {
  const r = await helm(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> }; spec?: Record<string, unknown> } & Record<string, unknown>;

const documents = (yamlText: string): Manifest[] => parseAllDocuments(yamlText).map((d) => d.toJS() as Manifest).filter((d) => d && typeof d === 'object');
const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

describe('lint and rendering', () => {
  it('passes helm lint --strict with the default values and each ci values file', async () => {
    for (const values of [[], ...CI_VALUES.map((f) => ['-f', join(CHART, f)])]) {
      const r = await helm('lint', '--strict', CHART, ...values);
      expect({ values, code: r.code, out: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({ values, code: 0, out: '' });
    }
  });

  it('renders manifests kubeconform -strict accepts against the API server\'s and the CRDs\' schemas', async () => {
    const schemas = join(work, 'schemas');
    await writeKubeconformSchemas(schemas);
    const examples = (await readdir(join(REPO_ROOT, 'examples'))).filter((f) => f.endsWith('.yaml')).map((f) => join(REPO_ROOT, 'examples', f));
    for (const values of [[], ...CI_VALUES.map((f) => ['-f', join(CHART, f)])]) {
      const rendered = await helmOk('template', 'vf', CHART, '-n', 'virtfleet-system', ...values);
      const kinds = new Set(documents(rendered).map((d) => d.kind));
      const r = await exec(kubeconformBin, ['-strict', '-summary', '-schema-location', join(schemas, '{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json'), '-'], rendered);
      expect({ values, code: r.code, out: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({ values, code: 0, out: '' });
      // Nothing skipped: every kind had a schema (kubeconform fails on a missing one).
      expect(r.stdout).toMatch(new RegExp(`Valid: ${documents(rendered).length}, Invalid: 0, Errors: 0, Skipped: 0`));
      if (values.length > 0 && values[1]!.endsWith('monitoring-values.yaml')) expect([...kinds]).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
    }
    // The converted CRD schemas themselves: the examples validate, a misspelt field does not.
    const good = await exec(kubeconformBin, ['-strict', '-schema-location', join(schemas, '{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json'), ...examples]);
    expect(good).toMatchObject({ code: 0 });
    const bad = await exec(kubeconformBin, ['-strict', '-schema-location', join(schemas, '{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json'), '-'],
      'apiVersion: virtfleet.io/v1alpha1\nkind: VMFleet\nmetadata: {name: x}\nspec: {replicass: 1}\n');
    expect(bad.code).not.toBe(0);
  });

  it('renders the CRDs from the same schema as crds/, behind crds.install and crds.keep', async () => {
    const crdsDir = join(REPO_ROOT, 'crds');
    const crdFiles = (await readdir(crdsDir)).filter((f) => f.startsWith('virtfleet.io_'));
    const committed = await Promise.all(crdFiles.map(async (f) => parse(await readFile(join(crdsDir, f), 'utf8')) as Manifest));
    const crdsOf = async (...set: string[]) => documents(await helmOk('template', 'vf', CHART, ...set.flatMap((s) => ['--set', s]))).filter((d) => d.kind === 'CustomResourceDefinition');
    const rendered = await crdsOf();
    expect(rendered.map((d) => [d.metadata.name, d.spec]).sort()).toEqual(committed.map((d) => [d.metadata.name, d.spec]).sort());
    for (const crd of rendered) {
      expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(crd.metadata.labels?.['app.kubernetes.io/instance']).toBe('vf');
    }
    expect((await crdsOf('crds.keep=false')).map((d) => d.metadata.annotations?.['helm.sh/resource-policy'])).toEqual([undefined, undefined]);
    expect(await crdsOf('crds.install=false')).toEqual([]);
  });

  it('grants Roles in the watched namespace only, the Lease and the retention guard\'s ConfigMap only by name, and passes the controller flags', async () => {
    const docs = documents(await helmOk('template', 'vf', CHART, '-n', 'virtfleet-system', '--set', 'watchNamespace=fleets', '--set', 'controller.qps=7', '--set', 'controller.logLevel=debug'));
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    expect(byKind('Role').map((r) => [r.metadata.name, r.metadata.namespace])).toEqual([['vf-virtfleet', 'fleets'], ['vf-virtfleet-retention-guard', 'virtfleet-system'], ['vf-virtfleet-leader-election', 'virtfleet-system']]);
    const clusterRules = byKind('ClusterRole').flatMap((r) => r.rules as { resources: string[]; verbs: string[] }[]);
    expect(clusterRules.flatMap((r) => r.verbs).every((v) => v === 'list' || v === 'watch')).toBe(true);
    expect(clusterRules.flatMap((r) => r.resources).sort()).toEqual(['goldenimages', 'nodes']);
    const guard = byKind('Role')[1]!.rules as { resourceNames?: string[]; verbs: string[] }[];
    expect(guard).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['virtfleet-retiring-versions'], verbs: ['get', 'patch'] }]);
    const lease = byKind('Role')[2]!.rules as { resourceNames?: string[]; verbs: string[] }[];
    expect(lease).toEqual([expect.objectContaining({ verbs: ['create'] }), expect.objectContaining({ resourceNames: ['virtfleet-controller'], verbs: ['get', 'update'] })]);
    const args = ((byKind('Deployment')[0]!.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]!.args);
    expect(args).toEqual(expect.arrayContaining(['run', '--namespace=fleets', '--leader-elect', '--leader-election-namespace=virtfleet-system', '--qps=7', '--log-level=debug', '--migration-budget-scope=namespace', '--retention-guard-namespace=virtfleet-system', '--metrics-bind-address=:8080', '--health-probe-bind-address=:8081']));
  });

  it('refuses values of the wrong type and several replicas without leader election', async () => {
    expect((await helm('template', 'vf', CHART, '--set', 'controller.qps=fast')).code).not.toBe(0);
    expect((await helm('template', 'vf', CHART, '--set', 'unknownValue=1')).code).not.toBe(0);
    const r = await helm('template', 'vf', CHART, '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=2');
    expect(r.stderr).toContain('needs leaderElection.enabled');
  });

  it('documents every value of values.yaml in the chart README, with its default', async () => {
    const expected = valuesTable(await readFile(join(CHART, 'values.yaml'), 'utf8'));
    const readme = await readFile(join(CHART, 'README.md'), 'utf8');
    const table = /<!-- values:start -->\n([\s\S]*?)<!-- values:end -->/.exec(readme)?.[1];
    expect(table).toBe(expected);
  });
});

describe('on the API server', () => {
  it('installs everything, admits its pod template under restricted Pod Security, upgrades a changed CRD and keeps CRDs and resources on uninstall', async () => {
    const group = `${randomBytes(3).toString('hex')}.helm.test.virtfleet.io`;
    const chart = await chartWithOwnGroup(group);
    const ns = await createNamespace('helm-install');
    cleanups.push(() => ns.remove());
    const release = unique('vf');
    cleanups.push(() => kubectl(['delete', 'crd', '--ignore-not-found', `helmvmfleets.${group}`, `helmgoldenimages.${group}`]));
    cleanups.push(() => helm('uninstall', release, '-n', ns.name));
    await helmOk('install', release, chart, '-n', ns.name, '--set', 'metrics.serviceMonitor.enabled=false');

    // Every object of the release exists.
    const manifest = await helmOk('get', 'manifest', release, '-n', ns.name);
    const objects = documents(manifest);
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    const got = await exec(process.env.VIRTFLEET_TEST_KUBECTL!, ['--kubeconfig', process.env.VIRTFLEET_TEST_KUBECONFIG!, 'get', '-n', ns.name, '-f', '-', '-o', 'name'], manifest);
    expect(got.stderr).toBe('');
    expect(got.stdout.trim().split('\n')).toHaveLength(objects.length);

    // The Deployment's pod template, as a Pod, in a namespace that enforces restricted.
    const restricted = await createNamespace('helm-psa');
    cleanups.push(() => restricted.remove());
    expect((await kubectl(['label', 'namespace', restricted.name, 'pod-security.kubernetes.io/enforce=restricted'])).code).toBe(0);
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const template = (deployment.spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
    const pod = (spec: Record<string, unknown>) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: 'controller', namespace: restricted.name }, spec });
    const admitted = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: pod(template.spec) });
    expect(admitted).toMatchObject({ code: 0, stderr: '' });
    // The control: the namespace does enforce it.
    const containers = template.spec.containers as { securityContext: Record<string, unknown> }[];
    const loosened = { ...template.spec, containers: containers.map((c) => ({ ...c, securityContext: { ...c.securityContext, allowPrivilegeEscalation: true } })) };
    const refused = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: pod(loosened) });
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');

    // Cluster mode: the ServiceAccount reads VMs everywhere, and nothing it was not given.
    const sa = `system:serviceaccount:${ns.name}:${release}-virtfleet`;
    const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, ...args])).stdout.trim();
    expect(await can('list', 'virtualmachines.kubevirt.io', '--all-namespaces')).toBe('yes');
    expect(await can('patch', 'vmfleets.virtfleet.io/status', '-n', 'default')).toBe('yes');
    expect(await can('list', 'pods', '--all-namespaces')).toBe('no');
    expect(await can('list', 'secrets', '--all-namespaces')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io/virtfleet-controller', '-n', ns.name)).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io/virtfleet-controller', '-n', 'default')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io/other', '-n', ns.name)).toBe('no');

    // A resource under the release's CRD, to survive the uninstall.
    const image = { ...goldenImage(ns.name, 'kept'), apiVersion: `${group}/v1alpha1` };
    expect((await kubectl(['create', '-f', '-'], { input: JSON.stringify(image) })).code).toBe(0);

    // helm upgrade carries a changed CRD to the API server.
    const crdFile = join(chart, 'templates', 'crds', 'virtfleet.io_vmfleets.yaml');
    await writeFile(crdFile, (await readFile(crdFile, 'utf8')).replace('    shortNames:\n      - helmvmfl\n', '    shortNames:\n      - helmvmfl\n      - helmvmflupgraded\n'));
    await helmOk('upgrade', release, chart, '-n', ns.name);
    const shortNames = await kubectl(['get', 'crd', `helmvmfleets.${group}`, '-o', 'jsonpath={.spec.names.shortNames}']);
    expect(JSON.parse(shortNames.stdout)).toEqual(['helmvmfl', 'helmvmflupgraded', 'helmvmfls']);

    // helm uninstall with crds.keep: the CRDs and the GoldenImage stay, the rest goes.
    await helmOk('uninstall', release, '-n', ns.name);
    expect((await kubectl(['get', 'crd', `helmvmfleets.${group}`, `helmgoldenimages.${group}`, '-o', 'name'])).code).toBe(0);
    expect((await kubectl(['get', `helmgoldenimages.${group}`, 'kept', '-n', ns.name, '-o', 'name'])).stdout.trim()).toBe(`goldenimage.${group}/kept`);
    const gone = await kubectl(['get', 'deployment', `${release}-virtfleet`, '-n', ns.name]);
    expect(gone.stderr).toContain('NotFound');
    expect((await kubectl(['get', 'clusterrole', `${release}-virtfleet`])).stderr).toContain('NotFound');
  }, 180_000);

  describe('RBAC proof in the namespaced mode', () => {
    let c: SimulatedCluster;
    let proxy: CountingProxy;
    let saConfig: KubeConfig;
    let manager: VirtFleetManager;
    const errors: string[] = [];

    beforeAll(async () => {
      c = await simulatedCluster('helm-rbac', { speed: 20 });
      cleanups.push(() => c.stop());
      const release = unique('vf');
      await helmOk('install', release, CHART, '-n', c.namespace, '--set', 'crds.install=false', '--set', `watchNamespace=${c.namespace}`);
      cleanups.push(() => helm('uninstall', release, '-n', c.namespace));
      const token = await kubectl(['create', 'token', `${release}-virtfleet`, '-n', c.namespace, '--duration=1h']);
      expect(token.code).toBe(0);
      proxy = await countingProxy();
      cleanups.push(() => proxy.close());
      saConfig = new KubeConfig();
      saConfig.loadFromOptions({
        clusters: [{ name: 'proxy', server: proxy.url, caData: Buffer.from(proxy.ca).toString('base64') }],
        users: [{ name: 'virtfleet', token: token.stdout.trim() }],
        contexts: [{ name: 'virtfleet', cluster: 'proxy', user: 'virtfleet' }],
        currentContext: 'virtfleet',
      });
      await createRegistryObjects(c.client, c.namespace);
      await c.client.create(RESOURCES.goldenImage, goldenImage(c.namespace, 'fedora'));
      // The chart's flags in the namespaced mode: this namespace, the Lease here, its own budget.
      manager = new VirtFleetManager({
        kubeConfig: saConfig,
        namespace: c.namespace,
        qps: 0,
        resyncMs: 60_000,
        migrationBudgetScope: 'namespace',
        leaderElection: { namespace: c.namespace },
        retentionGuard: { namespace: c.namespace, name: RETENTION_GUARD_NAME },
        log: { info: () => undefined, error: (msg, fields) => void errors.push(`${msg} ${JSON.stringify(fields ?? {})}`) },
      });
      await manager.start();
      cleanups.push(() => manager.stop());
    }, 180_000);

    const fleetStatus = async (name: string) => (await c.client.get<{ metadata?: object; status?: VMFleetStatus }>(RESOURCES.vmFleet, { namespace: c.namespace, name }))?.status;
    const waitForFleet = (name: string, what: string, probe: (s: VMFleetStatus) => boolean, timeoutMs = 90_000) =>
      waitFor(what, async () => {
        const s = await fleetStatus(name);
        return !!s && probe(s);
      }, timeoutMs, 250);

    it('takes a GoldenImage through discovery and a fleet through create, scale, rollout, drift migration and deletion with zero 403s', async () => {
      const ref = { namespace: c.namespace, name: 'web' };
      await waitFor('the GoldenImage Ready after discovery', async () => {
        const s = (await c.client.get<{ metadata?: object; status?: GoldenImageStatus }>(RESOURCES.goldenImage, { namespace: c.namespace, name: 'fedora' }))?.status;
        return s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && (s.versions?.length ?? 0) >= 3;
      }, 60_000, 250);

      await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 2 }));
      await waitForFleet('web', 'two VMs ready', (s) => s.readyReplicas === 2);

      await c.client.mergePatch(RESOURCES.vmFleet, ref, { spec: { replicas: 3 } }, 'scale');
      await waitForFleet('web', 'scaled to three', (s) => s.readyReplicas === 3 && s.replicas === 3);

      const before = (await fleetStatus('web'))!.updateRevision;
      await c.client.mergePatch(RESOURCES.vmFleet, ref, { spec: { image: { channel: null, version: 'v2' } } });
      await waitForFleet('web', 'rolled out onto v2', (s) => s.updateRevision !== before && s.imageVersion === 'v2' && s.updatedReplicas === 3 && s.readyReplicas === 3, 120_000);

      // Raised sockets within maxSockets: KubeVirt hotplugs them at the next migration, which the
      // fleet starts (pendingLiveUpdate drift).
      await c.client.mergePatch(RESOURCES.vmFleet, ref, { spec: { template: { spec: { template: { spec: { domain: { cpu: { sockets: 2 } } } } } } } });
      await waitFor('a drift migration that succeeded', async () => {
        const migrations = await c.client.list<{ metadata?: object; status?: { phase?: string } }>(RESOURCES.vmim, { namespace: c.namespace, labelSelector: `${FLEET_LABEL}=web` });
        return migrations.items.some((m) => m.status?.phase === 'Succeeded');
      }, 120_000, 250);
      await waitForFleet('web', 'nothing migrating', (s) => (s.migratingReplicas ?? 0) === 0 && s.readyReplicas === 3, 120_000);

      await c.client.delete(RESOURCES.vmFleet, ref);
      await waitFor('the fleet and its VMs gone (finalizer removed)', async () => !(await c.client.get(RESOURCES.vmFleet, ref)), 60_000, 250);

      expect(proxy.requests()).toBeGreaterThan(20);
      expect(proxy.forbidden()).toEqual([]);
      expect(errors.filter((e) => /forbidden|403/i.test(e))).toEqual([]);
    }, 420_000);

    it('cannot read or write outside its namespace, nor what it was not given inside it', async () => {
      const sa = new KubeClient(saConfig, { qps: 0 });
      const status = async (p: Promise<unknown>) => p.then(() => 200, (err: unknown) => (err instanceof ApiError ? err.status : -1));
      const other = await createNamespace('helm-other');
      cleanups.push(() => other.remove());
      expect(await status(sa.list(RESOURCES.vm, { namespace: other.name }))).toBe(403);
      expect(await status(sa.list(RESOURCES.vm, {}))).toBe(403);
      expect(await status(sa.list(RESOURCES.vmFleet, { namespace: other.name }))).toBe(403);
      expect(await status(sa.get(RESOURCES.secret, { namespace: other.name, name: 'anything' }))).toBe(403);
      expect(await status(sa.create(RESOURCES.configMap, { metadata: { namespace: other.name, name: 'x' } }))).toBe(403);
      expect(await status(sa.create(RESOURCES.vm, { metadata: { namespace: other.name, name: 'x' }, spec: {} }))).toBe(403);
      expect(await status(sa.get(RESOURCES.lease, { namespace: other.name, name: 'virtfleet-controller' }))).toBe(403);
      // Inside: no list of Secrets, no writes to ConfigMaps, no Pods at all.
      expect(await status(sa.list(RESOURCES.secret, { namespace: c.namespace }))).toBe(403);
      expect(await status(sa.create(RESOURCES.configMap, { metadata: { namespace: c.namespace, name: 'x' } }))).toBe(403);
      // Cluster-wide, read-only: nodes (placement) and GoldenImages (images other namespaces share).
      expect(await status(sa.list(RESOURCES.node, {}))).toBe(200);
      expect(await status(sa.list(RESOURCES.goldenImage, {}))).toBe(200);
      expect(await status(sa.list(RESOURCES.vmim, {}))).toBe(403);
    }, 60_000);
  });
});

interface CountingProxy {
  url: string;
  ca: string;
  requests(): number;
  forbidden(): string[];
  close(): Promise<void>;
}

/**
 * A TLS proxy on 127.0.0.1 in front of the test API server that records every 403 it relays:
 * the controller's kubeconfig points at it, so nothing it asks for escapes the count.
 */
async function countingProxy(): Promise<CountingProxy> {
  const upstream = kubeConfig().getCurrentCluster()!;
  const target = new URL(upstream.server);
  const upstreamCa = upstream.caData ? Buffer.from(upstream.caData, 'base64') : await readFile(upstream.caFile!);
  const certs = await generateControlPlaneCerts();
  let requests = 0;
  const forbidden: string[] = [];
  const server: Server = createHttpsServer({ cert: certs.serving.cert, key: certs.serving.key }, (req, res) => {
    requests++;
    const out = httpsRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host }, ca: upstreamCa, timeout: 60_000 }, (up) => {
      if (up.statusCode === 403) forbidden.push(`${req.method} ${req.url}`);
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('timeout', () => out.destroy(new Error('upstream timeout')));
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: certs.ca.cert,
    requests: () => requests,
    forbidden: () => [...forbidden],
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A copy of the chart whose CRDs are in `group`, so that this test's helm owns CRDs of its own. */
async function chartWithOwnGroup(group: string): Promise<string> {
  const dir = join(work, unique('chart'));
  await cp(CHART, dir, { recursive: true });
  for (const f of await readdir(join(dir, 'templates', 'crds'))) {
    const path = join(dir, 'templates', 'crds', f);
    const text = await readFile(path, 'utf8');
    // Names of their own too (plural, singular, short names, no category), so that kubectl in
    // the test files running beside this one never resolves `vmfleet` or `gimg` to these copies.
    const renamed = text
      .replace(/^ {2}name: (\w+)\.virtfleet\.io$/m, `  name: helm$1.${group}`)
      .replace(/^ {2}group: virtfleet\.io$/m, `  group: ${group}`)
      .replace(/^ {4}(plural|singular): (\w+)$/gm, '    $1: helm$2')
      .replace(/^ {6}- (\w+)$/gm, (line, word: string) => (word === 'virtfleet' ? line : `      - helm${word}`))
      .replace(/^ {4}categories:\n {6}- virtfleet\n/m, '');
    expect(renamed).toContain(`group: ${group}`);
    await writeFile(path, renamed);
  }
  return dir;
}

type JsonSchema = Record<string, unknown>;

/**
 * kubeconform's schema layout (`<kind>-<group>-<version>.json`) from the test API server's own
 * OpenAPI v2 document (every built-in kind the chart renders, at the server's version), the
 * virtfleet CRDs' openAPIV3Schema, and minimal closed schemas for the Prometheus Operator's two
 * kinds (their CRDs are not installed here): each object closed with additionalProperties false,
 * as openapi2jsonschema --strict does, so that a misspelt field fails.
 */
async function writeKubeconformSchemas(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const raw = await kubectl(['get', '--raw', '/openapi/v2']);
  const definitions = (JSON.parse(raw.stdout) as { definitions: Record<string, JsonSchema> }).definitions;
  const closedDefinitions = Object.fromEntries(Object.entries(definitions).map(([k, v]) => [k, closed(v)]));
  closedDefinitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  closedDefinitions['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  const fileName = (kind: string, group: string, version: string) => `${kind.toLowerCase()}-${group || version}-${version}.json`;
  const wanted = ['Deployment', 'Service', 'ServiceAccount', 'ConfigMap', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'PodDisruptionBudget', 'NetworkPolicy', 'CustomResourceDefinition', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
  for (const [name, def] of Object.entries(definitions)) {
    const gvks = (def['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? [];
    for (const gvk of gvks) {
      if (!wanted.includes(gvk.kind)) continue;
      await writeFile(join(dir, fileName(gvk.kind, gvk.group, gvk.version)), JSON.stringify({ ...closedDefinitions[name], definitions: closedDefinitions }));
    }
  }
  for (const f of await readdir(join(REPO_ROOT, 'crds'))) {
    if (!f.startsWith('virtfleet.io_')) continue; // the CRDs, not the retention guard's policy
    const crd = parse(await readFile(join(REPO_ROOT, 'crds', f), 'utf8')) as { spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: JsonSchema } }[] } };
    for (const v of crd.spec.versions) {
      await writeFile(join(dir, fileName(crd.spec.names.kind, crd.spec.group, v.name)), JSON.stringify(closed(v.schema.openAPIV3Schema)));
    }
  }
  const str = { type: 'string' };
  const labels = { type: 'object', additionalProperties: str };
  const meta = { type: 'object', required: ['name'], properties: { name: str, namespace: str, labels, annotations: labels } };
  const resource = (kind: string, spec: JsonSchema) => closed({ type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'], properties: { apiVersion: { enum: ['monitoring.coreos.com/v1'] }, kind: { enum: [kind] }, metadata: meta, spec } });
  await writeFile(join(dir, fileName('ServiceMonitor', 'monitoring.coreos.com', 'v1')), JSON.stringify(resource('ServiceMonitor', {
    type: 'object', required: ['selector', 'endpoints'], properties: {
      selector: { type: 'object', properties: { matchLabels: labels } },
      namespaceSelector: { type: 'object', properties: { matchNames: { type: 'array', items: str }, any: { type: 'boolean' } } },
      endpoints: { type: 'array', items: { type: 'object', properties: { port: str, path: str, interval: str, scrapeTimeout: str, scheme: str } } },
    },
  })));
  const rule = { type: 'object', required: ['expr'], properties: { alert: str, record: str, expr: str, for: str, labels, annotations: labels } };
  await writeFile(join(dir, fileName('PrometheusRule', 'monitoring.coreos.com', 'v1')), JSON.stringify(resource('PrometheusRule', {
    type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: { type: 'object', required: ['name', 'rules'], properties: { name: str, interval: str, rules: { type: 'array', items: rule } } } } },
  })));
}

/** Closes every object schema that lists properties and says nothing about others. */
function closed(schema: JsonSchema): JsonSchema {
  if (Array.isArray(schema)) return schema.map((s: JsonSchema) => closed(s)) as unknown as JsonSchema;
  if (!schema || typeof schema !== 'object') return schema;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'enum' || k === 'required' || k === 'x-kubernetes-group-version-kind' ? v : closed(v as JsonSchema);
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}

/**
 * The chart README's table of values: every key that carries a `# --` comment, by its dotted path,
 * with its type, its default and the comment. A key under no such comment fails here, so a value
 * added without documentation cannot slip through.
 */
function valuesTable(valuesYaml: string): string {
  const doc = parseDocument(valuesYaml);
  const rows: string[] = [];
  const undocumented: string[] = [];
  const visit = (node: YamlNode | null, path: string[]) => {
    if (!isMap(node)) {
      undocumented.push(path.join('.'));
      return;
    }
    node.items.forEach((pair, i) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const full = [...path, key];
      // The yaml library gives the comment above a map's first key to the map itself.
      const above = (pair.key as { commentBefore?: string }).commentBefore ?? (i === 0 ? node.commentBefore : undefined);
      const comment = above?.split('\n').find((l) => l.trimStart().startsWith('--'));
      const value = pair.value as YamlNode | null;
      if (comment) {
        const js: unknown = value && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : null;
        const type = isSeq(value) ? 'list' : isMap(value) ? 'object' : js === null ? 'null' : typeof js === 'number' ? (Number.isInteger(js) ? 'int' : 'float') : typeof js;
        rows.push(`| \`${full.join('.')}\` | ${type} | \`${JSON.stringify(js)}\` | ${comment.trim().replace(/^--\s*/, '').replace(/\|/g, '\\|')} |`);
      } else {
        visit(value, full);
      }
    });
  };
  visit(doc.contents as YamlNode, []);
  if (undocumented.length > 0) throw new Error(`values without a "# --" comment: ${undocumented.join(', ')}`);
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...rows, ''].join('\n');
}
