// Benchmark: makespan of a candidate → stable promotion. A containerDisk GoldenImage tracks tag
// `latest` (pollInterval 1s); channel `candidate` follows latest and `stable` follows candidate
// with promotion.soakTime and minHealthyPercent 100. Three fleets of N VMs each (one on candidate,
// two on stable; RollingUpdate with maxUnavailable M, minReadySeconds 0) run the first version.
// A new version is pushed; the makespan runs from candidate's move to the last of the 3 × N
// VMs Ready on the new version, and is set against the least that soak time, maxUnavailable and
// restart time allow: stable cannot move before the soak has passed, nor before the first
// candidate VMs on the version are healthy (one restart), and then each stable fleet needs
// ceil(N / M) rounds of restarts: max(soak, R) + ceil(N / M) × R, with R one restart (the
// simulator's nominal phase times, and R as observed in the candidate fleet's own rollout).
// Each size N runs in a namespace of its own (its own GoldenImage, repository, simulator and
// controller, one registry and control plane for all), and its promotion is repeated --reps times,
// each with a newly pushed version; a last table sets the sizes side by side.
//   node bench/image-promotion.ts [--sizes 10,20,50 | --vms 20] [--reps 3] [--max-unavailable 5] [--soak 5] [--speed 20] [--timeout 900]
// The figures depend on the machine (the restarts and the polls share its cores); compare the
// rows of one run.
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
import { Cleanup, createRegistryAccess, median, startImageWorld, until, type ImageWorld } from './lib/image-world.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({ options: {
  sizes: { type: 'string', default: '10,20,50' },
  vms: { type: 'string' },
  reps: { type: 'string', default: '3' },
  'max-unavailable': { type: 'string', default: '5' },
  soak: { type: 'string', default: '5' },
  speed: { type: 'string', default: '20' },
  timeout: { type: 'string', default: '900' },
} });
const sizes = parseSizes(values.vms ?? values.sizes!, 'VMs per fleet', { max: 200 });
const reps = Math.min(10, Math.max(1, Number(values.reps)));
const soakMs = Math.max(0, Number(values.soak)) * 1000;
const speed = Number(values.speed);
/** The whole benchmark gives up after this long. */
const deadline = performance.now() + Math.min(3600, Math.max(30, Number(values.timeout))) * 1000;
const remaining = () => Math.max(1_000, deadline - performance.now());
const FLEETS = [{ name: 'canary', channel: 'candidate' }, { name: 'web-a', channel: 'stable' }, { name: 'web-b', channel: 'stable' }] as const;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** One promotion's figures (ms). */
interface Promotion { toCandidate: number; canary: number; toStable: number; stableFleets: number; makespan: number; observedRestart: number; overNominal: number; overObserved: number; worstDown: number }

/** Sets up one size in its own namespace and promotes `reps` new versions through it. */
async function runSize(world: ImageWorld, vms: number): Promise<{ promotions: Promotion[]; maxUnavailable: number; rounds: number; nominalRestartMs: number }> {
  const maxUnavailable = Math.min(vms, Math.max(1, Number(values['max-unavailable'])));
  const rounds = Math.ceil(vms / maxUnavailable);
  const namespace = `bench-promotion-${vms}`;
  const repository = `disks/promotion-${vms}`;
  const { registry, client } = world;
  const simConfig = { namespaces: [namespace], speed, nodes: { count: Math.max(3, Math.ceil((FLEETS.length * vms) / 25)), prefix: `node-${vms}` } };
  // One restart as the simulator plays it: the old VMI stops, the new one passes Pending,
  // Scheduling and Scheduled before Running (simulated ms; / speed for real ms).
  const vmiPhases = defaultSimConfig(simConfig).vmi;
  const nominalRestartMs = (vmiPhases.stoppingMs + vmiPhases.pendingMs + vmiPhases.schedulingMs + vmiPhases.scheduledMs) / speed;
  const minimum = (r: number) => Math.max(soakMs, r) + rounds * r;

  const cleanup = new Cleanup();
  try {
    await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
    const access = await createRegistryAccess(client, namespace, registry, registry.caPEM);
    const sim = new Simulator(world.plane.kubeConfig(), { config: simConfig, log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) } });
    await sim.start();
    cleanup.add(() => sim.stop({ deleteNodes: true }));
    const manager = new VirtFleetManager({ kubeConfig: world.plane.kubeConfig(), namespace, qps: 0, log: { info: () => undefined, error: (m, f) => console.error(m, f) } });
    await manager.start();
    cleanup.add(() => manager.stop());

    const first = await pushContainerDisk(registry, repository, 'latest', { seed: `promotion-${vms}-0` });
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
    console.log(`\n${FLEETS.length} fleets × ${vms} VMs ready on the first version after ${((performance.now() - started) / 1000).toFixed(1)} s (${simConfig.nodes.count} nodes, simulator at ${speed}×); maxUnavailable ${maxUnavailable} (${rounds} rounds)`);

    const promotions: Promotion[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      // The promotion: every 50 ms one read of the image and one list of the VMs.
      const next = await pushContainerDisk(registry, repository, 'latest', { seed: `promotion-${vms}-${rep}` });
      const pushed = performance.now();
      const at: Partial<Record<'candidate' | 'stable' | 'canary' | 'web-a' | 'web-b', number>> = {};
      const worstDown: Record<string, number> = Object.fromEntries(FLEETS.map((f) => [f.name, 0]));
      await until(`every fleet Ready on version ${rep + 1}`, async () => {
        const [st, all] = await Promise.all([image(), fleetVMs()]);
        const now = performance.now();
        const version = st?.versions?.find((v) => v.digest === next)?.name;
        for (const ch of ['candidate', 'stable'] as const) if (at[ch] === undefined && version !== undefined && st?.channels?.find((c) => c.name === ch)?.version === version) at[ch] = now;
        for (const f of FLEETS) {
          const live = all.filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === f.name && !vm.metadata.deletionTimestamp && vm.status?.ready === true).length;
          worstDown[f.name] = Math.max(worstDown[f.name]!, vms - live);
          if (at[f.name] === undefined && readyOn(all, f.name, next) === vms) at[f.name] = now;
        }
        return FLEETS.every((f) => at[f.name] !== undefined) || undefined;
      }, remaining(), 50);

      const candidateMove = at.candidate ?? pushed;
      const makespan = Math.max(...FLEETS.map((f) => at[f.name]!)) - candidateMove;
      // R as this run shows it: the candidate fleet's rollout, from candidate's move, over its rounds.
      const observedRestart = (at.canary! - candidateMove) / rounds;
      const p: Promotion = {
        toCandidate: candidateMove - pushed, canary: at.canary! - candidateMove, toStable: at.stable! - candidateMove,
        stableFleets: Math.max(at['web-a']!, at['web-b']!) - at.stable!, makespan, observedRestart,
        overNominal: makespan / minimum(nominalRestartMs), overObserved: makespan / minimum(observedRestart),
        worstDown: Math.max(...Object.values(worstDown)),
      };
      promotions.push(p);
      console.log(`promotion ${rep}: candidate moved ${s(p.toCandidate)} after the push; canary on it ${s(p.canary)}, stable moved ${s(p.toStable)} and both stable fleets on it ${s(p.stableFleets)} after that; ` +
        `makespan ${s(makespan)} = ${p.overNominal.toFixed(2)}× the minimum with the nominal restart of ${s(nominalRestartMs)}, ${p.overObserved.toFixed(2)}× with the observed ${s(observedRestart)}; ` +
        `most VMs down at once per fleet (polled every 50 ms): ${FLEETS.map((f) => `${f.name} ${worstDown[f.name]}`).join(', ')}`);
    }
    return { promotions, maxUnavailable, rounds, nominalRestartMs };
  } finally {
    await cleanup.run();
  }
}

const cleanup = new Cleanup();
try {
  const world = await startImageWorld('bench-promotion', cleanup);
  const results = new Map<number, Awaited<ReturnType<typeof runSize>>>();
  for (const vms of sizes) results.set(vms, await runSize(world, vms));

  const mm = (xs: number[], f: (x: number) => string) => `${f(median(xs))} / ${f(Math.max(...xs))}`;
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  console.log(`\npromotion of 3 fleets × N VMs (1 on candidate, 2 on stable), soakTime ${soakMs / 1000}s, minHealthyPercent 100, simulator at ${speed}×; median / max of ${reps} promotions per size\n`);
  console.log('| VMs per fleet | maxUnavailable (rounds) | push → candidate (s) | candidate → canary on it (s) | candidate → stable (s) | stable → stable fleets on it (s) | makespan (s) | minimum, nominal restart (s) | makespan ÷ minimum, nominal | makespan ÷ minimum, observed restart | most down at once |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [vms, r] of results) {
    const col = (k: keyof Promotion, f = sec) => mm(r.promotions.map((p) => p[k]), f);
    const minimum = Math.max(soakMs, r.nominalRestartMs) + r.rounds * r.nominalRestartMs;
    console.log(`| ${vms} | ${r.maxUnavailable} (${r.rounds}) | ${col('toCandidate')} | ${col('canary')} | ${col('toStable')} | ${col('stableFleets')} | ${col('makespan')} | ${sec(minimum)} | ${col('overNominal', (x) => x.toFixed(2))} | ${col('overObserved', (x) => x.toFixed(2))} | ${col('worstDown', String)} |`);
  }
} finally {
  await cleanup.run();
}
