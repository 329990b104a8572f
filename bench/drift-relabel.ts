// Benchmark: drift reaction and repair. One VMFleet of N VMs with nodeSelector pool=web runs on M
// simulated nodes all labelled pool=web. Each repetition removes the label from R nodes that carry
// fleet VMIs and measures, from watches started long before: the time from the relabel to the
// first migration of the fleet (watch arrival, and its creationTimestamp for reference), the time
// until every fleet VMI runs on a labelled node with no migration in flight, the most migrations
// in flight at any change the API server reported (against the budgets), and the controller's
// requests meanwhile. The nodes are labelled back (no drift) before the next repetition.
//   node bench/drift-relabel.ts [--nodes 100] [--vms 500] [--relabel 10] [--repetitions 5]
//     [--budget 5] [--max-concurrent 5] [--speed 20] [--phase-ms 200] [--ms-per-gib 1000]
//     [--qps 50] [--burst 100] [--timeout 120] [--inline-sim]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import type { VMFleet } from '../controller/fleet/reconciler.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import { defaultSimConfig, type DeepPartial, type SimConfig } from '../sim/config.ts';
import { vmiRequests } from '../sim/rules/resources.ts';
import { Simulator } from '../sim/simulator.ts';
import { createRegistryObjects, goldenImage, vmFleet } from '../test/fixtures/fleets.ts';
import { startSharedRegistry } from '../test/harness/registry.ts';
import { DriftTracker, type RepairResult } from './lib/drift-tracker.ts';
import { spawnSimulator } from './lib/sim-child.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    vms: { type: 'string', default: '500' },
    relabel: { type: 'string', default: '10' },
    repetitions: { type: 'string', default: '5' },
    budget: { type: 'string', default: '5' },
    'max-concurrent': { type: 'string', default: '5' },
    speed: { type: 'string', default: '20' },
    'phase-ms': { type: 'string' },
    'ms-per-gib': { type: 'string' },
    qps: { type: 'string' },
    burst: { type: 'string' },
    /** Seconds a repair may take before the repetition is reported as unfinished. */
    timeout: { type: 'string', default: '120' },
    /** Run the simulator in this process (default: a child process, so it has its own event loop). */
    'inline-sim': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
  },
});
const nodes = Number(values.nodes);
const vms = Number(values.vms);
const relabel = Number(values.relabel);
const repetitions = Number(values.repetitions);
const budget = Number(values.budget);
const maxConcurrent = Number(values['max-concurrent']);
const speed = Number(values.speed);
const timeoutMs = Number(values.timeout) * 1000;
const root = join(import.meta.dirname, '..');
const namespace = 'bench-drift';
const fleetName = 'web';
const LABEL = 'pool';
const SETTLE_MS = 1_000;

const simOverrides: DeepPartial<SimConfig> = {
  namespaces: [namespace],
  speed,
  seed: Number(values.seed),
  nodes: { count: nodes, prefix: 'node', labels: { [LABEL]: 'web' } },
  // Fast VM start: the fleet is only the stage.
  vmi: { pendingMs: 100, schedulingMs: 100, scheduledMs: 200 },
  migration: {
    ...(values['phase-ms'] ? { phaseMs: Number(values['phase-ms']) } : {}),
    ...(values['ms-per-gib'] ? { msPerGiB: Number(values['ms-per-gib']) } : {}),
  },
};
const simConfig = defaultSimConfig(simOverrides);
const fleetObject = vmFleet(namespace, fleetName, { replicas: vms, nodeSelector: { [LABEL]: 'web' }, remediation: { liveMigration: { maxConcurrent } } });

// One migration in the simulator (sim/migration/controller.ts): Pending and Scheduling advance
// as soon as the limits and a target allow; Scheduled, PreparingTarget and TargetReady last
// phaseMs each; Running lasts msPerGiB per GiB of what the launcher pod requests (guest memory
// plus the fixed launcher overhead, sim/rules/resources.ts). Simulated ms; / speed for real ms.
const mig = simConfig.migration;
const migrationMemoryGiB = vmiRequests(fleetObject.spec.template.spec.template.spec as never).memoryBytes / 1024 ** 3;
const migrationSimMs = 3 * mig.phaseMs + migrationMemoryGiB * mig.msPerGiB;
const migrationRealMs = migrationSimMs / speed;
const concurrency = Math.min(budget, maxConcurrent, mig.parallelMigrationsPerCluster);

/** Fewest rounds of `concurrency` parallel migrations with at most `perNode` from one source node. */
function rounds(affectedByNode: Record<string, number>): { byBudget: number; withPerNode: number } {
  const counts = Object.values(affectedByNode);
  const total = counts.reduce((a, b) => a + b, 0);
  const byBudget = Math.ceil(total / concurrency);
  return { byBudget, withPerNode: Math.max(byBudget, ...counts.map((n) => Math.ceil(n / mig.parallelOutboundMigrationsPerNode))) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function percentile(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
}
const median = (xs: number[]) => percentile(xs, 0.5);
const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** The collection a request touched, e.g. virtualmachineinstancemigrations or vmfleets/status. */
function resourceOf(path: string): string {
  const s = path.split('?')[0]!.split('/').filter(Boolean);
  let i = s[0] === 'api' ? 2 : 3;
  if (s[i] === 'namespaces' && s.length > i + 2) i += 2;
  return s[i + 2] ? `${s[i]}/${s[i + 2]}` : (s[i] ?? path);
}
class RequestCounter {
  private log: { at: number; method: string; resource: string }[] = [];
  record(method: string, path: string): void {
    this.log.push({ at: Date.now(), method, resource: resourceOf(path) });
  }
  between(from: number, to: number): { total: number; byMethod: Record<string, number>; byResource: Record<string, number> } {
    const byMethod: Record<string, number> = {};
    const byResource: Record<string, number> = {};
    let total = 0;
    for (const r of this.log) {
      if (r.at < from || r.at > to) continue;
      total++;
      byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
      const k = `${r.method} ${r.resource}`;
      byResource[k] = (byResource[k] ?? 0) + 1;
    }
    return { total, byMethod, byResource };
  }
}

// A small deterministic shuffle, so runs with the same seed drain the same nodes.
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Repetition {
  rep: number;
  drained: string[];
  affected: number;
  /** Affected VMs a migration of an earlier repetition had already moved. */
  movedBefore: number;
  firstMs?: number;
  firstCreationMs?: number;
  repairMs?: number;
  minMs: number;
  minRounds: number;
  minRoundsPerNode: number;
  /** Median time a migration was in flight (watch: first seen → Succeeded). */
  migrationMs: number;
  /** Median time to reach each phase from the previous one (watch arrivals). */
  phaseMs: Record<string, number>;
  /** Median time from a migration's end to the controller's next migration. */
  refillMs: number;
  maxInFlight: number;
  maxInFlightFleet: number;
  maxActive: number;
  migrations: number;
  failed: string[];
  unneeded: string[];
  /** Fleet migrations created after the repair was done, while settling and after labelling back. */
  late: number;
  requests: { total: number; byMethod: Record<string, number>; byResource: Record<string, number> };
}

// The fixture GoldenImage names a loopback registry holding its images (tag 42, v1..v3).
const registry = await startSharedRegistry();
const plane = await ControlPlane.start({ assets: await ensureAssets() }).catch(async (err: unknown) => {
  await registry.stop();
  throw err;
});
let stopSim: (() => Promise<void>) | undefined;
let manager: VirtFleetManager | undefined;
let tracker: DriftTracker | undefined;
const errors: string[] = [];
try {
  await installCrds(plane.kubeConfig(), [join(root, 'crds'), join(root, 'test', 'fixtures', 'crds')]);
  const client = new KubeClient(plane.kubeConfig(), { qps: 0, maxSockets: 32 });
  await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
  await createRegistryObjects(client, namespace);
  await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));

  const simStarted = Date.now();
  if (values['inline-sim']) {
    const sim = new Simulator(plane.kubeConfig(), { config: simOverrides, log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) } });
    await sim.start();
    stopSim = () => sim.stop();
  } else {
    stopSim = (await spawnSimulator(plane.kubeconfigPath, simOverrides)).stop;
  }
  console.log(`${nodes} nodes labelled ${LABEL}=web (simulator ${values['inline-sim'] ? 'in process' : 'in a child process'}, speed ${speed}x) in ${((Date.now() - simStarted) / 1000).toFixed(1)} s`);

  const requests = new RequestCounter();
  manager = new VirtFleetManager({
    kubeConfig: plane.kubeConfig(),
    namespace,
    migrationBudget: budget,
    ...(values.qps ? { qps: Number(values.qps) } : {}),
    ...(values.burst ? { burst: Number(values.burst) } : {}),
    log: { info: () => undefined, error: (msg, fields) => void errors.push(`${msg} ${JSON.stringify(fields ?? {})}`) },
    onRequest: (method, path) => requests.record(method, path),
  });
  await manager.start();
  tracker = new DriftTracker(plane.kubeConfig(), client, namespace, fleetName, vms);
  await tracker.start();

  // The fleet, until every VM is Ready and every VMI Running on a node.
  const createdAt = Date.now();
  await client.create(RESOURCES.vmFleet, fleetObject);
  const startDeadline = createdAt + Math.max(180_000, vms * 1_000);
  for (;;) {
    const status = (await client.get<VMFleet>(RESOURCES.vmFleet, { namespace, name: fleetName }))?.status;
    const running = tracker.runningCount();
    process.stdout.write(`\rfleet: ${status?.readyReplicas ?? 0}/${vms} ready, ${running} VMIs running after ${((Date.now() - createdAt) / 1000).toFixed(0)} s `);
    if (status?.readyReplicas === vms && running === vms) break;
    if (Date.now() > startDeadline) throw new Error(`fleet not ready after ${((Date.now() - createdAt) / 1000).toFixed(0)} s: ${JSON.stringify(status)}`);
    await sleep(500);
  }
  const startMs = Date.now() - createdAt;
  console.log('');
  const spread = [...tracker.vmisByNode().values()].map((v) => v.length);
  console.log(`${vms} VMs ready in ${(startMs / 1000).toFixed(1)} s on ${spread.length} nodes (${Math.min(...spread)}..${Math.max(...spread)} per node)`);
  const stray = tracker.inFlight();
  if (stray.length > 0) console.log(`warning: ${stray.length} migrations in flight before the first repetition`);
  await sleep(SETTLE_MS);

  const results: Repetition[] = [];
  const PHASES = ['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded'];
  const phaseSteps: number[][] = PHASES.map(() => []);
  const refillGaps: number[] = [];
  const allInFlightMs: number[] = [];
  const usedNodes = new Set<string>();
  const movedVmis = new Set<string>();
  for (let rep = 1; rep <= repetitions; rep++) {
    const byNode = tracker.vmisByNode();
    // Nodes never drained before, whose VMIs were never migrated, first: a VMI's second migration
    // is not representative in the simulator (see the report's notes).
    const movedOn = (n: string) => (byNode.get(n) ?? []).filter((v) => movedVmis.has(v)).length;
    const rank = (n: string) => (movedOn(n) > 0 ? 2 : 0) + (usedNodes.has(n) ? 1 : 0);
    const drained = shuffled([...byNode.keys()].sort(), Number(values.seed) * 7919 + rep).sort((a, b) => rank(a) - rank(b)).slice(0, relabel);
    drained.forEach((n) => usedNodes.add(n));
    const movedBefore = drained.flatMap((n) => byNode.get(n) ?? []).filter((v) => movedVmis.has(v)).length;

    const t0 = Date.now();
    const window = tracker.measure(t0, drained, timeoutMs);
    await Promise.all(drained.map((name) => client.mergePatch(RESOURCES.node, { name }, { metadata: { labels: { [LABEL]: null } } })));
    const r: RepairResult = await window.done;
    const end = r.doneAt ?? Date.now();
    const requestsDuringRepair = requests.between(t0, end);

    // Nothing more should happen: settle, label the nodes back (no drift), settle again.
    const namesAtDone = tracker.migrationNames();
    await sleep(SETTLE_MS);
    await Promise.all(drained.map((name) => client.mergePatch(RESOURCES.node, { name }, { metadata: { labels: { [LABEL]: 'web' } } })));
    await sleep(SETTLE_MS);
    const late = [...tracker.migrationNames()].filter((n) => !namesAtDone.has(n)).length;
    for (const t of r.migrations) if (t.finalPhase === 'Succeeded') movedVmis.add(t.vmi);

    const { byBudget, withPerNode } = rounds(r.affectedByNode);
    const inFlightMs = r.migrations.filter((t) => t.finishedAt !== undefined).map((t) => t.finishedAt! - t.seenAt);
    allInFlightMs.push(...inFlightMs);
    const repSteps: number[][] = PHASES.map(() => []);
    for (const t of r.migrations) {
      const steps = ['', ...PHASES].map((p) => (p === '' ? t.seenAt : t.phases[p]));
      for (let i = 1; i < steps.length; i++) if (steps[i] !== undefined && steps[i - 1] !== undefined) repSteps[i - 1]!.push(steps[i]! - steps[i - 1]!);
    }
    repSteps.forEach((xs, i) => phaseSteps[i]!.push(...xs));
    // The controller's refill: from a migration's end to the next one it creates, while work remained.
    const seen = r.migrations.map((t) => t.seenAt).sort((a, b) => a - b);
    const repGaps: number[] = [];
    for (const f of r.migrations.map((t) => t.finishedAt).filter((f) => f !== undefined)) {
      const next = seen.find((x) => x >= f);
      if (next !== undefined) repGaps.push(next - f);
    }
    refillGaps.push(...repGaps);
    const result: Repetition = {
      rep,
      drained,
      affected: r.affected,
      movedBefore,
      ...(r.firstSeenAt !== undefined ? { firstMs: r.firstSeenAt - t0 } : {}),
      ...(r.firstCreatedAt !== undefined ? { firstCreationMs: r.firstCreatedAt - t0 } : {}),
      ...(r.doneAt !== undefined ? { repairMs: r.doneAt - t0 } : {}),
      minMs: withPerNode * migrationRealMs,
      minRounds: byBudget,
      minRoundsPerNode: withPerNode,
      migrationMs: median(inFlightMs),
      phaseMs: Object.fromEntries(PHASES.map((p, i) => [p, median(repSteps[i]!)])),
      refillMs: median(repGaps),
      maxInFlight: r.maxInFlight,
      maxInFlightFleet: r.maxInFlightFleet,
      maxActive: r.maxActive,
      migrations: r.migrations.length,
      failed: r.failed,
      unneeded: r.unneeded,
      late,
      requests: requestsDuringRepair,
    };
    results.push(result);
    console.log(`rep ${rep}: ${r.affected} VMs on ${drained.length} drained nodes; first migration ${fmt(result.firstMs)} ms, repaired ${fmt(result.repairMs)} ms, ${r.migrations.length} migrations, max in flight ${r.maxInFlight}`);
    if (r.doneAt === undefined) {
      const left = [...tracker.vmisByNode()].filter(([n]) => drained.includes(n)).flatMap(([, v]) => v);
      console.log(`  NOT REPAIRED after ${timeoutMs / 1000} s: ${left.length} VMIs still on drained nodes (${left.slice(0, 10).join(', ')}), in flight: ${tracker.inFlight().map((m) => `${m.metadata?.name}:${m.status?.phase ?? ''}`).join(', ')}`);
      for (const name of left.slice(0, 3)) {
        const vmi = tracker.vmis.get(name, namespace);
        const ours = r.migrations.filter((t) => t.vmi === name);
        console.log(`  ${name} on ${vmi?.status?.nodeName}: migrationState ${JSON.stringify(vmi?.status?.migrationState)}; this repetition's migrations: ${ours.map((t) => `${t.name}:${t.finalPhase ?? '?'}@+${t.seenAt - t0}ms`).join(' ')}`);
      }
    }
  }

  // The report.
  const row = (cells: (string | number)[], widths: number[]) => cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  const widths = [3, 8, 6, 9, 10, 9, 8, 6, 8, 14, 5, 7, 7, 18];
  console.log('');
  console.log(`drift repair: ${nodes} nodes, ${vms} VMs, ${relabel} nodes relabelled per repetition, budget ${budget}, maxConcurrent ${maxConcurrent}, ` +
    `sim parallelMigrationsPerCluster ${mig.parallelMigrationsPerCluster} / perNode ${mig.parallelOutboundMigrationsPerNode}, speed ${speed}x`);
  console.log(`one migration: 3 × ${mig.phaseMs} ms + ${migrationMemoryGiB.toFixed(2)} GiB × ${mig.msPerGiB} ms/GiB = ${migrationSimMs} simulated ms = ${fmt(migrationRealMs, 1)} real ms; ` +
    `concurrency ${concurrency}; min = rounds × ${fmt(migrationRealMs, 1)} ms`);
  console.log(row(['rep', 'affected', 'before', 'first ms', 'cts-t0', 'repair ms', 'min ms', 'ratio', 'rounds', 'in flight n/f/a', 'migs', 'mig ms', 'refill', 'requests G/P/Pa/D'], widths));
  for (const r of results) {
    const m = r.requests.byMethod;
    console.log(row([
      r.rep, r.affected, r.movedBefore, fmt(r.firstMs), fmt(r.firstCreationMs), fmt(r.repairMs), fmt(r.minMs), fmt((r.repairMs ?? NaN) / r.minMs, 1),
      r.minRounds === r.minRoundsPerNode ? r.minRounds : `${r.minRounds}/${r.minRoundsPerNode}`,
      `${r.maxInFlight}/${r.maxInFlightFleet}/${r.maxActive}`, r.migrations, fmt(r.migrationMs), fmt(r.refillMs),
      `${m.GET ?? 0}/${m.POST ?? 0}/${m.PATCH ?? 0}/${m.DELETE ?? 0}`,
    ], widths));
  }
  console.log('(before: affected VMs an earlier repetition had migrated; first ms: watch arrival of the first migration after t0; cts-t0: its creationTimestamp, 1-s resolution, ' +
    'so the creation happened in [cts-t0, cts-t0+1000); rounds: by the budgets / with perNode; in flight: namespace/fleet/past Pending; mig ms: median created→Succeeded; refill: median from the end of a migration to the next created; requests: controller GET/POST/PATCH/DELETE from t0 to repaired)');
  const firsts = results.map((r) => r.firstMs ?? NaN);
  const repairs = results.map((r) => r.repairMs ?? NaN);
  const ratios = results.map((r) => (r.repairMs ?? NaN) / r.minMs);
  const maxInFlight = Math.max(...results.map((r) => r.maxInFlight));
  const limit = Math.min(budget, maxConcurrent);
  console.log('');
  console.log(`time to first migration (watch): median ${fmt(median(firsts))} ms, p99 ${fmt(percentile(firsts, 0.99))} ms`);
  console.log(`repair time:                     median ${fmt(median(repairs))} ms, p99 ${fmt(percentile(repairs, 0.99))} ms`);
  console.log(`repair / theoretical minimum:    median ${fmt(median(ratios), 1)}, p99 ${fmt(percentile(ratios, 0.99), 1)}`);
  console.log(`one migration as observed (median over all, watch arrivals): in flight ${fmt(median(allInFlightMs))} ms = ` +
    PHASES.map((p, i) => `${i === 0 ? 'created' : PHASES[i - 1]}→${p} ${fmt(median(phaseSteps[i]!))}`).join(', '));
  const observedMin = results.map((r) => (r.repairMs ?? NaN) / (r.minRoundsPerNode * median(allInFlightMs)));
  console.log(`repair / (rounds × observed migration time ${fmt(median(allInFlightMs))} ms): median ${fmt(median(observedMin), 2)}, p99 ${fmt(percentile(observedMin, 0.99), 2)}`);
  console.log(`controller refill (a migration's end → the next one created): median ${fmt(median(refillGaps))} ms, p99 ${fmt(percentile(refillGaps, 0.99))} ms over ${refillGaps.length}`);
  console.log(`max in flight: ${maxInFlight} (limit min(budget ${budget}, maxConcurrent ${maxConcurrent}) = ${limit}) ${maxInFlight <= limit ? 'honoured' : 'EXCEEDED'}`);
  const allRequests = results.map((r) => r.requests);
  const sumBy = (k: 'byResource') => allRequests.reduce<Record<string, number>>((acc, q) => {
    for (const [key, n] of Object.entries(q[k])) acc[key] = (acc[key] ?? 0) + n;
    return acc;
  }, {});
  console.log(`controller requests during repairs (all repetitions): ${Object.entries(sumBy('byResource')).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const problems = results.flatMap((r) => [
    ...(r.repairMs === undefined ? [`rep ${r.rep}: not repaired within ${timeoutMs / 1000} s`] : []),
    ...(r.failed.length ? [`rep ${r.rep}: migrations not Succeeded: ${r.failed.join(', ')}`] : []),
    ...(r.unneeded.length ? [`rep ${r.rep}: migrations of VMs that did not drift: ${r.unneeded.join(', ')}`] : []),
    ...(r.late ? [`rep ${r.rep}: ${r.late} migrations created after the repair`] : []),
    ...(r.migrations !== r.affected ? [`rep ${r.rep}: ${r.migrations} migrations for ${r.affected} affected VMs`] : []),
  ]);
  for (const p of problems) console.log(`! ${p}`);
  if (errors.length) console.log(`! controller logged ${errors.length} errors, first: ${errors.slice(0, 3).join(' | ')}`);
  console.log(JSON.stringify({
    bench: 'drift-relabel',
    nodes, vms, relabel, repetitions, budget, maxConcurrent, speed,
    sim: { parallelMigrationsPerCluster: mig.parallelMigrationsPerCluster, parallelOutboundMigrationsPerNode: mig.parallelOutboundMigrationsPerNode, phaseMs: mig.phaseMs, msPerGiB: mig.msPerGiB },
    fleetReadyMs: startMs,
    observedPhaseMs: Object.fromEntries(PHASES.map((p, i) => [p, median(phaseSteps[i]!)])),
    observedMigrationMs: median(allInFlightMs),
    repairOverObservedMinimum: { median: median(observedMin), p99: percentile(observedMin, 0.99) },
    refillMs: { median: median(refillGaps), p99: percentile(refillGaps, 0.99) },
    migrationRealMs,
    firstMigrationMs: { median: median(firsts), p99: percentile(firsts, 0.99) },
    repairMs: { median: median(repairs), p99: percentile(repairs, 0.99) },
    repairOverMinimum: { median: median(ratios), p99: percentile(ratios, 0.99) },
    maxInFlight, limit, budgetHonoured: maxInFlight <= limit,
    controllerErrors: errors.length,
    repetitionsDetail: results.map((r) => ({ ...r, requests: { total: r.requests.total, byMethod: r.requests.byMethod } })),
  }));
} finally {
  await tracker?.stop();
  await manager?.stop();
  await stopSim?.();
  await plane.stop();
  await registry.stop();
}
