// Baseline benchmark: the upstream ReplicaSet controller (the real kube-controller-manager)
// scales a ReplicaSet from 0 to N pods against a real kube-apiserver. Prints the time until the
// API server reports status.replicas == N and the API-server writes made meanwhile.
//   node bench/replicaset-scale.ts [--replicas 1000] [--qps 20] [--burst 30]
import { parseArgs } from 'node:util';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { scaleReplicaSet } from './lib/kube-controller-manager.ts';

const { values } = parseArgs({ options: { replicas: { type: 'string', default: '1000' }, qps: { type: 'string', default: '20' }, burst: { type: 'string', default: '30' } } });
const replicas = Number(values.replicas);
const qps = Number(values.qps);
const burst = Number(values.burst);

const plane = await ControlPlane.start({ assets: await ensureAssets() });
try {
  const result = await scaleReplicaSet(plane, { namespace: 'bench', replicas, qps, burst });
  console.log(`kube-controller-manager replicaset controller, qps=${qps} burst=${burst}`);
  console.log(`scale 0 -> ${replicas}: ${(result.ms / 1000).toFixed(1)} s until status.replicas == ${replicas}`);
  console.log(`API-server writes: ${result.writes} (${(result.writes / replicas).toFixed(2)} per pod)`);
  for (const [resource, n] of Object.entries(result.writesByResource)) console.log(`  ${resource}: ${n}`);
  console.log(`  by verb: ${Object.entries(result.writesByVerb).map(([verb, n]) => `${verb} ${n}`).join(', ')}`);
  console.log(`  left out, the API server's own: ${Object.entries(result.backgroundWrites).map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`);
} finally {
  await plane.stop();
}
