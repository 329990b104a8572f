// Benchmark: the CPU of one fleet reconcile's decision (decideFleet, the pure part the reconciler
// runs before its first write) for one fleet of N running VMs on M nodes, R of them relabelled so
// their VMs drift, as the reconcile after a node relabel sees it. No API server: the snapshot is
// built in memory from the fixtures (VMs as desiredVM stamps them, VMIs Running and
// LiveMigratable, every VM ready). Two figures per size: a snapshot of new VM objects (nothing
// judged yet, as every reconcile was before drift repair remembered its hand-edit findings per
// cached object) and the same snapshot again (what the reconcile after a node event costs now).
// Medians and maxima over the repetitions; CPU time of this process, so it depends on the machine.
//   node bench/drift-decide.ts [--sizes 1000/100/10,5000/500/50,10000/1000/100] [--repetitions 5]
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { GoldenImage, VMFleet } from '../controller/api/objects.ts';
import { desiredVM } from '../controller/core/fleet/desired.ts';
import { DEFAULT_BACKOFF } from '../controller/core/fleet/migration.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { decideFleet, NO_FLEET_MEMORY, type FleetSnapshot } from '../controller/fleet/decide.ts';
import { fleetRef } from '../controller/fleet/drift-repair.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000/100/10,5000/500/50,10000/1000/100' }, repetitions: { type: 'string', default: '5' } } });
const repetitions = Number(values.repetitions);
const namespace = 'bench';
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length / 2) - 1]!;

function world(vms: number, nodes: number, relabelled: number, now: number): { base: Omit<FleetSnapshot, 'vms' | 'vmis'>; stamp: () => { vms: V1VirtualMachine[]; vmis: V1VirtualMachineInstance[] } } {
  const fleet = vmFleet(namespace, 'web', { replicas: vms, nodeSelector: { pool: 'web' }, remediation: { liveMigration: { maxConcurrent: 50 } } }) as unknown as VMFleet;
  fleet.metadata = { ...fleet.metadata, uid: 'fleet-uid', generation: 1, finalizers: ['virtfleet.io/vms'] };
  // The fixture GoldenImage's shape (test/fixtures/fleets.ts), with no registry behind it: nothing is pulled.
  const digest = `sha256:${'3f9a0c'.repeat(10)}abcd`;
  const image = {
    apiVersion: 'virtfleet.io/v1alpha1', kind: 'GoldenImage',
    metadata: { name: 'fedora', namespace, uid: 'image-uid' },
    spec: { source: { registry: { repository: 'registry.invalid/containerdisks/fedora', tag: '42' } }, versions: [{ name: 'v1', digest }], channels: [{ name: 'stable', version: 'v1' }] },
    status: { versions: [{ name: 'v1', digest, phase: 'Ready' }], channels: [{ name: 'stable', version: 'v1' }] },
  } as unknown as GoldenImage;
  const nodeList: V1Node[] = Array.from({ length: nodes }, (_, i) => ({
    metadata: { name: `node-${i}`, labels: i < relabelled ? ({} as Record<string, string>) : { pool: 'web' } },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] as never },
  }));
  const base = { fleet, foreignVMs: [], nodes: nodeList, goldenImage: image, migrations: [], budget: { slots: 50, pending: new Map() }, backoff: DEFAULT_BACKOFF, now, memory: NO_FLEET_MEMORY };
  // The revision and resolved image the fleet's VMs are stamped with, from a decision over no VMs.
  const empty = decideFleet({ ...base, vms: [], vmis: [] }).verdict;
  if (!('revision' in empty)) throw new Error(`no decision: ${JSON.stringify(empty)}`);
  const ready = [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(now - 600_000).toISOString() }];
  const stamp = () => {
    const list = Array.from({ length: vms }, (_, index) => {
      const vm = desiredVM({ fleet: fleetRef(fleet), spec: fleet.spec, image: empty.image, index, revision: empty.revision });
      vm.metadata = { ...vm.metadata, uid: `vm-${index}`, resourceVersion: '1', creationTimestamp: new Date(now - 900_000).toISOString() as never };
      vm.status = { ready: true, printableStatus: 'Running', created: true, conditions: ready as never };
      const vmi: V1VirtualMachineInstance = {
        metadata: { name: vm.metadata.name!, namespace, uid: `vmi-${index}`, labels: { [FLEET_LABEL]: 'web' } },
        spec: structuredClone(vm.spec.template!.spec!),
        status: { phase: 'Running', nodeName: `node-${index % nodes}`, conditions: [...ready, { type: 'LiveMigratable', status: 'True' }] as never },
      };
      return { vm, vmi };
    });
    return { vms: list.map((x) => x.vm), vmis: list.map((x) => x.vmi) };
  };
  return { base, stamp };
}

console.log(`decideFleet CPU per reconcile, median / max of ${repetitions}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('| VMs / nodes / relabelled | migrations planned | new VM objects (ms) | the same objects again (ms) |');
console.log('|---|---|---|---|');
for (const size of values.sizes!.split(',')) {
  const [vms, nodes, relabelled] = size.split('/').map(Number) as [number, number, number];
  const now = Date.now();
  const { base, stamp } = world(vms, nodes, relabelled, now);
  const cold: number[] = [];
  const warm: number[] = [];
  let planned = 0;
  for (let r = 0; r < repetitions; r++) {
    const objects = stamp();
    const snapshot: FleetSnapshot = { ...base, ...objects };
    let t = cpuMs();
    const first = decideFleet(snapshot).verdict;
    cold.push(cpuMs() - t);
    t = cpuMs();
    decideFleet(snapshot);
    warm.push(cpuMs() - t);
    if ('remediation' in first) planned = first.remediation.plan.actions.filter((a) => a.type === 'Migrate').length;
  }
  console.log(`| ${vms} / ${nodes} / ${relabelled} | ${planned} | ${median(cold).toFixed(0)} / ${Math.max(...cold).toFixed(0)} | ${median(warm).toFixed(0)} / ${Math.max(...warm).toFixed(0)} |`);
}
