// Benchmark: VirtFleet scales one VMFleet 0 → N VMs, and kube-controller-manager's ReplicaSet
// controller (built from the same Kubernetes module as the API server) scales a ReplicaSet
// 0 → N pods, one after the other against the same API server with the same client QPS/burst.
// Neither world runs anything below the controller (no scheduler, no simulator), so both
// measure the controller alone: the time from the scale request until the API server reports
// status.replicas == N, and the writes the API server counted meanwhile (its own metrics).
// Beside them, the API server's own limit for the same N VMs: a tuned client (bench/lib/
// tuned-client.ts, 64 requests in flight over keep-alive connections, no rate limit) creating
// them (POST, as the fleet does) and server-side-applying them. A warm-up round (a fleet of
// min(N, 100) VMs and as many tuned creates) goes first, so no row pays for cold CRD handlers,
// schema caches or JIT; then every row runs once per repetition, interleaved.
//   node bench/fleet-vs-replicaset.ts [--replicas 1000 | --sizes 1000,5000,10000] [--qps 20] [--burst 30] [--reps 3] [--max-sockets 32]
// (--max-sockets: the controller client's keep-alive connections, default the manager's 32.)
// With --sizes every size runs its repetitions in turn on the same API server (each repetition's
// VMs are deleted before the next, so etcd holds about one size at a time) and a last table sets
// the sizes side by side, per VM, to show how the cost grows.
// The times depend on the machine; the ratios of one run are what to compare.
import { parseArgs } from 'node:util';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject } from '@kubernetes/client-node';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import type { VMFleet } from '../controller/fleet/reconciler.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import { CRD_DIRS } from '../controller/cli/local.ts';
import { createRegistryObjects, goldenImage, vmFleet } from '../test/fixtures/fleets.ts';
import { startSharedRegistry } from '../test/harness/registry.ts';
import { API_SERVER_BACKGROUND, apiServerMetrics, diffWrites, parseWrites } from './lib/apiserver-writes.ts';
import { loadNote, max, median } from './lib/fleet-world.ts';
import { scaleReplicaSet } from './lib/kube-controller-manager.ts';
import { asNew, writeAllTuned } from './lib/tuned-client.ts';
import { watchUntil } from './lib/watch-until.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({ options: { replicas: { type: 'string', default: '1000' }, sizes: { type: 'string' }, qps: { type: 'string', default: '20' }, burst: { type: 'string', default: '30' }, reps: { type: 'string', default: '3' }, 'max-sockets': { type: 'string' } } });
const sizes = parseSizes(values.sizes ?? values.replicas, 'numbers of VMs');
const qps = Number(values.qps);
const burst = Number(values.burst);
const reps = Number(values.reps);
const SETTLE_MS = 3_000;

interface Rows {
  rs: number[];
  fleet: number[];
  create: number[];
  apply: number[];
  rsWrites: number[];
  fleetWrites: number[];
}

async function scaleFleet(plane: ControlPlane, namespace: string, replicas: number): Promise<{ ms: number; writes: number; byResource: Record<string, number>; vms: V1VirtualMachine[] }> {
  const client = new KubeClient(plane.kubeConfig(), { qps: 0 });
  await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
  await createRegistryObjects(client, namespace);
  await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));
  const manager = new VirtFleetManager({ kubeConfig: plane.kubeConfig(), namespace, qps, burst, ...(values['max-sockets'] ? { maxSockets: Number(values['max-sockets']) } : {}), log: { info: () => undefined, error: (m, f) => console.error(m, f) } });
  await manager.start();
  try {
    await client.create(RESOURCES.vmFleet, vmFleet(namespace, 'bench', { replicas: 0 }));
    const ref = { namespace, name: 'bench' };
    const poll = async (done: (f: VMFleet) => boolean) => {
      for (;;) {
        const f = await client.get<VMFleet>(RESOURCES.vmFleet, ref);
        if (f && done(f)) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await poll((f) => f.status?.observedGeneration === f.metadata?.generation);
    const scaled = await watchUntil<VMFleet & KubernetesObject>(plane.kubeConfig(), client, RESOURCES.vmFleet, ref, (f) => f.status?.replicas === replicas, 600_000, `status.replicas == ${replicas}`);
    const before = await apiServerMetrics(client.http);
    const started = performance.now();
    await client.mergePatch(RESOURCES.vmFleet, ref, { spec: { replicas } }, 'scale');
    const ms = (await scaled.met).at - started;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await apiServerMetrics(client.http);
    const diff = diffWrites(parseWrites(before, { excludeResources: API_SERVER_BACKGROUND }), parseWrites(after, { excludeResources: API_SERVER_BACKGROUND }));
    diff.byResource['vmfleets/scale'] = (diff.byResource['vmfleets/scale'] ?? 0) - 1; // the benchmark's own
    if (diff.byResource['vmfleets/scale'] === 0) delete diff.byResource['vmfleets/scale'];
    const vms = (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace })).items;
    return { ms, writes: diff.total - 1, byResource: diff.byResource, vms };
  } finally {
    await manager.stop();
  }
}

// The fixture GoldenImage names a loopback registry holding its images (tag 42, v1..v3).
const registry = await startSharedRegistry();
const plane = await ControlPlane.start({ assets: await ensureAssets() }).catch(async (err: unknown) => {
  await registry.stop();
  throw err;
});
try {
  await installCrds(plane.kubeConfig(), CRD_DIRS);
  console.log(`scaling 0 → ${sizes.join(', ')} with client qps=${qps} burst=${burst}, one after the other on one API server; ${reps} repetitions after a warm-up; ${loadNote()}`);
  const tuned = async (namespace: string, vms: readonly V1VirtualMachine[], verb: 'create' | 'apply') => {
    const client = new KubeClient(plane.kubeConfig(), { qps: 0 });
    await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
    return writeAllTuned(plane.kubeConfig(), RESOURCES.vm, vms.map((vm) => asNew(vm, namespace)), { verb });
  };
  // No namespace controller runs, so a repetition's VMs go by one collection DELETE per namespace
  // (a DELETE of 10,000 VMs outlasts the client's 30-s default timeout).
  const cleaner = new KubeClient(plane.kubeConfig(), { qps: 0 });
  const deleteVMs = async (namespaces: string[]) => {
    for (const n of namespaces) await cleaner.http.request('DELETE', pathOf(RESOURCES.vm, n), undefined, undefined, { timeoutMs: 600_000 });
  };
  const warm = await scaleFleet(plane, 'bench-warmup', Math.min(sizes[0]!, 100));
  await tuned('bench-warmup-tuned', warm.vms, 'create');
  await deleteVMs(['bench-warmup', 'bench-warmup-tuned']);
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  const fmt = (xs: number[], digits = 2) => `${median(xs).toFixed(digits)} / ${max(xs).toFixed(digits)}`;
  const seconds = (xs: number[]) => fmt(xs.map((x) => x / 1000));
  const measured: { replicas: number; rows: Rows }[] = [];
  for (const replicas of sizes) {
    const rows: Rows = { rs: [], fleet: [], create: [], apply: [], rsWrites: [], fleetWrites: [] };
    for (let rep = 0; rep < reps; rep++) {
      const ns = (what: string) => `bench-${what}-${replicas}-${rep}`;
      const rs = await scaleReplicaSet(plane, { namespace: ns('rs'), replicas, qps, burst, settleMs: SETTLE_MS });
      const fleet = await scaleFleet(plane, ns('fleet'), replicas);
      const create = await tuned(ns('tuned-create'), fleet.vms, 'create');
      const apply = await tuned(ns('tuned-apply'), fleet.vms, 'apply');
      await deleteVMs([ns('fleet'), ns('tuned-create'), ns('tuned-apply')]);
      rows.rs.push(rs.ms);
      rows.fleet.push(fleet.ms);
      rows.create.push(create.ms);
      rows.apply.push(apply.ms);
      rows.rsWrites.push(rs.writes);
      rows.fleetWrites.push(fleet.writes);
      console.log(`${replicas} rep ${rep + 1}: ReplicaSet ${(rs.ms / 1000).toFixed(2)} s, VMFleet ${(fleet.ms / 1000).toFixed(2)} s (${fleet.writes} writes: ${Object.entries(fleet.byResource).map(([r, n]) => `${r} ${n}`).join(', ')}), tuned create ${(create.ms / 1000).toFixed(2)} s, tuned apply ${(apply.ms / 1000).toFixed(2)} s; VMFleet / tuned create ${(fleet.ms / create.ms).toFixed(2)}, / tuned apply ${(fleet.ms / apply.ms).toFixed(2)}, / ReplicaSet ${(fleet.ms / rs.ms).toFixed(2)}`);
    }
    measured.push({ replicas, rows });
    console.log(`\n0 → ${replicas}, median / max of ${reps} (times depend on the machine; ${loadNote()})\n`);
    console.log('| row | seconds | writes | VMFleet ÷ row (same repetition) |');
    console.log('|---|---|---|---|');
    console.log(`| ReplicaSet (kube-controller-manager), qps ${qps} burst ${burst} | ${seconds(rows.rs)} | ${fmt(rows.rsWrites, 0)} | ${fmt(ratios(rows.fleet, rows.rs))} |`);
    console.log(`| VMFleet (virtfleet), qps ${qps} burst ${burst} | ${seconds(rows.fleet)} | ${fmt(rows.fleetWrites, 0)} (minimum ${replicas + 1}) | 1 |`);
    console.log(`| tuned client, ${replicas} creates (POST), 64 in flight | ${seconds(rows.create)} | ${replicas} | ${fmt(ratios(rows.fleet, rows.create))} |`);
    console.log(`| tuned client, ${replicas} server-side applies, 64 in flight | ${seconds(rows.apply)} | ${replicas} | ${fmt(ratios(rows.fleet, rows.apply))} |\n`);
  }
  if (measured.length > 1) {
    console.log(`how the cost grows: median / max of ${reps} per size (${loadNote()})\n`);
    console.log('| VMs | VMFleet s | VMFleet ms per VM | tuned applies ms per VM | VMFleet ÷ tuned applies | VMFleet ÷ tuned creates | VMFleet ÷ ReplicaSet | writes ÷ minimum |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const { replicas, rows } of measured) {
      const perVM = (xs: number[]) => fmt(xs.map((x) => x / replicas));
      console.log(`| ${replicas} | ${seconds(rows.fleet)} | ${perVM(rows.fleet)} | ${perVM(rows.apply)} | ${fmt(ratios(rows.fleet, rows.apply))} | ${fmt(ratios(rows.fleet, rows.create))} | ${fmt(ratios(rows.fleet, rows.rs))} | ${fmt(rows.fleetWrites.map((w) => w / (replicas + 1)), 3)} |`);
    }
  }
} finally {
  await plane.stop();
  await registry.stop();
}
