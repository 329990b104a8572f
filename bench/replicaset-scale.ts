// Baseline benchmark: the upstream ReplicaSet controller (the real kube-controller-manager)
// scales a ReplicaSet from 0 to N pods against a real kube-apiserver. Prints, per size and
// repetition, the time until the API server reports status.replicas == N and the API-server writes
// made meanwhile; then the sizes side by side (median / max over the repetitions). Each
// repetition runs in a namespace of its own and deletes its pods afterwards. The times depend on
// the machine; `fleet-vs-replicaset.ts` sets them beside VirtFleet's in the same run.
//   node bench/replicaset-scale.ts [--sizes 1000,5000,10000 | --replicas 1000] [--reps 3] [--qps 20] [--burst 30]
import { parseArgs } from 'node:util';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { loadNote, max, median } from './lib/fleet-world.ts';
import { scaleReplicaSet } from './lib/kube-controller-manager.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,5000,10000' }, replicas: { type: 'string' }, reps: { type: 'string', default: '3' }, qps: { type: 'string', default: '20' }, burst: { type: 'string', default: '30' } } });
const sizes = parseSizes(values.replicas ?? values.sizes!, 'numbers of pods');
const reps = Math.min(10, Math.max(1, Number(values.reps)));
const qps = Number(values.qps);
const burst = Number(values.burst);

const plane = await ControlPlane.start({ assets: await ensureAssets() });
try {
  console.log(`kube-controller-manager replicaset controller, qps=${qps} burst=${burst}; sizes ${sizes.join(', ')}; ${reps} repetitions; ${loadNote()}`);
  const rows: { replicas: number; ms: number[]; writes: number[] }[] = [];
  for (const replicas of sizes) {
    const row = { replicas, ms: [] as number[], writes: [] as number[] };
    rows.push(row);
    for (let rep = 0; rep < reps; rep++) {
      const result = await scaleReplicaSet(plane, { namespace: `bench-${replicas}-${rep}`, replicas, qps, burst });
      row.ms.push(result.ms);
      row.writes.push(result.writes);
      console.log(`scale 0 -> ${replicas}, rep ${rep + 1}: ${(result.ms / 1000).toFixed(1)} s until status.replicas == ${replicas}; API-server writes ${result.writes} (${(result.writes / replicas).toFixed(2)} per pod: ` +
        `${Object.entries(result.writesByResource).map(([resource, n]) => `${resource} ${n}`).join(', ')}; by verb ${Object.entries(result.writesByVerb).map(([verb, n]) => `${verb} ${n}`).join(', ')}); ` +
        `left out, the API server's own: ${Object.entries(result.backgroundWrites).map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`);
    }
  }
  console.log(`\nmedian / max of ${reps}; ${loadNote()}\n`);
  console.log('| pods | 0 → N (s) | ms per pod | pods per second | API-server writes | writes per pod |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const m = median(r.ms);
    console.log(`| ${r.replicas} | ${(m / 1000).toFixed(2)} / ${(max(r.ms) / 1000).toFixed(2)} | ${(m / r.replicas).toFixed(2)} | ${(r.replicas / (m / 1000)).toFixed(0)} | ${median(r.writes)} / ${max(r.writes)} | ${(median(r.writes) / r.replicas).toFixed(3)} |`);
  }
} finally {
  await plane.stop();
}
