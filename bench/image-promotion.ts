// Benchmark: makespan of a candidate → stable promotion. A containerDisk GoldenImage tracks tag
// `latest` (pollInterval 1s); channel `candidate` follows latest and `stable` follows candidate
// with promotion.soakTime and minHealthyPercent 100. Three fleets of N VMs each (one on candidate,
// two on stable; RollingUpdate with maxUnavailable M, minReadySeconds 0) run the first version.
// A second version is pushed; the makespan runs from candidate's move to the last of the 3 × N
// VMs Ready on the new version, and is set against the least that soak time, maxUnavailable and
// restart time allow: stable cannot move before the soak has passed, nor before the first
// candidate VMs on the version are healthy (one restart), and then each stable fleet needs
// ceil(N / M) rounds of restarts: max(soak, R) + ceil(N / M) × R, with R one restart (the
// simulator's nominal phase times, and R as observed in the candidate fleet's own rollout).
//   node bench/image-promotion.ts [--vms 20] [--max-unavailable 5] [--soak 5] [--speed 20] [--timeout 300]
import { parseArgs } from 'node:util';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage } from '../controller/api/objects.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import { defaultSimConfig } from '../sim/config.ts';
import { Simulator } from '../sim/simulator.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';
import { pushContainerDisk } from '../test/harness/registry.ts';
import { Cleanup, createRegistryAccess, startImageWorld, until } from './lib/image-world.ts';

const { values } = parseArgs({ options: {
  vms: { type: 'string', default: '20' },
  'max-unavailable': { type: 'string', default: '5' },
  soak: { type: 'string', default: '5' },
  speed: { type: 'string', default: '20' },
  timeout: { type: 'string', default: '300' },
} });
const vms = Math.min(200, Math.max(1, Number(values.vms)));
const maxUnavailable = Math.min(vms, Math.max(1, Number(values['max-unavailable'])));
const soakMs = Math.max(0, Number(values.soak)) * 1000;
const speed = Number(values.speed);
/** The whole benchmark gives up after this long. */
const deadline = performance.now() + Math.min(1800, Math.max(30, Number(values.timeout))) * 1000;
const remaining = () => Math.max(1_000, deadline - performance.now());
const namespace = 'bench-promotion';
const repository = 'disks/promotion';
const FLEETS = [{ name: 'canary', channel: 'candidate' }, { name: 'web-a', channel: 'stable' }, { name: 'web-b', channel: 'stable' }] as const;
const simConfig = { namespaces: [namespace], speed, nodes: { count: Math.max(3, Math.ceil((FLEETS.length * vms) / 25)), prefix: 'node' } };
// One restart as the simulator plays it: the old VMI stops, the new one passes Pending,
// Scheduling and Scheduled before Running (simulated ms; / speed for real ms).
const vmiPhases = defaultSimConfig(simConfig).vmi;
const nominalRestartMs = (vmiPhases.stoppingMs + vmiPhases.pendingMs + vmiPhases.schedulingMs + vmiPhases.scheduledMs) / speed;
const rounds = Math.ceil(vms / maxUnavailable);

const cleanup = new Cleanup();
try {
  const { registry, plane, client } = await startImageWorld(namespace, cleanup);
  const access = await createRegistryAccess(client, namespace, registry, registry.caPEM);
  const sim = new Simulator(plane.kubeConfig(), { config: simConfig, log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) } });
  await sim.start();
  cleanup.add(() => sim.stop({ deleteNodes: true }));
  const manager = new VirtFleetManager({ kubeConfig: plane.kubeConfig(), namespace, qps: 0, log: { info: () => undefined, error: (m, f) => console.error(m, f) } });
  await manager.start();
  cleanup.add(() => manager.stop());

  const first = await pushContainerDisk(registry, repository, 'latest', { seed: 'promotion-1' });
  await client.create(RESOURCES.goldenImage, {
    apiVersion: 'virtfleet.io/v1alpha1',
    kind: 'GoldenImage',
    metadata: { name: 'bench', namespace },
    spec: {
      source: { registry: { repository: `${registry.host}/${repository}`, tag: 'latest', pollInterval: '1s', ...access } },
      channels: [
        { name: 'candidate', follows: 'latest' },
        { name: 'stable', follows: 'candidate', promotion: { soakTime: `${soakMs / 1000}s`, minHealthyPercent: 100 } },
      ],
    },
  });
  for (const f of FLEETS) await client.create(RESOURCES.vmFleet, vmFleet(namespace, f.name, { replicas: vms, image: 'bench', channel: f.channel, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable } } }));

  const image = async () => (await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace, name: 'bench' }))?.status;
  const fleetVMs = async () => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace })).items;
  const boots = (vm: V1VirtualMachine, digest: string) => vm.spec?.template?.spec?.volumes?.some((v) => v.containerDisk?.image === `${registry.host}/${repository}@${digest}`) ?? false;
  const readyOn = (all: V1VirtualMachine[], fleet: string, digest: string) => all.filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === fleet && !vm.metadata.deletionTimestamp && vm.status?.ready === true && boots(vm, digest)).length;
  const started = performance.now();
  await until('every fleet Ready on the first version', async () => {
    const all = await fleetVMs();
    return FLEETS.every((f) => readyOn(all, f.name, first) === vms) || undefined;
  }, remaining(), 200);
  console.log(`${FLEETS.length} fleets × ${vms} VMs ready on the first version after ${((performance.now() - started) / 1000).toFixed(1)} s (${simConfig.nodes.count} nodes, simulator at ${speed}×)`);

  // The promotion: every 50 ms one read of the image and one list of the VMs.
  const second = await pushContainerDisk(registry, repository, 'latest', { seed: 'promotion-2' });
  const pushed = performance.now();
  const at: Partial<Record<'candidate' | 'stable' | 'canary' | 'web-a' | 'web-b', number>> = {};
  const worstDown: Record<string, number> = Object.fromEntries(FLEETS.map((f) => [f.name, 0]));
  await until('every fleet Ready on the second version', async () => {
    const [s, all] = await Promise.all([image(), fleetVMs()]);
    const now = performance.now();
    const v2 = s?.versions?.find((v) => v.digest === second)?.name;
    for (const ch of ['candidate', 'stable'] as const) if (at[ch] === undefined && v2 !== undefined && s?.channels?.find((c) => c.name === ch)?.version === v2) at[ch] = now;
    for (const f of FLEETS) {
      const live = all.filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === f.name && !vm.metadata.deletionTimestamp && vm.status?.ready === true).length;
      worstDown[f.name] = Math.max(worstDown[f.name]!, vms - live);
      if (at[f.name] === undefined && readyOn(all, f.name, second) === vms) at[f.name] = now;
    }
    return FLEETS.every((f) => at[f.name] !== undefined) || undefined;
  }, remaining(), 50);

  const candidateMove = at.candidate ?? pushed;
  const makespan = Math.max(...FLEETS.map((f) => at[f.name]!)) - candidateMove;
  // R as this run shows it: the candidate fleet's rollout, from candidate's move, over its rounds.
  const observedRestartMs = (at.canary! - candidateMove) / rounds;
  const minimum = (r: number) => Math.max(soakMs, r) + rounds * r;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`\npromotion of ${FLEETS.length} fleets × ${vms} VMs (1 on candidate, 2 on stable), maxUnavailable ${maxUnavailable} (${rounds} rounds), soakTime ${soakMs / 1000}s, minHealthyPercent 100`);
  console.log(`push → candidate moved                     ${s(candidateMove - pushed)}`);
  console.log(`candidate moved → canary fleet on it       ${s(at.canary! - candidateMove)}`);
  console.log(`candidate moved → stable moved             ${s(at.stable! - candidateMove)} (soak ${s(soakMs)})`);
  console.log(`stable moved → both stable fleets on it    ${s(Math.max(at['web-a']!, at['web-b']!) - at.stable!)}`);
  console.log(`makespan (candidate moved → last VM ready) ${s(makespan)}`);
  console.log(`minimum with nominal restart ${s(nominalRestartMs)}     ${s(minimum(nominalRestartMs))}   makespan ÷ minimum ${(makespan / minimum(nominalRestartMs)).toFixed(2)}`);
  console.log(`minimum with observed restart ${s(observedRestartMs)}    ${s(minimum(observedRestartMs))}   makespan ÷ minimum ${(makespan / minimum(observedRestartMs)).toFixed(2)}`);
  console.log(`most VMs down at once per fleet (polled every 50 ms): ${FLEETS.map((f) => `${f.name} ${worstDown[f.name]}`).join(', ')} (maxUnavailable ${maxUnavailable})`);
} finally {
  await cleanup.run();
}
