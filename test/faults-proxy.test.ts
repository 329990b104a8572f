// The controller (as a process) behind a loopback proxy that cuts, hangs and sheds its API server
// connections mid-rollout (issue 16): each rollout still converges with every VM kept (same uids,
// none duplicated), the safety invariants hold at every sample, a silent watch is given up and
// relisted, and under 429s and 500s the requests per second the proxy sees stay within --qps.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { startRunProcess, type ControllerProcess } from './harness/controller-process.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { checkInvariants, type FleetLimits } from './harness/invariants.ts';
import { busiestSeconds, startApiProxy, type ApiProxy } from './harness/proxy.ts';
import { waitFor } from './harness/wait.ts';

const QPS = 20;
const BURST = 20;
const SILENCE_MS = 3_000;
const REPLICAS = 6;

let c: FleetCluster;
let proxy: ApiProxy;
let controller: ControllerProcess;
let dir: string;

beforeAll(async () => {
  c = await fleetCluster('fproxy', { nodes: { count: 4 } }, { controller: false });
  dir = await mkdtemp(join(tmpdir(), 'virtfleet-proxy-'));
  proxy = await startApiProxy(kubeConfig(), dir);
  controller = startRunProcess(['--kubeconfig', proxy.kubeconfigPath, '-n', c.namespace, '--migration-budget-scope', 'namespace', '--qps', String(QPS), '--burst', String(BURST), '--log-level', 'debug'],
    { ...process.env, VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS: String(SILENCE_MS) });
});
afterAll(async () => {
  await controller?.stop();
  await proxy?.close();
  await c?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const limits = (name: string): FleetLimits => ({ name, replicas: REPLICAS, maxUnavailable: 2, maxConcurrent: 2 });
const rolledOut = (s: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string }) =>
  s.replicas === REPLICAS && s.readyReplicas === REPLICAS && s.updatedReplicas === REPLICAS && s.currentRevision === s.updateRevision;

/** The error, with the controller's last log lines: what it did and saw before the test gave up. */
async function withControllerLog(err: unknown): Promise<Error> {
  const vmis = (await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace })).items
    .map((i) => `${i.metadata?.name} rv=${i.metadata?.resourceVersion} ${i.metadata?.uid?.slice(0, 8)} ${i.status?.phase} ${i.metadata?.deletionTimestamp ? `deleting since ${i.metadata.deletionTimestamp}` : ''} finalizers=${(i.metadata?.finalizers ?? []).join(',')}`).join('\n');
  const tail = controller.lines.slice(-40).map((l) => JSON.stringify(l)).join('\n');
  const t0 = proxy.requests[0]?.at ?? 0;
  const requests = proxy.requests.slice(-40).map((r) => `${r.at - t0} ${r.method} ${r.path.replace(/namespaces\/[^/]+\//, '')} ${r.injected ?? r.status ?? '-'} ${r.bytes ?? '-'}B ${r.endedAt ? `ended +${r.endedAt - r.at}` : 'open'}`).join('\n');
  return new Error(`${(err as Error).message}\nVMIs:\n${vmis}\ncontroller's last log lines:\n${tail}\nthe proxy's last requests (ms since its first):\n${requests}`);
}

/** A ready fleet on v1, rolled to v2 while `fault` runs; checks everything converged with nothing lost or duplicated. */
async function rollOutThrough(name: string, fault: () => Promise<void>): Promise<void> {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, name, { replicas: REPLICAS, version: 'v1', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await c.waitForFleet(name, `${name} ready on v1`, rolledOut);
  const before = await c.fleetStatus(name);
  const uids = new Map((await c.fleetVMs(name)).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const checker = await checkInvariants({ kubeConfig: kubeConfig(), namespace: c.namespace, fleets: [limits(name)], migrationBudget: 5 });
  try {
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name }, { spec: { image: { version: 'v2' } } });
    // Mid-rollout: the first VM is down for its restart.
    await waitFor('the rollout under way', async () => (await c.fleetVMs(name)).some((vm) => vm.status?.ready !== true), 30_000, 50);
    await fault();
    await c.waitForFleet(name, `${name} rolled out to v2`, (s) => s.updateRevision !== before?.updateRevision && rolledOut(s) && s.imageVersion === 'v2', 60_000)
      .catch(async (err: unknown) => { throw await withControllerLog(err); });
    const vms = await c.fleetVMs(name);
    const status = await c.fleetStatus(name);
    expect(new Map(vms.map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]))).toEqual(uids);
    for (const vm of vms) expect([vm.metadata!.name, vm.metadata?.labels?.[REVISION_LABEL]]).toEqual([vm.metadata!.name, status?.updateRevision]);
    console.log(`${name}: ${checker.samples()} samples, ${checker.relists()} checker relists, violations: ${checker.violations().length}`);
    expect(checker.violations()).toEqual([]);
    expect(checker.samples()).toBeGreaterThan(REPLICAS);
    // Still the same process: no fault made it exit.
    expect(controller.child.exitCode).toBeNull();
  } finally {
    checker.stop();
  }
}

it('converges when every connection is dropped again and again mid-rollout', async () => {
  let dropped = 0;
  await rollOutThrough('cut', async () => {
    for (let i = 0; i < 6; i++) {
      dropped += proxy.dropAll();
      await new Promise((r) => setTimeout(r, 700));
    }
  });
  expect(dropped).toBeGreaterThan(6);
});

it('gives up watches that go silent, relists and converges while the hung connections stay open', async () => {
  let hungAt = 0;
  let hung = 0;
  await rollOutThrough('hush', async () => {
    hungAt = Date.now();
    hung = proxy.hang();
    // The watchdog notices within about 1.25 silence periods and opens new watches.
    await waitFor('new watches after the hang', () => proxy.requests.some((r) => r.watch && r.at > hungAt + SILENCE_MS / 2), SILENCE_MS * 3, 100);
    // Requests that were under way on the held connections fail now rather than at their timeout.
    proxy.release();
  });
  const rewatched = proxy.requests.filter((r) => r.watch && r.at > hungAt);
  const relisted = proxy.requests.filter((r) => !r.watch && r.method === 'GET' && r.at > hungAt && !r.path.includes('/leases/'));
  console.log(`hang: ${hung} connections held; ${rewatched.length} watches and ${relisted.length} GETs after it; first new watch ${Math.min(...rewatched.map((r) => r.at)) - hungAt} ms after the hang`);
  expect(hung).toBeGreaterThan(0);
  expect(rewatched.length).toBeGreaterThan(0);
});

it('backs off under 429 (Retry-After: 1) and 500 answers, within its --qps at the proxy, keeping the invariants', async () => {
  const name = 'shed';
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, name, { replicas: REPLICAS, version: 'v1', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await c.waitForFleet(name, `${name} ready on v1`, rolledOut);
  const checker = await checkInvariants({ kubeConfig: kubeConfig(), namespace: c.namespace, fleets: [limits(name)], migrationBudget: 5 });
  try {
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name }, { spec: { image: { version: 'v2' } } });
    const from = Date.now();
    proxy.setFaults({ tooManyRequests: 0.3, serverError: 0.1, retryAfterSeconds: 1 });
    await new Promise((r) => setTimeout(r, 8_000));
    const to = Date.now();
    proxy.setFaults({});
    const during = proxy.requests.filter((r) => !r.watch && r.at >= from && r.at < to);
    const injected = during.filter((r) => r.injected !== undefined);
    const perSecond = busiestSeconds(proxy.requests, from, to);
    const average = during.length / ((to - from) / 1000);
    console.log(`shed: ${during.length} requests in ${to - from} ms (${average.toFixed(1)}/s, busiest seconds ${perSecond.slice(0, 5).join(' ')}), ${injected.filter((r) => r.injected === 429).length} answered 429 and ${injected.filter((r) => r.injected === 500).length} answered 500`);
    expect(injected.length).toBeGreaterThan(0);
    // The token bucket: at most burst + qps in any one second, at most qps on average past the burst.
    expect(perSecond[0] ?? 0).toBeLessThanOrEqual(QPS + BURST);
    expect(during.length).toBeLessThanOrEqual(QPS * ((to - from) / 1000) + BURST);
    expect(checker.violations()).toEqual([]);
    expect(controller.child.exitCode).toBeNull();
  } finally {
    checker.stop();
  }
});

it('converges once the API server stops shedding', async () => {
  await c.waitForFleet('shed', 'shed rolled out to v2', (s) => rolledOut(s) && s.imageVersion === 'v2', 60_000)
    .catch(async (err: unknown) => { throw await withControllerLog(err); });
});
