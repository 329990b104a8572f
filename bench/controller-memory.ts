// Benchmark: where the controller process's memory goes, and what the ways of starting it change.
// At each size (0 fleets, then N fleets × 100 VMs, every VMI Running on simulated nodes) it runs
// the controller as a process of its own in each variant (its TypeScript sources through Node's
// type stripping, or compiled to JavaScript by hack/build-js.sh as the image runs it; with or
// without V8 flags), one variant after the other and then again (repetitions interleaved, so a
// busy moment of the shared machine does not fall on one variant only). After the first
// reconcile of every fleet and a resync period more it reads process.memoryUsage() and V8's
// heap spaces from the controller and its CPU from /proc.
//   node bench/controller-memory.ts [--sizes 0,2,4] [--vms 100] [--nodes 50] [--reps 2]
//     [--variants ts,js,js-semi1,js-semi1-old128] [--resync 5] [--timeout 900] [--baseline DIR]
// --baseline DIR also runs every variant from the checkout at DIR (say, a worktree of the commit
// before a change), interleaved with this one's, rows marked "baseline".
// The figures depend on the machine and on Node's version; compare the rows of one run.
import { parseArgs } from 'node:util';
import { spawnController, type ControllerChild, type SpawnOptions } from './lib/controller-child.ts';
import { loadNote, max, median, MiB, sleep, startFleetWorld } from './lib/fleet-world.ts';
import { parseSizes } from './lib/sizes.ts';

/** The ways of starting the controller this benchmark compares. */
const VARIANTS: Record<string, SpawnOptions> = {
  ts: {},
  js: { javascript: true },
  'js-semi1': { javascript: true, nodeFlags: ['--max-semi-space-size=1'] },
  'js-semi2': { javascript: true, nodeFlags: ['--max-semi-space-size=2'] },
  'js-semi4': { javascript: true, nodeFlags: ['--max-semi-space-size=4'] },
  'js-semi1-old128': { javascript: true, nodeFlags: ['--max-semi-space-size=1', '--max-old-space-size=128'] },
  'js-size': { javascript: true, nodeFlags: ['--optimize-for-size'] },
};

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '0,2,4' },
    vms: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '50' },
    reps: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'ts,js,js-semi1,js-semi1-old128' },
    resync: { type: 'string', default: '5' },
    speed: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '900' },
    baseline: { type: 'string' },
  },
});
const sizes = parseSizes(values.sizes!, 'numbers of fleets', { min: 0 });
const named = values.variants!.split(',');
for (const v of named) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
/** Each named variant, and again from the baseline checkout when one is given. */
const variants = values.baseline ? named.flatMap((v) => [v, `${v}@baseline`]) : named;
const spawnOptions = (variant: string): SpawnOptions => {
  const [name, tree] = variant.split('@');
  return { ...VARIANTS[name!], ...(tree ? { tree: values.baseline! } : {}) };
};
const vmsPerFleet = Number(values.vms);
const reps = Number(values.reps);
const resyncMs = Number(values.resync) * 1000;
const deadline = Date.now() + Number(values.timeout) * 1000;
const namespace = 'bench-memory';
const flags = { namespace, qps: '500', burst: '1000', resync: `${values.resync}s`, migrationBudgetScope: 'namespace' as const };

interface Sample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  newSpace: number;
  oldSpace: number;
  code: number;
  largeObjects: number;
  /** RSS that is neither V8's committed heap nor external memory V8 knows of: code, native heap, stacks, the binary. */
  rest: number;
  cpuPerResync: number;
}

async function sample(controller: ControllerChild, fleets: number): Promise<Sample> {
  while ((await controller.stats()).reconciles < fleets) {
    if (Date.now() > deadline) throw new Error(`the controller had not reconciled all ${fleets} fleets before the deadline`);
    await sleep(200);
  }
  await sleep(resyncMs);
  const cpuBefore = controller.figures().cpuSeconds;
  await sleep(resyncMs);
  const cpuPerResync = controller.figures().cpuSeconds - cpuBefore;
  const s = await controller.stats();
  const space = (name: string) => s.heapSpaces[name]?.size ?? 0;
  return {
    rss: s.rss, heapTotal: s.heapTotal, heapUsed: s.heapUsed, external: s.external, arrayBuffers: s.arrayBuffers,
    newSpace: space('new_space'), oldSpace: space('old_space'), code: space('code_space') + space('code_large_object_space'),
    largeObjects: space('large_object_space'), rest: s.rss - s.heapTotal - s.external, cpuPerResync,
  };
}

const world = await startFleetWorld({ namespace, nodes: Number(values.nodes), speed: Number(values.speed), vmsPerFleet });
const rows: { fleets: number; variant: string; samples: Sample[] }[] = [];
try {
  console.log(`${values.nodes} simulated nodes; sizes ${sizes.join(', ')} fleets × ${vmsPerFleet} VMs; variants ${variants.join(', ')}; ${reps} repetitions; ${loadNote()}`);
  for (const fleets of sizes) {
    await world.addFleets(fleets);
    // A controller in the default variant converges the fleets first; the measured ones find them at rest.
    if (fleets > 0) {
      const converging = await spawnController(world.plane.kubeconfigPath, flags);
      while ((await world.readyFleets()) < fleets) {
        if (Date.now() > deadline) throw new Error(`not converged before the deadline (${fleets} fleets)`);
        await sleep(2000);
      }
      await converging.stop();
    }
    const bySize = variants.map((variant) => ({ fleets, variant, samples: [] as Sample[] }));
    rows.push(...bySize);
    for (let rep = 0; rep < reps; rep++) {
      for (const row of bySize) {
        if (Date.now() > deadline) throw new Error('out of time');
        const controller = await spawnController(world.plane.kubeconfigPath, flags, spawnOptions(row.variant));
        try {
          const s = await sample(controller, fleets);
          row.samples.push(s);
          console.log(`  ${fleets} × ${vmsPerFleet}, ${row.variant}: RSS ${(s.rss / MiB).toFixed(0)} MiB, heap ${(s.heapUsed / MiB).toFixed(0)}/${(s.heapTotal / MiB).toFixed(0)} MiB, external ${(s.external / MiB).toFixed(0)} MiB`);
        } finally {
          await controller.stop();
        }
      }
    }
  }
  const col = (samples: Sample[], f: (s: Sample) => number, digits = 0) => {
    const xs = samples.map(f);
    return `${median(xs).toFixed(digits)} / ${max(xs).toFixed(digits)}`;
  };
  const mib = (k: keyof Sample) => (s: Sample) => s[k] / MiB;
  console.log(`\nMiB, median / max of ${reps}; ${loadNote()}\n`);
  console.log('| fleets × VMs | variant | tree | node flags | RSS | heap total | heap used | new space | old space | code | large objects | external | array buffers | rest of RSS | CPU s per resync |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const v = spawnOptions(r.variant);
    console.log(`| ${r.fleets} × ${vmsPerFleet} | ${v.javascript ? 'JavaScript' : 'TypeScript'} | ${v.tree ? 'baseline' : 'this'} | ${(v.nodeFlags ?? []).join(' ') || '-'} | ${col(r.samples, mib('rss'))} | ${col(r.samples, mib('heapTotal'))} | ${col(r.samples, mib('heapUsed'))} | ${col(r.samples, mib('newSpace'))} | ${col(r.samples, mib('oldSpace'))} | ${col(r.samples, mib('code'), 1)} | ${col(r.samples, mib('largeObjects'))} | ${col(r.samples, mib('external'))} | ${col(r.samples, mib('arrayBuffers'), 1)} | ${col(r.samples, mib('rest'))} | ${col(r.samples, (s) => s.cpuPerResync, 2)} |`);
  }
  if (sizes.length > 1) {
    // Growth: RSS and heap used per variant at each size, and what each further 100 VMs adds from
    // the smallest size to the largest (the slope, free of the process's fixed cost).
    const [first, last] = [sizes[0]!, sizes.at(-1)!];
    const per100 = (last - first) * vmsPerFleet / 100;
    const at = (variant: string, fleets: number, f: (s: Sample) => number) => median(rows.find((r) => r.variant === variant && r.fleets === fleets)!.samples.map(f));
    console.log(`\nhow it grows — MiB, medians of ${reps}; slope: MiB per 100 VMs from ${first} to ${last} fleets\n`);
    console.log(`| variant | ${sizes.map((n) => `RSS at ${n} × ${vmsPerFleet}`).join(' | ')} | slope | ${sizes.map((n) => `heap used at ${n} × ${vmsPerFleet}`).join(' | ')} | slope |`);
    console.log(`|---|${sizes.map(() => '---|').join('')}---|${sizes.map(() => '---|').join('')}---|`);
    for (const variant of variants) {
      const cells = (f: (s: Sample) => number) => [...sizes.map((n) => at(variant, n, f).toFixed(0)), per100 > 0 ? ((at(variant, last, f) - at(variant, first, f)) / per100).toFixed(1) : '-'];
      console.log(`| ${variant} | ${cells(mib('rss')).join(' | ')} | ${cells(mib('heapUsed')).join(' | ')} |`);
    }
  }
} finally {
  await world.stop();
}
