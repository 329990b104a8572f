// Benchmark: the controller at rest. N fleets × 100 VMs, every VMI Running on 1,000 simulated
// nodes, at several sizes N (fleets are added between sizes). At each size a controller process
// converges the new fleets and is stopped; then a fresh controller process (as a restarted
// replica would) lists everything, and over a few resync periods the benchmark measures, per
// resync: the controller's own writes (must be 0), its CPU seconds (utime + stime from
// /proc/<pid>/stat), its RSS (VmRSS from /proc/<pid>/status) and V8 heap (process.memoryUsage()
// of the controller, asked over its stdin). Each process is alone in its figures: the control
// plane, the simulator (a child process) and this benchmark run elsewhere. The controller runs
// as the image runs it: compiled to JavaScript (hack/build-js.sh) with the chart's default
// Node.js flags (--sources and --node-flags change that).
//   node bench/steady-state.ts [--sizes 10,50,100] [--vms 100] [--nodes 1000] [--resync 10]
//     [--resyncs 3] [--speed 20] [--qps 500] [--burst 1000] [--timeout 2400] [--sources]
//     [--node-flags '--max-semi-space-size=2 --max-old-space-size=512'] [--variants 'flags;flags']
//     [--heap-snapshot DIR] [--baseline DIR]
// --variants compares sets of Node.js flags side by side: at each size a fresh controller is
// started with each set in turn and measured alone. --heap-snapshot writes a V8 heap snapshot of
// each measured controller into DIR and prints where its bytes are (bench/lib/heap-summary.ts).
// --baseline DIR measures every variant again from the checkout at DIR (say, a worktree of the
// commit before a change), right after this one's, on the same world.
// The figures depend on the machine (CPU above all); the README gives them for the 2-core one.
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { apiServerWritesByResource, API_SERVER_BACKGROUND, diffWrites } from './lib/apiserver-writes.ts';
import { spawnController, type ControllerChild, type ControllerStats, type SpawnOptions } from './lib/controller-child.ts';
import { heapSummary } from './lib/heap-summary.ts';
import { loadNote, max, median, MiB, sleep, startFleetWorld } from './lib/fleet-world.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50,100' },
    vms: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '1000' },
    resync: { type: 'string', default: '10' },
    resyncs: { type: 'string', default: '3' },
    speed: { type: 'string', default: '20' },
    qps: { type: 'string', default: '500' },
    burst: { type: 'string', default: '1000' },
    /** Seconds the whole run may take before it gives up. */
    timeout: { type: 'string', default: '2400' },
    /** Run the TypeScript sources instead of the compiled JavaScript. */
    sources: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '--max-semi-space-size=2 --max-old-space-size=512' },
    /** Sets of Node.js flags separated by ';', each measured at every size (default: --node-flags alone). */
    variants: { type: 'string' },
    'heap-snapshot': { type: 'string' },
    baseline: { type: 'string' },
  },
});
const sizes = parseSizes(values.sizes!, 'numbers of fleets');
const vmsPerFleet = Number(values.vms);
const nodes = Number(values.nodes);
const resyncMs = Number(values.resync) * 1000;
const resyncs = Number(values.resyncs);
const deadline = Date.now() + Number(values.timeout) * 1000;
const namespace = 'bench-steady';
const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const splitFlags = (flagSet: string) => flagSet.split(' ').filter((f) => f !== '');
const nodeFlags = splitFlags(values['node-flags']!);
const runAs: SpawnOptions = { javascript: !values.sources, nodeFlags };
const flagSets = (values.variants?.split(';') ?? [values['node-flags']!]).map(splitFlags);
/** Each set of flags from this checkout, then (with --baseline) from the baseline's. */
const variants: { nodeFlags: string[]; tree?: string }[] = flagSets.flatMap((f) => [{ nodeFlags: f }, ...(values.baseline ? [{ nodeFlags: f, tree: values.baseline }] : [])]);
const variantName = (v: (typeof variants)[number]) => `${v.nodeFlags.join(' ')}${v.tree ? ' (baseline)' : ''}`;

const writesOf = (s: ControllerStats) => WRITE_VERBS.reduce((n, v) => n + (s.requests[v] ?? 0), 0);
const flags = { namespace, qps: values.qps!, burst: values.burst!, resync: `${values.resync}s`, migrationBudgetScope: 'namespace' as const };

interface Row {
  /** The Node.js flags the measured controller ran with. */
  flags: string;
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
  heapTotalMiB: number[];
  externalMiB: number[];
  hwmMiB: number;
  /** Every client's writes the API server served over the windows, by resource (its own left out). */
  apiServerWrites: Record<string, number>;
}

async function measure(fleets: number, controller: ControllerChild, syncS: number): Promise<Omit<Row, 'convergeS' | 'convergedRssMiB' | 'flags'>> {
  // The first pass over every fleet (the informers' adds) is not at rest; wait it out, then a
  // resync period more, so the windows below start in steady state.
  while ((await controller.stats()).reconciles < fleets) {
    if (Date.now() > deadline) throw new Error(`the controller had not reconciled all ${fleets} fleets before the deadline`);
    await sleep(200);
  }
  await sleep(resyncMs);
  const rows: { stats: ControllerStats; cpu: number; rss: number; hwm: number }[] = [];
  const apiBefore = await apiServerWritesByResource(world.plane.kubeConfig(), { excludeResources: API_SERVER_BACKGROUND });
  for (let i = 0; i <= resyncs; i++) {
    if (i > 0) await sleep(resyncMs);
    const f = controller.figures();
    rows.push({ stats: await controller.stats(), cpu: f.cpuSeconds, rss: f.rss, hwm: f.hwm });
  }
  const apiWrites = diffWrites(apiBefore, await apiServerWritesByResource(world.plane.kubeConfig(), { excludeResources: API_SERVER_BACKGROUND }));
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
    heapTotalMiB: rows.slice(1).map((r) => r.stats.heapTotal / MiB),
    externalMiB: rows.slice(1).map((r) => r.stats.external / MiB),
    hwmMiB: rows.at(-1)!.hwm / MiB,
    apiServerWrites: apiWrites.byResource,
  };
}

/** Writes the controller's heap snapshot and prints where its bytes are. */
async function snapshot(controller: ControllerChild, name: string): Promise<void> {
  mkdirSync(values['heap-snapshot']!, { recursive: true });
  const path = await controller.heapSnapshot(resolve(values['heap-snapshot']!, `${name}.heapsnapshot`));
  console.log(`  heap snapshot ${path}:`);
  for (const g of heapSummary(JSON.parse(readFileSync(path, 'utf8'))).slice(0, 20)) console.log(`    ${(g.bytes / MiB).toFixed(1).padStart(6)} MiB ${String(g.count).padStart(8)} × ${g.group}`);
}

const world = await startFleetWorld({ namespace, nodes, speed: Number(values.speed), vmsPerFleet });
let controller: ControllerChild | undefined;
const results: Row[] = [];
try {
  console.log(`${nodes} simulated nodes; sizes ${sizes.join(', ')} fleets × ${vmsPerFleet} VMs, resync ${values.resync} s, ${resyncs} resyncs measured; controller ${runAs.javascript ? 'compiled' : 'sources'} ${nodeFlags.join(' ')}; ${loadNote()}`);
  for (const fleets of sizes) {
    if (Date.now() > deadline) throw new Error('out of time');
    console.log(`${fleets} fleets × ${vmsPerFleet} VMs:`);
    await world.addFleets(fleets);
    const convergeStart = Date.now();
    controller = await spawnController(world.plane.kubeconfigPath, flags, runAs);
    for (;;) {
      const ready = await world.readyFleets();
      process.stdout.write(`\r  ${ready}/${fleets} fleets ready `);
      if (ready >= fleets) break;
      if (Date.now() > deadline) throw new Error(`not converged before the deadline (${fleets} fleets)`);
      await sleep(2000);
    }
    const convergeS = (Date.now() - convergeStart) / 1000;
    const convergedRssMiB = controller.figures().rss / MiB;
    console.log(`converged in ${convergeS.toFixed(0)} s (RSS ${convergedRssMiB.toFixed(0)} MiB)`);
    await controller.stop();

    for (const variant of variants) {
      const syncStart = Date.now();
      controller = await spawnController(world.plane.kubeconfigPath, flags, { ...runAs, ...variant });
      const syncS = (Date.now() - syncStart) / 1000;
      const row = { ...(await measure(fleets, controller, syncS)), convergeS, convergedRssMiB, flags: variantName(variant) };
      const stats = await controller.stats();
      if (values['heap-snapshot']) await snapshot(controller, `${fleets}x${vmsPerFleet}-${variants.indexOf(variant)}`);
      await controller.stop();
      controller = undefined;
      results.push(row);
      console.log(`  [${row.flags}] writes/resync ${row.writesPerResync.join(' ')}, CPU s/resync ${row.cpuPerResync.map((x) => x.toFixed(2)).join(' ')}, RSS MiB ${row.rssMiB.map((x) => x.toFixed(0)).join(' ')}, heap used/total MiB ${row.heapUsedMiB.map((x, i) => `${x.toFixed(0)}/${row.heapTotalMiB[i]!.toFixed(0)}`).join(' ')}, external MiB ${row.externalMiB.map((x) => x.toFixed(0)).join(' ')}, errors ${stats.errors}; API server writes meanwhile (anyone's) ${JSON.stringify(row.apiServerWrites)}`);
    }
  }

  const fmt = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} / ${max(xs).toFixed(digits)}`;
  console.log(`\nmedian / max over ${resyncs} resyncs (resync ${values.resync} s, ${nodes} nodes, every VMI Running; ${loadNote()})\n`);
  console.log('| fleets × VMs | Node.js flags | VMs | caches synced | reconciles per resync | writes per resync | CPU s per resync | RSS MiB | heap used MiB | heap total MiB | external MiB | peak RSS MiB | RSS after converging MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.fleets} × ${vmsPerFleet} | ${r.flags} | ${r.vms} | ${r.syncS.toFixed(1)} s | ${fmt(r.reconcilesPerResync, 0)} | ${fmt(r.writesPerResync, 0)} | ${fmt(r.cpuPerResync, 2)} | ${fmt(r.rssMiB, 0)} | ${fmt(r.heapUsedMiB, 0)} | ${fmt(r.heapTotalMiB, 0)} | ${fmt(r.externalMiB, 0)} | ${r.hwmMiB.toFixed(0)} | ${r.convergedRssMiB.toFixed(0)} |`);
  }
  const first = results[0]!;
  const last = results.findLast((r) => r.flags === first.flags)!;
  if (last !== first) {
    const growth = (a: number, b: number) => (b / a).toFixed(2);
    console.log(`\n${last.vms} VMs ÷ ${first.vms} VMs = ${growth(first.vms, last.vms)}: RSS ×${growth(median(first.rssMiB), median(last.rssMiB))}, heap ×${growth(median(first.heapUsedMiB), median(last.heapUsedMiB))}, CPU per resync ×${growth(median(first.cpuPerResync), median(last.cpuPerResync))}`);
  }
} finally {
  await controller?.stop();
  await world.stop();
}
