// Benchmark: the controller at rest. N fleets × 100 VMs, every VMI Running on 1,000 simulated
// nodes, at several sizes N (fleets are added between sizes). At each size a controller process
// converges the new fleets and is stopped; then a fresh controller process (as a restarted
// replica would) lists everything, and over a few resync periods the benchmark measures, per
// resync: the controller's own writes (must be 0), its CPU seconds (utime + stime from
// /proc/<pid>/stat), its RSS (VmRSS from /proc/<pid>/status) and V8 heap (process.memoryUsage()
// of the controller, asked over its stdin). Each process is alone in its figures: the control
// plane, the simulator (a child process) and this benchmark run elsewhere.
//   node bench/steady-state.ts [--sizes 20,50,100] [--vms 100] [--nodes 1000] [--resync 10]
//     [--resyncs 3] [--speed 20] [--qps 500] [--burst 1000] [--timeout 900]
// The figures depend on the machine (CPU above all); the README gives them for the 2-core one.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { VMFleet } from '../controller/fleet/reconciler.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import type { DeepPartial, SimConfig } from '../sim/config.ts';
import { createRegistryObjects, goldenImage, vmFleet } from '../test/fixtures/fleets.ts';
import { startSharedRegistry } from '../test/harness/registry.ts';
import { API_SERVER_BACKGROUND, apiServerWritesByResource, diffWrites } from './lib/apiserver-writes.ts';
import { spawnController, type ControllerChild, type ControllerStats } from './lib/controller-child.ts';
import { spawnSimulator } from './lib/sim-child.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '20,50,100' },
    vms: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '1000' },
    resync: { type: 'string', default: '10' },
    resyncs: { type: 'string', default: '3' },
    speed: { type: 'string', default: '20' },
    qps: { type: 'string', default: '500' },
    burst: { type: 'string', default: '1000' },
    /** Seconds the whole run may take before it gives up. */
    timeout: { type: 'string', default: '900' },
  },
});
const sizes = values.sizes!.split(',').map(Number).sort((a, b) => a - b);
const vmsPerFleet = Number(values.vms);
const nodes = Number(values.nodes);
const resyncMs = Number(values.resync) * 1000;
const resyncs = Number(values.resyncs);
const deadline = Date.now() + Number(values.timeout) * 1000;
const namespace = 'bench-steady';
const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const MiB = 1024 ** 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const max = (xs: number[]) => Math.max(...xs);
const writesOf = (s: ControllerStats) => WRITE_VERBS.reduce((n, v) => n + (s.requests[v] ?? 0), 0);
const flags = { namespace, qps: values.qps!, burst: values.burst!, resync: `${values.resync}s`, migrationBudgetScope: 'namespace' };

interface Row {
  fleets: number;
  vms: number;
  convergeS: number;
  convergedRssMiB: number;
  syncS: number;
  reconcilesPerResync: number[];
  writesPerResync: number[];
  cpuPerResync: number[];
  rssMiB: number[];
  heapUsedMiB: number[];
  hwmMiB: number;
  /** Every client's writes the API server served over the windows, by resource (its own left out). */
  apiServerWrites: Record<string, number>;
}

/** Every fleet up to `fleets` has all its VMs ready. */
async function converged(client: KubeClient, fleets: number): Promise<boolean> {
  const list = await client.list<VMFleet>(RESOURCES.vmFleet, { namespace });
  const ready = list.items.filter((f) => f.status?.readyReplicas === vmsPerFleet && f.status?.replicas === vmsPerFleet).length;
  process.stdout.write(`\r  ${ready}/${fleets} fleets ready `);
  return ready >= fleets;
}

async function measure(fleets: number, controller: ControllerChild, syncS: number): Promise<Omit<Row, 'convergeS' | 'convergedRssMiB'>> {
  // The first pass over every fleet (the informers' adds) is not at rest; wait it out, then a
  // resync period more, so the windows below start in steady state.
  while ((await controller.stats()).reconciles < fleets) await sleep(200);
  await sleep(resyncMs);
  const rows: { stats: ControllerStats; cpu: number; rss: number; hwm: number }[] = [];
  const apiBefore = await apiServerWritesByResource(plane.kubeConfig(), { excludeResources: API_SERVER_BACKGROUND });
  for (let i = 0; i <= resyncs; i++) {
    if (i > 0) await sleep(resyncMs);
    const f = controller.figures();
    rows.push({ stats: await controller.stats(), cpu: f.cpuSeconds, rss: f.rss, hwm: f.hwm });
  }
  const apiWrites = diffWrites(apiBefore, await apiServerWritesByResource(plane.kubeConfig(), { excludeResources: API_SERVER_BACKGROUND }));
  const deltas = rows.slice(1).map((r, i) => ({ r, before: rows[i]! }));
  return {
    fleets,
    vms: fleets * vmsPerFleet,
    syncS,
    reconcilesPerResync: deltas.map(({ r, before }) => r.stats.reconciles - before.stats.reconciles),
    writesPerResync: deltas.map(({ r, before }) => writesOf(r.stats) - writesOf(before.stats)),
    cpuPerResync: deltas.map(({ r, before }) => r.cpu - before.cpu),
    rssMiB: rows.slice(1).map((r) => r.rss / MiB),
    heapUsedMiB: rows.slice(1).map((r) => r.stats.heapUsed / MiB),
    hwmMiB: rows.at(-1)!.hwm / MiB,
    apiServerWrites: apiWrites.byResource,
  };
}

const registry = await startSharedRegistry();
const plane = await ControlPlane.start({ assets: await ensureAssets() }).catch(async (err: unknown) => {
  await registry.stop();
  throw err;
});
let stopSim: (() => Promise<void>) | undefined;
let controller: ControllerChild | undefined;
const results: Row[] = [];
try {
  const root = join(import.meta.dirname, '..');
  await installCrds(plane.kubeConfig(), [join(root, 'crds'), join(root, 'schemas', 'kubevirt')]);
  const client = new KubeClient(plane.kubeConfig(), { qps: 0, maxSockets: 32 });
  await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
  await createRegistryObjects(client, namespace);
  await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));
  const sim: DeepPartial<SimConfig> = {
    namespaces: [namespace],
    speed: Number(values.speed),
    nodes: { count: nodes, prefix: 'node' },
    vmi: { pendingMs: 100, schedulingMs: 100, scheduledMs: 200 },
  };
  stopSim = (await spawnSimulator(plane.kubeconfigPath, sim)).stop;
  console.log(`${nodes} simulated nodes; sizes ${sizes.join(', ')} fleets × ${vmsPerFleet} VMs, resync ${values.resync} s, ${resyncs} resyncs measured`);

  let created = 0;
  for (const fleets of sizes) {
    if (Date.now() > deadline) throw new Error('out of time');
    console.log(`${fleets} fleets × ${vmsPerFleet} VMs:`);
    for (; created < fleets; created++) await client.create(RESOURCES.vmFleet, vmFleet(namespace, `fleet-${created}`, { replicas: vmsPerFleet }));
    const convergeStart = Date.now();
    controller = await spawnController(plane.kubeconfigPath, flags);
    while (!(await converged(client, fleets))) {
      if (Date.now() > deadline) throw new Error(`not converged before the deadline (${fleets} fleets)`);
      await sleep(2000);
    }
    const convergeS = (Date.now() - convergeStart) / 1000;
    const convergedRssMiB = controller.figures().rss / MiB;
    console.log(`converged in ${convergeS.toFixed(0)} s (RSS ${convergedRssMiB.toFixed(0)} MiB)`);
    await controller.stop();

    const syncStart = Date.now();
    controller = await spawnController(plane.kubeconfigPath, flags);
    const syncS = (Date.now() - syncStart) / 1000;
    const row = { ...(await measure(fleets, controller, syncS)), convergeS, convergedRssMiB };
    const stats = await controller.stats();
    await controller.stop();
    controller = undefined;
    results.push(row);
    console.log(`  writes/resync ${row.writesPerResync.join(' ')}, CPU s/resync ${row.cpuPerResync.map((x) => x.toFixed(2)).join(' ')}, RSS MiB ${row.rssMiB.map((x) => x.toFixed(0)).join(' ')}, heap MiB ${row.heapUsedMiB.map((x) => x.toFixed(0)).join(' ')}, errors ${stats.errors}; API server writes meanwhile (anyone's) ${JSON.stringify(row.apiServerWrites)}`);
  }

  const fmt = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} / ${max(xs).toFixed(digits)}`;
  console.log(`\nmedian / max over ${resyncs} resyncs (resync ${values.resync} s, ${nodes} nodes, every VMI Running)\n`);
  console.log('| fleets × VMs | VMs | caches synced | reconciles per resync | writes per resync | CPU s per resync | RSS MiB | heap used MiB | peak RSS MiB | RSS after converging MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.fleets} × ${vmsPerFleet} | ${r.vms} | ${r.syncS.toFixed(1)} s | ${fmt(r.reconcilesPerResync, 0)} | ${fmt(r.writesPerResync, 0)} | ${fmt(r.cpuPerResync, 2)} | ${fmt(r.rssMiB, 0)} | ${fmt(r.heapUsedMiB, 0)} | ${r.hwmMiB.toFixed(0)} | ${r.convergedRssMiB.toFixed(0)} |`);
  }
  const first = results[0]!;
  const last = results.at(-1)!;
  if (results.length > 1) {
    const growth = (a: number, b: number) => (b / a).toFixed(2);
    console.log(`\n${last.vms} VMs ÷ ${first.vms} VMs = ${growth(first.vms, last.vms)}: RSS ×${growth(median(first.rssMiB), median(last.rssMiB))}, heap ×${growth(median(first.heapUsedMiB), median(last.heapUsedMiB))}, CPU per resync ×${growth(median(first.cpuPerResync), median(last.cpuPerResync))}`);
  }
} finally {
  await controller?.stop();
  await stopSim?.();
  await plane.stop();
  await registry.stop();
}
