// Benchmark: VirtFleet scales one VMFleet 0 → N VMs, and kube-controller-manager's ReplicaSet
// controller (built from the same Kubernetes module as the API server) scales a ReplicaSet
// 0 → N pods, one after the other against the same API server with the same client QPS/burst.
// Neither world runs anything below the controller (no scheduler, no simulator), so both
// measure the controller alone: the time from the scale request until the API server reports
// status.replicas == N, and the writes the API server counted meanwhile (its own metrics).
//   node bench/fleet-vs-replicaset.ts [--replicas 1000] [--qps 20] [--burst 30]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import type { VMFleet } from '../controller/fleet/reconciler.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import { createRegistryObjects, goldenImage, vmFleet } from '../test/fixtures/fleets.ts';
import { startSharedRegistry } from '../test/harness/registry.ts';
import { API_SERVER_BACKGROUND, apiServerMetrics, diffWrites, parseWrites } from './lib/apiserver-writes.ts';
import { scaleReplicaSet } from './lib/kube-controller-manager.ts';

const { values } = parseArgs({ options: { replicas: { type: 'string', default: '1000' }, qps: { type: 'string', default: '20' }, burst: { type: 'string', default: '30' } } });
const replicas = Number(values.replicas);
const qps = Number(values.qps);
const burst = Number(values.burst);
const root = join(import.meta.dirname, '..');
const SETTLE_MS = 3_000;

async function scaleFleet(plane: ControlPlane): Promise<{ ms: number; writes: number; byResource: Record<string, number> }> {
  const namespace = 'bench-fleet';
  const client = new KubeClient(plane.kubeConfig(), { qps: 0 });
  await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
  await createRegistryObjects(client, namespace);
  await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));
  const manager = new VirtFleetManager({ kubeConfig: plane.kubeConfig(), namespace, qps, burst, log: { info: () => undefined, error: (m, f) => console.error(m, f) } });
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
    const before = await apiServerMetrics(client.http);
    const started = performance.now();
    await client.mergePatch(RESOURCES.vmFleet, ref, { spec: { replicas } }, 'scale');
    await poll((f) => f.status?.replicas === replicas);
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await apiServerMetrics(client.http);
    const diff = diffWrites(parseWrites(before, { excludeResources: API_SERVER_BACKGROUND }), parseWrites(after, { excludeResources: API_SERVER_BACKGROUND }));
    diff.byResource['vmfleets/scale'] = (diff.byResource['vmfleets/scale'] ?? 0) - 1; // the benchmark's own
    if (diff.byResource['vmfleets/scale'] === 0) delete diff.byResource['vmfleets/scale'];
    return { ms, writes: diff.total - 1, byResource: diff.byResource };
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
  await installCrds(plane.kubeConfig(), [join(root, 'crds'), join(root, 'test', 'fixtures', 'crds')]);
  console.log(`scaling 0 → ${replicas} with client qps=${qps} burst=${burst}, one after the other on one API server`);
  const rs = await scaleReplicaSet(plane, { namespace: 'bench-rs', replicas, qps, burst, settleMs: SETTLE_MS });
  const fleet = await scaleFleet(plane);
  const line = (what: string, ms: number, writes: number, byResource: Record<string, number>) =>
    console.log(`${what.padEnd(34)} ${(ms / 1000).toFixed(1).padStart(6)} s  ${String(writes).padStart(6)} writes (${(writes / replicas).toFixed(2)} per child)  ${Object.entries(byResource).map(([r, n]) => `${r} ${n}`).join(', ')}`);
  line('ReplicaSet (kube-controller-manager)', rs.ms, rs.writes, rs.writesByResource);
  line('VMFleet (virtfleet)', fleet.ms, fleet.writes, fleet.byResource);
  console.log(`ratio VMFleet / ReplicaSet: time ${(fleet.ms / rs.ms).toFixed(2)}, writes ${(fleet.writes / rs.writes).toFixed(2)}`);
} finally {
  await plane.stop();
  await registry.stop();
}
