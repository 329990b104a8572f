// Benchmark: rollout makespan against the least that maxUnavailable (or maxSurge) and the restart
// time allow. One VMFleet (RollingUpdate) runs on simulated nodes, scaled to each size N in turn;
// at each size, each repetition rolls it out twice, once per strategy:
//   - maxUnavailable k (maxSurge 0): k VMs restarted at a time;
//   - maxSurge k with maxUnavailable 0: k surge VMs created, each outdated VM deleted once one is up.
// A rollout is a template change that needs a restart (domain.firmware.serial, a new value each
// time). The makespan runs from just before the spec change until the watches (started long before)
// show every VM of the fleet available on the new revision with a new VMI and none left over; the
// fleet's status saying so is timed too. It is set against ceil(N / k) × R, with R one restart:
//   - observed: k stand-alone VMs beside the fleet, restarted as the controller restarts one (spec
//     patched, VMI deleted), from just before the patch until the watches show it available
//     again: one at a time (R, the median of --single), and all k at once (R_k, until the last);
//   - nominal: the simulator's phase times (stopping + pending + scheduling + scheduled) / speed.
// It also reports the most VMs of the fleet unavailable at any change the watches showed (never to
// exceed maxUnavailable), the controller's requests (its own count, by verb), and where the rounds
// lose time: from a VM available on the new revision to the next restart issued (the VMI of an
// outdated VM seen deleting), or for surge from a surge VM available to an outdated VM deleted and
// from that VM gone to the next surge VM created; and how full the k slots were (in-flight time ÷
// k × makespan).
// The controller runs in a process of its own (bench/lib/controller-child.ts, from the sources,
// the CLI's startController), as does the simulator (bench/lib/sim-child.ts), so neither shares an
// event loop with the other or with these watches. The figures depend on the machine (every
// simulated phase is an API round trip); the load average is printed beside them.
//   node bench/rollout-makespan.ts [--sizes 50,100,200] [--k 10] [--repetitions 3] [--single 3]
//     [--speed 1] [--nodes N] [--qps 50] [--burst 100] [--timeout 600]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetSpec } from '../controller/api/generated/types.ts';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { defaultSimConfig, type DeepPartial, type SimConfig } from '../sim/config.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';
import { spawnController, type ControllerChild, type ControllerStats } from './lib/controller-child.ts';
import { max, median, sleep, startBenchCluster } from './lib/fleet-world.ts';
import { restartStandalone, RolloutTracker, type RolloutResult } from './lib/rollout-tracker.ts';
import { spawnSimulator } from './lib/sim-child.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '50,100,200' },
    k: { type: 'string', default: '10' },
    repetitions: { type: 'string', default: '3' },
    /** Restarts of one stand-alone VM alone per repetition, for R. */
    single: { type: 'string', default: '3' },
    speed: { type: 'string', default: '1' },
    nodes: { type: 'string' },
    qps: { type: 'string', default: '50' },
    burst: { type: 'string', default: '100' },
    /** Seconds one rollout may take before it is reported unfinished. */
    timeout: { type: 'string', default: '600' },
  },
});
const sizes = parseSizes(values.sizes!, 'numbers of VMs');
const k = Math.max(1, Number(values.k));
const repetitions = Math.max(1, Number(values.repetitions));
const singles = Math.max(1, Number(values.single));
const speed = Number(values.speed);
const largest = sizes.at(-1)!;
const nodes = values.nodes ? Number(values.nodes) : Math.max(3, Math.ceil((largest + 2 * k) / 16));
const timeoutMs = Number(values.timeout) * 1000;
const namespace = 'bench-rollout';
const fleetName = 'web';

const simOverrides: DeepPartial<SimConfig> = { namespaces: [namespace], speed, nodes: { count: nodes, prefix: 'node' } };
const phases = defaultSimConfig(simOverrides).vmi;
// One restart as the simulator plays it: the old VMI stops, the new one passes Pending,
// Scheduling and Scheduled before Running (simulated ms; / speed for real ms).
const nominalRestartMs = (phases.stoppingMs + phases.pendingMs + phases.schedulingMs + phases.scheduledMs) / speed;

type Strategy = 'maxUnavailable' | 'maxSurge';
const STRATEGIES: Strategy[] = ['maxUnavailable', 'maxSurge'];
const strategySpec = (s: Strategy): VMFleetSpec['updateStrategy'] => ({
  type: 'RollingUpdate',
  rollingUpdate: s === 'maxUnavailable' ? { maxUnavailable: k, maxSurge: 0 } : { maxUnavailable: 0, maxSurge: k },
});
const limitOf = (s: Strategy) => (s === 'maxUnavailable' ? k : 0);

interface Row {
  size: number;
  strategy: Strategy;
  rep: number;
  rounds: number;
  makespanMs: number;
  statusMs: number;
  /** R: one stand-alone VM restarted alone (median of --single); R_k: k at once, until the last. */
  restartMs: number;
  restartKMs: number;
  firstActionMs: number;
  maxUnavailable: number;
  /** Per VM in the rollout: restart issued → available (maxUnavailable), created → available (surge). */
  stepMs: number;
  /** Slot refill: available → next restart issued; surge: available → outdated deleted, and gone → next created. */
  refillMs: number;
  refillMaxMs: number;
  refill2Ms: number;
  stopMs: number;
  occupancy: number;
  writes: Record<string, number>;
  statusUpdates: number;
  load1: number;
  finished: boolean;
}

const fmtS = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');
const fmtMs = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(0) : '-');
const sorted = (xs: { at: number }[]) => xs.map((x) => x.at).sort((a, b) => a - b);
const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const verbDiff = (a: ControllerStats, b: ControllerStats) => Object.fromEntries(Object.keys(b.requests).map((v) => [v, (b.requests[v] ?? 0) - (a.requests[v] ?? 0)]).filter(([, n]) => n !== 0));
const writesOf = (w: Record<string, number>) => WRITE_VERBS.reduce((n, v) => n + (w[v] ?? 0), 0);

/** ∫ in-flight dt ÷ (k × span): how full the k slots were, in-flight rising at `up` and falling at `down`. */
function occupancy(t0: number, end: number, up: number[], down: number[]): number {
  const events = [...up.map((at) => ({ at, d: 1 })), ...down.map((at) => ({ at, d: -1 }))].sort((a, b) => a.at - b.at || a.d - b.d);
  let level = 0;
  let last = t0;
  let area = 0;
  for (const e of events) {
    area += Math.max(0, Math.min(k, level)) * (e.at - last);
    level += e.d;
    last = e.at;
  }
  area += Math.max(0, Math.min(k, level)) * Math.max(0, end - last);
  return area / (k * (end - t0));
}

/** The gaps a[j] − b[j − lag] for j ≥ lag (both sorted): how long a freed slot stayed empty. */
function gaps(a: number[], b: number[], lag: number): number[] {
  const out: number[] = [];
  for (let j = lag; j < a.length; j++) if (b[j - lag] !== undefined) out.push(a[j]! - b[j - lag]!);
  return out;
}

function analyse(r: RolloutResult, size: number, strategy: Strategy): Pick<Row, 'firstActionMs' | 'stepMs' | 'refillMs' | 'refillMaxMs' | 'refill2Ms' | 'stopMs' | 'occupancy'> {
  const end = r.doneAt ?? Date.now();
  const avail = sorted(r.available);
  const availableAt = new Map(r.available.map((x) => [x.name, x.at]));
  if (strategy === 'maxUnavailable') {
    const issued = sorted(r.restartIssued);
    const steps = r.restartIssued.map((x) => (availableAt.get(x.name) ?? NaN) - x.at).filter(Number.isFinite);
    const refill = gaps(issued, avail, k);
    return {
      firstActionMs: (issued[0] ?? NaN) - r.t0, stepMs: median(steps), refillMs: median(refill), refillMaxMs: max(refill), refill2Ms: NaN, stopMs: NaN,
      occupancy: occupancy(r.t0, end, issued, avail),
    };
  }
  const created = sorted(r.created);
  const deleting = sorted(r.deleting);
  const gone = sorted(r.gone);
  const steps = r.created.map((x) => (availableAt.get(x.name) ?? NaN) - x.at).filter(Number.isFinite);
  const goneAt = new Map(r.gone.map((x) => [x.name, x.at]));
  const stops = r.deleting.map((x) => (goneAt.get(x.name) ?? NaN) - x.at).filter(Number.isFinite);
  // The j-th outdated VM may go once j + 1 surge VMs are up (maxUnavailable 0); the j-th surge VM
  // beyond the first k may be created once j − k + 1 outdated VMs are gone.
  const refill = gaps(deleting, avail, 0);
  const refill2 = gaps(created, gone, k);
  void size;
  return {
    firstActionMs: (created[0] ?? NaN) - r.t0, stepMs: median(steps), refillMs: median(refill), refillMaxMs: max(refill), refill2Ms: median(refill2), stopMs: median(stops),
    occupancy: occupancy(r.t0, end, created, gone),
  };
}

const { plane, client, stop: stopCluster } = await startBenchCluster(namespace);
let stopSim: (() => Promise<void>) | undefined;
let controller: ControllerChild | undefined;
let tracker: RolloutTracker | undefined;
const rows: Row[] = [];
try {
  stopSim = (await spawnSimulator(plane.kubeconfigPath, simOverrides)).stop;
  controller = await spawnController(plane.kubeconfigPath, { namespace, qps: values.qps!, burst: values.burst!, migrationBudgetScope: 'namespace' });
  tracker = new RolloutTracker(plane.kubeConfig(), client, namespace);
  await tracker.start();
  const t = tracker;
  const fleetNow = () => t.fleets.get(fleetName, namespace);
  /** The fleet's N VMs available on one revision, its status saying so for its generation. */
  const settled = (n: number) => () => {
    const f = fleetNow();
    const s = f?.status;
    const vms = t.fleetVMs(fleetName);
    return vms.length === n && vms.every((vm) => t.available(vm)) && new Set(vms.map((vm) => vm.metadata?.labels?.[REVISION_LABEL])).size === 1 &&
      s?.observedGeneration === f?.metadata?.generation && s?.replicas === n && s.availableReplicas === n && s.updatedReplicas === n;
  };

  const fleet = vmFleet(namespace, fleetName, { replicas: sizes[0]!, updateStrategy: strategySpec('maxUnavailable') });
  const createdAt = Date.now();
  await client.create(RESOURCES.vmFleet, fleet);
  await t.until(`${sizes[0]} VMs available`, settled(sizes[0]!), Math.max(180_000, sizes[0]! * 2_000));
  console.log(`fleet of ${sizes[0]} VMs available in ${fmtS(Date.now() - createdAt)} s (${nodes} nodes, simulator at ${speed}× in a child process, controller in a child process, qps ${values.qps} burst ${values.burst})`);

  // k stand-alone VMs with the fleet's VM spec: the simulator's own restart time, beside the fleet.
  const template = t.fleetVMs(fleetName)[0]!;
  const probes = Array.from({ length: k }, (_, i) => `probe-${i}`);
  const probeSpec = structuredClone(template.spec);
  // Not the fleet's: none of its labels on the VMIs either.
  probeSpec.template!.metadata = { labels: { 'bench.virtfleet.io/probe': 'true' } };
  for (const name of probes) {
    await client.create<V1VirtualMachine>(RESOURCES.vm, { metadata: { name, namespace, labels: { 'bench.virtfleet.io/probe': 'true' } }, spec: probeSpec } as V1VirtualMachine);
  }
  await t.until('stand-alone VMs available', () => probes.every((p) => { const vm = t.vms.get(p, namespace); return !!vm && t.available(vm); }), 120_000);

  let serial = 0;
  for (const size of sizes) {
    if ((fleetNow()?.spec.replicas ?? 0) !== size) {
      const scaledAt = Date.now();
      await client.mergePatch(RESOURCES.vmFleet, { namespace, name: fleetName }, { spec: { replicas: size } });
      await t.until(`${size} VMs available`, settled(size), Math.max(180_000, size * 2_000));
      console.log(`scaled to ${size} VMs in ${fmtS(Date.now() - scaledAt)} s`);
    }
    const rounds = Math.ceil(size / k);
    // One strategy's repetitions after the other's, as a fleet keeps its strategy: the first
    // restart-rollout after VMs were created pays for taking over their create entry (applyVM).
    for (const strategy of STRATEGIES) {
      for (let rep = 1; rep <= repetitions; rep++) {
        await client.mergePatch(RESOURCES.vmFleet, { namespace, name: fleetName }, { spec: { updateStrategy: strategySpec(strategy) } });
        await t.until('the strategy observed', () => { const f = fleetNow(); return f?.spec.updateStrategy?.rollingUpdate?.maxSurge === (strategy === 'maxSurge' ? k : 0) && settled(size)(); }, 60_000);
        // R, side by side: one stand-alone VM at a time, then all k at once.
        const single: number[] = [];
        for (let i = 0; i < singles; i++) single.push(...(await restartStandalone(t, client, namespace, [probes[i % probes.length]!], `probe-${++serial}`, 120_000)));
        const batch = max(await restartStandalone(t, client, namespace, probes, `probe-${++serial}`, 120_000));
        await sleep(500);

        const before = await controller.stats();
        const generation = (fleetNow()?.metadata?.generation ?? 0) + 1;
        const t0 = Date.now();
        const window = t.measure(t0, fleetName, size, generation, timeoutMs);
        await client.mergePatch(RESOURCES.vmFleet, { namespace, name: fleetName }, { spec: { template: { spec: { template: { spec: { domain: { firmware: { serial: `rollout-${++serial}` } } } } } } } });
        const r = await window;
        const after = await controller.stats();
        const load1 = loadavg()[0]!;
        const row: Row = {
          size, strategy, rep, rounds,
          makespanMs: (r.doneAt ?? NaN) - t0,
          statusMs: (r.statusDoneAt ?? NaN) - t0,
          restartMs: median(single),
          restartKMs: batch,
          maxUnavailable: size - r.minAvailable,
          ...analyse(r, size, strategy),
          writes: verbDiff(before, after),
          statusUpdates: r.statusUpdates,
          load1,
          finished: r.doneAt !== undefined && r.statusDoneAt !== undefined,
        };
        rows.push(row);
        console.log(`${size} VMs ${strategy} ${k} rep ${rep}: makespan ${fmtS(row.makespanMs)} s (status ${fmtS(row.statusMs)} s), ${rounds} rounds × R ${fmtMs(row.restartMs)} ms = ${fmtS(rounds * row.restartMs)} s ` +
          `(ratio ${(row.makespanMs / (rounds * row.restartMs)).toFixed(2)}), R_k ${fmtMs(batch)} ms, max unavailable ${row.maxUnavailable}, per VM ${fmtMs(row.stepMs)} ms, refill ${fmtMs(row.refillMs)}/${fmtMs(row.refillMaxMs)} ms` +
          `${strategy === 'maxSurge' ? `, gone→create ${fmtMs(row.refill2Ms)} ms, stop ${fmtMs(row.stopMs)} ms` : ''}, slots ${(100 * row.occupancy).toFixed(0)}% full, writes ${JSON.stringify(row.writes)}, load ${load1.toFixed(1)}`);
        if (!row.finished) {
          console.log(`  NOT FINISHED within ${timeoutMs / 1000} s: status ${JSON.stringify(fleetNow()?.status)}`);
          throw new Error('rollout did not finish');
        }
        await t.until('the fleet settled', settled(size), 60_000);
      }
    }
  }

  // The report: per size and strategy, median / max over the repetitions.
  console.log('');
  console.log(`rollout makespan: k = ${k}, ${repetitions} repetitions, simulator at ${speed}× (nominal R ${fmtMs(nominalRestartMs)} ms = (${phases.stoppingMs} + ${phases.pendingMs} + ${phases.schedulingMs} + ${phases.scheduledMs}) / ${speed}), ${nodes} nodes`);
  const mm = (xs: number[], f: (x: number) => string) => `${f(median(xs))} / ${f(max(xs))}`;
  console.log('| VMs | strategy | makespan s | status s | minimum s (⌈N/k⌉ × R) | ratio | ratio to ⌈N/k⌉ × R_k | R ms | R_k ms | nominal minimum s (ratio) | max unavailable | refill ms | slots full | controller writes (status) | load average |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const size of sizes) {
    for (const strategy of STRATEGIES) {
      const rs = rows.filter((r) => r.size === size && r.strategy === strategy);
      if (rs.length === 0) continue;
      const rounds = rs[0]!.rounds;
      const writes = rs.map((r) => writesOf(r.writes));
      console.log(`| ${size} | ${strategy === 'maxUnavailable' ? `maxUnavailable ${k}` : `maxSurge ${k}`} | ${mm(rs.map((r) => r.makespanMs), fmtS)} | ${mm(rs.map((r) => r.statusMs), fmtS)} | ` +
        `${mm(rs.map((r) => rounds * r.restartMs), fmtS)} | **${mm(rs.map((r) => r.makespanMs / (rounds * r.restartMs)), (x) => x.toFixed(2))}** | ${mm(rs.map((r) => r.makespanMs / (rounds * r.restartKMs)), (x) => x.toFixed(2))} | ` +
        `${mm(rs.map((r) => r.restartMs), fmtMs)} | ${mm(rs.map((r) => r.restartKMs), fmtMs)} | ${fmtS(rounds * nominalRestartMs)} (${mm(rs.map((r) => r.makespanMs / (rounds * nominalRestartMs)), (x) => x.toFixed(2))}) | ` +
        `${max(rs.map((r) => r.maxUnavailable))} (limit ${limitOf(strategy)}) | ${mm(rs.map((r) => r.refillMs), fmtMs)}${strategy === 'maxSurge' ? ` + ${mm(rs.map((r) => r.refill2Ms), fmtMs)}` : ''} | ` +
        `${mm(rs.map((r) => 100 * r.occupancy), (x) => `${x.toFixed(0)}%`)} | ${mm(writes, (x) => x.toFixed(0))} (${mm(rs.map((r) => r.statusUpdates), (x) => x.toFixed(0))}) | ${mm(rs.map((r) => r.load1), (x) => x.toFixed(1))} |`);
    }
  }
  console.log('(median / max of the repetitions; ratio: makespan ÷ (⌈N/k⌉ × R) with R measured just before that rollout; refill: a VM available on the new revision → the next restart issued, ' +
    'for surge a surge VM available → an outdated VM deleted + an outdated VM gone → the next surge VM created; slots full: in-flight time ÷ (k × makespan); writes: the controller\'s POST/PUT/PATCH/DELETE from the change to the status done, in brackets the fleet\'s status updates the watch saw)');
  const exceeded = rows.filter((r) => r.maxUnavailable > limitOf(r.strategy));
  for (const r of exceeded) console.log(`! ${r.size} VMs ${r.strategy} rep ${r.rep}: ${r.maxUnavailable} VMs unavailable at once (limit ${limitOf(r.strategy)})`);
  const errors = (await controller.stats()).errors;
  if (errors > 0) console.log(`! the controller logged ${errors} errors`);
  console.log(JSON.stringify({ bench: 'rollout-makespan', k, speed, nodes, repetitions, nominalRestartMs, rows }));
} finally {
  await tracker?.stop();
  await controller?.stop();
  await stopSim?.();
  await stopCluster();
}
