// Benchmark: drift reaction and repair. One VMFleet of N VMs with nodeSelector pool=web runs on M
// simulated nodes all labelled pool=web. Each repetition removes the label from R nodes that carry
// fleet VMIs and measures, from watches started long before: the time from the relabel to the
// first migration of the fleet (watch arrival, and its creationTimestamp for reference), the time
// until every fleet VMI runs on a labelled node with no migration in flight, the most migrations
// in flight at any change the API server reported (against the budgets), and the controller's
// requests and reconciles meanwhile (and which path, standby or reconcile, each refill took),
// and the share of the repair time during which the migrations in flight were at the budget
// (time-weighted, from the watch events that changed their number). The nodes
// are labelled back (no drift) before the next repetition. Figures are medians and maxima over
// the repetitions; they depend on the machine (every phase is an API round trip). The share at
// the budget depends on how long a migration lasts against one refill: --ms-per-gib sets the
// migrations' length (500000 gives about 31 s at 20x, as a guest of a few GiB over 1 Gbit/s).
//   node bench/drift-relabel.ts [--nodes 100] [--vms 500] [--relabel 10] [--repetitions 5]
//     [--budget 5] [--max-concurrent 5] [--kubevirt-parallel <budget>] [--speed 20]
//     [--phase-ms 200] [--ms-per-gib 1000] [--qps 50] [--burst 100] [--timeout 120] [--inline-sim]
//     [--sizes VMs/nodes/relabelled,...] [--fleet-only] [--profile dir]
// --sizes runs one world per size, one after the other, each in a process of its own with the
// other options, and prints a table of the sizes side by side, e.g.
//   --sizes 1000/100/10,5000/500/50,10000/1000/100
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VirtFleetManager, type VirtFleetOptions } from '../controller/virtfleet.ts';
import { API_SERVER_BACKGROUND, apiServerMetrics, diffWrites, parseWrites } from './lib/apiserver-writes.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import { fleetController } from '../controller/fleet/setup.ts';
import { Manager } from '../controller/runtime/manager.ts';
import type { VMFleet } from '../controller/fleet/reconciler.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { defaultSimConfig, type DeepPartial, type SimConfig } from '../sim/config.ts';
import { vmiRequests } from '../sim/rules/resources.ts';
import { Simulator } from '../sim/simulator.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';
import { DriftTracker, type RepairResult } from './lib/drift-tracker.ts';
import { startBenchCluster } from './lib/fleet-world.ts';
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
    /** KubeVirt's parallelMigrationsPerCluster in the simulator (default: the budget). */
    'kubevirt-parallel': { type: 'string' },
    sizes: { type: 'string' },
    /** Runs the fleet controller alone once the GoldenImage controller has recorded the image (see below). */
    'fleet-only': { type: 'boolean', default: false },
    /** Writes a CPU profile of this process (controller and watches) over the first repetition's repair into this directory. */
    profile: { type: 'string' },
  },
});

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const nodes = Number(values.nodes);
const vms = Number(values.vms);
const relabel = Number(values.relabel);
const repetitions = Number(values.repetitions);
const budget = Number(values.budget);
const maxConcurrent = Number(values['max-concurrent']);
const speed = Number(values.speed);
const timeoutMs = Number(values.timeout) * 1000;
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
    parallelMigrationsPerCluster: Number(values['kubevirt-parallel'] ?? budget),
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
const max = (xs: number[]) => percentile(xs, 1);
/** Share of [from, to] during which the step function `steps` (value in force from `at` on) was ≥ limit. */
function shareAtLeast(steps: { at: number; inFlight: number }[], from: number, to: number, limit: number): number {
  if (!(to > from)) return NaN;
  let at = 0;
  for (let i = 0; i < steps.length; i++) {
    const a = Math.max(from, steps[i]!.at);
    const b = Math.min(to, steps[i + 1]?.at ?? to);
    if (b > a && steps[i]!.inFlight >= limit) at += b - a;
  }
  return at / (to - from);
}
/** Time-weighted mean of the step function over [from, to]. */
function meanOver(steps: { at: number; inFlight: number }[], from: number, to: number): number {
  if (!(to > from)) return NaN;
  let sum = 0;
  for (let i = 0; i < steps.length; i++) {
    const a = Math.max(from, steps[i]!.at);
    const b = Math.min(to, steps[i + 1]?.at ?? to);
    if (b > a) sum += (b - a) * steps[i]!.inFlight;
  }
  return sum / (to - from);
}
const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** The collection a request touched, e.g. virtualmachineinstancemigrations or vmfleets/status. */
function resourceOf(path: string): string {
  const s = path.split('?')[0]!.split('/').filter(Boolean);
  let i = s[0] === 'api' ? 2 : 3;
  if (s[i] === 'namespaces' && s.length > i + 2) i += 2;
  return s[i + 2] ? `${s[i]}/${s[i + 2]}` : (s[i] ?? path);
}
class RequestCounter {
  readonly log: { at: number; method: string; resource: string }[] = [];
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

/** Each reconcile of either controller, with when it ended and how long it took (wall clock, awaits included). */
class ReconcileLog {
  readonly log: { controller: string; start: number; end: number }[] = [];
  reconciled(controller: string, _key: string, _outcome: unknown, seconds: number): void {
    const end = Date.now();
    this.log.push({ controller, start: end - seconds * 1000, end });
  }
  /** Per controller over from → to: reconciles, their total and median / max length. */
  between(from: number, to: number): Record<string, { count: number; totalMs: number; medianMs: number; maxMs: number }> {
    const by = new Map<string, number[]>();
    for (const r of this.log) {
      if (r.end < from || r.end > to) continue;
      let xs = by.get(r.controller);
      if (!xs) by.set(r.controller, (xs = []));
      xs.push(r.end - r.start);
    }
    return Object.fromEntries([...by].map(([c, xs]) => [c, { count: xs.length, totalMs: xs.reduce((a, b) => a + b, 0), medianMs: median(xs), maxMs: max(xs) }]));
  }
  /** Whether a reconcile of `controller` was under way at `at`. */
  during(controller: string, at: number): boolean {
    return this.log.some((r) => r.controller === controller && r.start <= at && at <= r.end);
  }
}

/**
 * The sum and count of a histogram in the API server's /metrics over the series whose labels
 * contain every one of `labels` (e.g. `verb="POST"`).
 */
function histogramTotals(metrics: string, name: string, labels: string[]): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of metrics.split('\n')) {
    const isSum = line.startsWith(`${name}_sum{`);
    if (!isSum && !line.startsWith(`${name}_count{`)) continue;
    if (!labels.every((l) => line.includes(l))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (isSum) sum += value;
    else count += value;
  }
  return { sum, count };
}

/** What the API server spent on migration creates, from its own histograms: the whole request and the admission webhooks in it. */
function createCosts(metrics: string) {
  return {
    post: histogramTotals(metrics, 'apiserver_request_duration_seconds', ['resource="virtualmachineinstancemigrations"', 'verb="POST"']),
    webhook: histogramTotals(metrics, 'apiserver_admission_webhook_admission_duration_seconds', ['operation="CREATE"']),
    patchVM: histogramTotals(metrics, 'apiserver_request_duration_seconds', ['resource="virtualmachines"', 'verb="PATCH"']),
  };
}
const perCall = (before: { sum: number; count: number }, after: { sum: number; count: number }) => ({
  count: after.count - before.count,
  meanMs: after.count > before.count ? (1000 * (after.sum - before.sum)) / (after.count - before.count) : NaN,
});

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
  /** Share of t0 → repaired with min(budget, maxConcurrent) migrations in flight. */
  atBudgetShare: number;
  /** The same share from the first migration created to the last one created (while work remained to start). */
  atBudgetWhileWork: number;
  /** Time-weighted mean in flight over t0 → repaired. */
  meanInFlight: number;
  /** The last migration's watch arrival after t0. */
  lastCreatedMs?: number;
  migrations: number;
  failed: string[];
  unneeded: string[];
  /** Fleet migrations created after the repair was done, while settling and after labelling back. */
  late: number;
  requests: { total: number; byMethod: Record<string, number>; byResource: Record<string, number> };
  /** The controller's first request after t0 and its first migration create sent (ms after t0), with the requests before it. */
  firstRequestMs?: number;
  firstMigrationSentMs?: number;
  beforeFirstMigration: Record<string, number>;
  /** Controller log lines (info) of the first seconds after t0, ms after t0. */
  log: string[];
  /** Most and mean event-loop delay of this process (controller and watches) during the repair, ms. */
  loopDelayMaxMs: number;
  loopDelayMeanMs: number;
  /** Reconciles per controller during the repair. */
  reconciles: Record<string, { count: number; totalMs: number; medianMs: number; maxMs: number }>;
  refills: ReturnType<typeof refillSummary>;
  /** The API server's own mean time per migration POST, per admission webhook call in it, and per VM PATCH, over the repair. */
  apiServer: Record<'post' | 'webhook' | 'patchVM', { count: number; meanMs: number }>;
  /** Every client's writes the API server served during the repair, by resource (and subresource). */
  apiServerWrites: Record<string, number>;
  /** The controller's POSTs during the repair: how long the API server took to answer (its admission webhooks included). */
  postMs: { count: number; median: number; mean: number; max: number };
  /** Share of the time from the first to the last create at the limit, 1 and 2 below it, 3-5 below, and lower (%). */
  levels: Record<string, number>;
}

function levelShares(steps: { at: number; inFlight: number }[], from: number, to: number, limit: number): Record<string, number> {
  const atLeast = (n: number) => shareAtLeast(steps, from, to, n);
  return {
    [`${limit}`]: 100 * atLeast(limit),
    [`${limit - 1}`]: 100 * (atLeast(limit - 1) - atLeast(limit)),
    [`${limit - 2}`]: 100 * (atLeast(limit - 2) - atLeast(limit - 1)),
    [`${limit - 5}-${limit - 3}`]: 100 * (atLeast(limit - 5) - atLeast(limit - 2)),
    [`<${limit - 5}`]: 100 * (1 - atLeast(limit - 5)),
  };
}

/** One refill: the k-th migration end → the (k + limit)-th migration seen, split at that migration's POST. */
interface Refill {
  ms: number;
  controllerMs: number;
  createMs: number;
  /** The create was sent by a fleet reconcile (one was under way), not by the standby. */
  byReconcile: boolean;
}

/** The refills' mean and tail, and which path the slow ones took. */
function refillSummary(refills: Refill[]) {
  const slow = refills.filter((x) => x.ms > 200);
  return {
    count: refills.length,
    meanMs: mean(refills.map((x) => x.ms)),
    p90Ms: percentile(refills.map((x) => x.ms), 0.9),
    controllerMeanMs: mean(refills.map((x) => x.controllerMs)),
    createMeanMs: mean(refills.map((x) => x.createMs)),
    byReconcile: refills.filter((x) => x.byReconcile).length,
    over200: slow.length,
    over200ByReconcile: slow.filter((x) => x.byReconcile).length,
    over1s: refills.filter((x) => x.ms > 1000).length,
    /** Share of the summed refill time in refills over 200 ms. */
    over200TimeShare: refills.length === 0 ? NaN : slow.reduce((a, x) => a + x.ms, 0) / refills.reduce((a, x) => a + x.ms, 0),
  };
}

/**
 * Runs this benchmark once per size ("VMs/nodes/relabelled"), each in a child process with the
 * other options, and prints the sizes side by side from the JSON line each child ends with.
 */
async function runSizes(spec: string): Promise<void> {
  const sizes = spec.split(',').map((s) => {
    const [v, n, r] = s.split('/').map(Number);
    if (!v || !n || !r) throw new Error(`--sizes ${s}: VMs/nodes/relabelled`);
    return { vms: v, nodes: n, relabel: r };
  });
  const passOn: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (['sizes', 'vms', 'nodes', 'relabel'].includes(k) || v === undefined || v === false) continue;
    passOn.push(`--${k}`, ...(v === true ? [] : [String(v)]));
  }
  const out: Record<string, unknown>[] = [];
  for (const size of sizes) {
    console.log(`\n=== ${size.vms} VMs on ${size.nodes} nodes, ${size.relabel} relabelled (load ${loadavg()}, ${new Date().toISOString()})`);
    const child = spawn(process.execPath, [import.meta.filename, ...passOn, '--vms', String(size.vms), '--nodes', String(size.nodes), '--relabel', String(size.relabel)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let json: Record<string, unknown> | undefined;
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d);
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('{"bench":"drift-relabel"')) json = JSON.parse(l) as Record<string, unknown>;
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (json) out.push(json);
    else console.log(`! size ${size.vms}/${size.nodes}/${size.relabel}: no result (exit ${code})`);
  }
  type MM = { median: number; max: number; min?: number };
  const mm = (x: unknown, scale = 1, digits = 0) => `${fmt((x as MM).median * scale, digits)} / ${fmt((x as MM).max * scale, digits)}`;
  console.log('\n| VMs / nodes / relabelled | VMs moved per rep. | relabel → first migration (ms) | total repair (s) | repair ÷ minimum | repair ÷ observed minimum | at the budget, share of repair (%) | at the budget, first → last create (%) | migrations created / VMs moved | controller requests per rep. | load average |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const j of out) {
    const reps = j.repetitionsDetail as { affected: number; migrations: number; requests: { total: number } }[];
    const sum = (f: (r: (typeof reps)[number]) => number) => reps.reduce((a, r) => a + f(r), 0);
    const share = j.atBudgetShare as MM;
    const work = j.atBudgetWhileWork as MM;
    console.log(`| ${j.vms} / ${j.nodes} / ${j.relabel} | ${median(reps.map((r) => r.affected))} | ${mm(j.firstMigrationMs)} | ${mm(j.repairMs, 1 / 1000, 1)} | ${mm(j.repairOverMinimum, 1, 1)} | ${mm(j.repairOverObservedMinimum, 1, 2)} | ` +
      `${fmt(100 * share.median, 1)} (min ${fmt(100 * share.min!, 1)}) | ${fmt(100 * work.median, 1)} (min ${fmt(100 * work.min!, 1)}) | ${sum((r) => r.migrations)} / ${sum((r) => r.affected)} | ` +
      `${mm({ median: median(reps.map((r) => r.requests.total)), max: max(reps.map((r) => r.requests.total)) })} | ${(j.loadavg as string[]).join(' → ')} |`);
  }
  console.log(`(median / max of ${values.repetitions} repetitions per size; shares: median (min); budget ${values.budget}, maxConcurrent ${values['max-concurrent']}, speed ${values.speed}x)`);
}

if (values.sizes) {
  await runSizes(values.sizes);
  process.exit(0);
}
const loadAtStart = loadavg();

// The fixture GoldenImage names a loopback registry holding its images (tag 42, v1..v3).
const { plane, client, stop: stopCluster } = await startBenchCluster(namespace);
let stopSim: (() => Promise<void>) | undefined;
let manager: { start(): Promise<void>; stop(): Promise<void> } | undefined;
let tracker: DriftTracker | undefined;
const errors: string[] = [];
try {

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
  const reconciles = new ReconcileLog();
  // How long each POST took to answer (nearly all of a repair's are migration creates).
  const posts = { log: [] as { end: number; ms: number }[], completed(method: string, _code: string, _host: string, seconds: number) {
    if (method === 'POST') this.log.push({ end: Date.now(), ms: seconds * 1000 });
  } };
  const infoLog: { at: number; text: string }[] = [];
  const managerOptions = {
    kubeConfig: plane.kubeConfig(),
    namespace,
    migrationBudget: budget,
    ...(values.qps ? { qps: Number(values.qps) } : {}),
    ...(values.burst ? { burst: Number(values.burst) } : {}),
    log: { info: (msg, fields) => void infoLog.push({ at: Date.now(), text: `${msg} ${JSON.stringify(fields ?? {})}` }), error: (msg, fields) => void errors.push(`${msg} ${JSON.stringify(fields ?? {})}`) },
    onRequest: (method: string, path: string) => requests.record(method, path),
    observers: { reconciles, requests: posts },
  } satisfies VirtFleetOptions;
  if (values['fleet-only']) {
    // The GoldenImage controller records the image's versions and channels, then stops, and the
    // fleet controller runs alone: the GoldenImage reconcile (usage counts and health judgements
    // over every VM, on every VM and VMI event) would otherwise share its event loop.
    const full = new VirtFleetManager(managerOptions);
    await full.start();
    for (let waited = 0; ; waited += 200) {
      const image = await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace, name: 'fedora' });
      if (image?.status?.channels?.some((c) => c.name === 'stable' && c.version)) break;
      if (waited > 60_000) throw new Error(`GoldenImage without its stable channel after 60 s: ${JSON.stringify(image?.status)}`);
      await sleep(200);
    }
    await full.stop();
    const fleetOnly = new Manager(managerOptions);
    fleetOnly.add('vmfleet', (ctx) => fleetController(ctx, managerOptions));
    manager = fleetOnly;
    console.log('GoldenImage recorded; the fleet controller runs alone (--fleet-only)');
  } else {
    manager = new VirtFleetManager(managerOptions);
  }
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

    const profiling = values.profile && rep === 1 ? new Session() : undefined;
    if (profiling) {
      profiling.connect();
      await profiling.post('Profiler.enable');
      await profiling.post('Profiler.setSamplingInterval', { interval: 1000 });
      await profiling.post('Profiler.start');
    }
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const metricsBefore = await apiServerMetrics(plane.kubeConfig());
    const costsBefore = createCosts(metricsBefore);
    const t0 = Date.now();
    const window = tracker.measure(t0, drained, timeoutMs);
    await Promise.all(drained.map((name) => client.mergePatch(RESOURCES.node, { name }, { metadata: { labels: { [LABEL]: null } } })));
    const r: RepairResult = await window.done;
    const end = r.doneAt ?? Date.now();
    const requestsDuringRepair = requests.between(t0, end);
    const metricsAfter = await apiServerMetrics(plane.kubeConfig());
    const costsAfter = createCosts(metricsAfter);
    // Every client's writes (the simulator's status updates, the benchmark's relabel, the controllers'), beside the controllers' own.
    const allWrites = diffWrites(parseWrites(metricsBefore, { excludeResources: API_SERVER_BACKGROUND }), parseWrites(metricsAfter, { excludeResources: API_SERVER_BACKGROUND }));
    const apiServer = {
      post: perCall(costsBefore.post, costsAfter.post), webhook: perCall(costsBefore.webhook, costsAfter.webhook), patchVM: perCall(costsBefore.patchVM, costsAfter.patchVM),
    };
    loop.disable();
    if (profiling) {
      const { profile } = await profiling.post('Profiler.stop');
      mkdirSync(values.profile!, { recursive: true });
      const file = join(values.profile!, `drift-${vms}-rep1.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      profiling.disconnect();
      console.log(`cpu profile of rep 1: ${file}`);
    }
    const sent = requests.log.filter((q) => q.at >= t0 && q.at <= end);
    const firstMigrationSent = sent.find((q) => q.method === 'POST' && q.resource === 'virtualmachineinstancemigrations');
    const beforeFirstMigration: Record<string, number> = {};
    for (const q of sent) {
      if (firstMigrationSent && q.at >= firstMigrationSent.at) break;
      beforeFirstMigration[`${q.method} ${q.resource}`] = (beforeFirstMigration[`${q.method} ${q.resource}`] ?? 0) + 1;
    }
    const logLines = infoLog.filter((l) => l.at >= t0 && l.at <= t0 + 10_000).slice(0, 12).map((l) => `+${l.at - t0} ${l.text.slice(0, 200)}`);

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
    // The controller's refill, matched first in, first out: with `limit` migrations in flight, the
    // k-th end makes room for the (k + limit)-th migration, so the refill of end k is the time
    // until that one is seen (the next one seen after an end may have been created before it, for
    // an earlier end). Split at that migration's POST: the controller's part (the end's watch
    // event, then the standby or a reconcile) and the create's (API server, webhook, watch).
    const limitNow = Math.min(budget, maxConcurrent);
    const seen = r.migrations.map((t) => t.seenAt).sort((a, b) => a - b);
    const ends = r.migrations.map((t) => t.finishedAt).filter((f) => f !== undefined).sort((a, b) => a - b);
    const creates = sent.filter((q) => q.method === 'POST' && q.resource === 'virtualmachineinstancemigrations').map((q) => q.at);
    // Only when every POST made a migration (none refused) do the POSTs line up with the migrations seen.
    const postsAlign = creates.length === seen.length;
    const repGaps: number[] = [];
    const refills: Refill[] = [];
    // A migration seen before the end it is matched with was created below the limit: no wait (0).
    for (let k = 0; k + limitNow < seen.length && k < ends.length; k++) {
      const next = seen[k + limitNow]!;
      const ms = Math.max(0, next - ends[k]!);
      repGaps.push(ms);
      if (postsAlign) {
        const post = creates[k + limitNow]!;
        refills.push({ ms, controllerMs: Math.max(0, post - ends[k]!), createMs: next - post, byReconcile: reconciles.during('vmfleet', post) });
      }
    }
    refillGaps.push(...repGaps);
    const lastSeen = seen.at(-1);
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
      atBudgetShare: shareAtLeast(r.steps, t0, end, limitNow),
      atBudgetWhileWork: r.firstSeenAt !== undefined && lastSeen !== undefined ? shareAtLeast(r.steps, r.firstSeenAt, lastSeen, limitNow) : NaN,
      meanInFlight: meanOver(r.steps, t0, end),
      ...(lastSeen !== undefined ? { lastCreatedMs: lastSeen - t0 } : {}),
      migrations: r.migrations.length,
      failed: r.failed,
      unneeded: r.unneeded,
      late,
      requests: requestsDuringRepair,
      ...(sent[0] ? { firstRequestMs: sent[0].at - t0 } : {}),
      ...(firstMigrationSent ? { firstMigrationSentMs: firstMigrationSent.at - t0 } : {}),
      beforeFirstMigration,
      log: logLines,
      loopDelayMaxMs: loop.max / 1e6,
      loopDelayMeanMs: loop.mean / 1e6,
      reconciles: reconciles.between(t0, end),
      // From the first to the last create: how far below the budget the shortfall goes.
      levels: r.firstSeenAt !== undefined && lastSeen !== undefined ? levelShares(r.steps, r.firstSeenAt, lastSeen, limitNow) : {},
      refills: refillSummary(refills),
      apiServer,
      apiServerWrites: allWrites.byResource,
      postMs: (() => {
        const xs = posts.log.filter((q) => q.end >= t0 && q.end <= end).map((q) => q.ms);
        return { count: xs.length, median: median(xs), mean: mean(xs), max: max(xs) };
      })(),
    };
    results.push(result);
    console.log(`rep ${rep}: ${r.affected} VMs on ${drained.length} drained nodes; first migration ${fmt(result.firstMs)} ms, repaired ${fmt(result.repairMs)} ms, ${r.migrations.length} migrations, max in flight ${r.maxInFlight}, at the budget ${fmt(100 * result.atBudgetShare, 1)}% of the repair (${fmt(100 * result.atBudgetWhileWork, 1)}% from the first to the last migration created), mean in flight ${fmt(result.meanInFlight, 1)}; load ${loadavg()}`);
    console.log(`  controller: first request +${fmt(result.firstRequestMs)} ms, first migration create sent +${fmt(result.firstMigrationSentMs)} ms after ${JSON.stringify(beforeFirstMigration)}; ` +
      `event loop delay max ${fmt(result.loopDelayMaxMs)} ms, mean ${fmt(result.loopDelayMeanMs, 1)} ms`);
    console.log(`  in flight, share of first → last create: ${Object.entries(result.levels).map(([n, x]) => `${n}: ${fmt(x, 1)}%`).join(', ')}`);
    console.log(`  reconciles during the repair: ${Object.entries(result.reconciles).map(([c, x]) => `${c} ${x.count} (median ${fmt(x.medianMs)} ms, max ${fmt(x.maxMs)} ms, ${fmt(x.totalMs / 1000, 1)} s in all)`).join('; ') || 'none'}; ` +
      `refills: ${result.refills.count}, mean ${fmt(result.refills.meanMs)} ms (controller ${fmt(result.refills.controllerMeanMs)} + create ${fmt(result.refills.createMeanMs)}), 90th percentile ${fmt(result.refills.p90Ms)} ms, ` +
      `POSTs answered in ${fmt(result.postMs.median)} ms median, ${fmt(result.postMs.mean)} mean, ${fmt(result.postMs.max)} max (${result.postMs.count}); ` +
      `the API server's mean: migration POST ${fmt(apiServer.post.meanMs)} ms (${apiServer.post.count}), its webhook call ${fmt(apiServer.webhook.meanMs)} ms, VM PATCH ${fmt(apiServer.patchVM.meanMs)} ms (${apiServer.patchVM.count}); ` +
      `${result.refills.byReconcile} sent by a reconcile, the rest by the standby; ${result.refills.over200} over 200 ms (${result.refills.over200ByReconcile} by a reconcile; ${fmt(100 * result.refills.over200TimeShare, 1)}% of all refill time), ${result.refills.over1s} over 1 s`);
    console.log(`  writes the API server served during the repair, all clients (${allWrites.total}): ${Object.entries(allWrites.byResource).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}${allWrites.conflictsByResource[k] ? ` (${allWrites.conflictsByResource[k]} refused with 409)` : ''}`).join(', ')}; ` +
      `the controllers' own: ${Object.entries(requestsDuringRepair.byResource).filter(([k]) => !k.startsWith('GET')).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const l of logLines) console.log(`    ${l}`);
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
  const widths = [3, 8, 6, 9, 10, 9, 8, 6, 8, 14, 7, 7, 5, 7, 7, 18];
  console.log('');
  console.log(`drift repair: ${nodes} nodes, ${vms} VMs, ${relabel} nodes relabelled per repetition, budget ${budget}, maxConcurrent ${maxConcurrent}, ` +
    `sim parallelMigrationsPerCluster ${mig.parallelMigrationsPerCluster} / perNode ${mig.parallelOutboundMigrationsPerNode}, speed ${speed}x`);
  console.log(`one migration: 3 × ${mig.phaseMs} ms + ${migrationMemoryGiB.toFixed(2)} GiB × ${mig.msPerGiB} ms/GiB = ${migrationSimMs} simulated ms = ${fmt(migrationRealMs, 1)} real ms; ` +
    `concurrency ${concurrency}; min = rounds × ${fmt(migrationRealMs, 1)} ms`);
  console.log(row(['rep', 'affected', 'before', 'first ms', 'cts-t0', 'repair ms', 'min ms', 'ratio', 'rounds', 'in flight n/f/a', 'full %', 'work %', 'migs', 'mig ms', 'refill', 'requests G/P/Pa/D'], widths));
  for (const r of results) {
    const m = r.requests.byMethod;
    console.log(row([
      r.rep, r.affected, r.movedBefore, fmt(r.firstMs), fmt(r.firstCreationMs), fmt(r.repairMs), fmt(r.minMs), fmt((r.repairMs ?? NaN) / r.minMs, 1),
      r.minRounds === r.minRoundsPerNode ? r.minRounds : `${r.minRounds}/${r.minRoundsPerNode}`,
      `${r.maxInFlight}/${r.maxInFlightFleet}/${r.maxActive}`, fmt(100 * r.atBudgetShare, 1), fmt(100 * r.atBudgetWhileWork, 1), r.migrations, fmt(r.migrationMs), fmt(r.refillMs),
      `${m.GET ?? 0}/${m.POST ?? 0}/${m.PATCH ?? 0}/${m.DELETE ?? 0}`,
    ], widths));
  }
  console.log('(before: affected VMs an earlier repetition had migrated; first ms: watch arrival of the first migration after t0; cts-t0: its creationTimestamp, 1-s resolution, ' +
    'so the creation happened in [cts-t0, cts-t0+1000); rounds: by the budgets / with perNode; in flight: namespace/fleet/past Pending; full %: share of t0→repaired with min(budget, maxConcurrent) in flight; work %: the same from the first to the last migration created; mig ms: median created→Succeeded; refill: median from the k-th migration end to the (k + limit)-th migration seen; requests: controller GET/POST/PATCH/DELETE from t0 to repaired)');
  const firsts = results.map((r) => r.firstMs ?? NaN);
  const repairs = results.map((r) => r.repairMs ?? NaN);
  const ratios = results.map((r) => (r.repairMs ?? NaN) / r.minMs);
  const maxInFlight = Math.max(...results.map((r) => r.maxInFlight));
  const limit = Math.min(budget, maxConcurrent);
  console.log('');
  console.log(`time to first migration (watch): median ${fmt(median(firsts))} ms, max of ${results.length} ${fmt(max(firsts))} ms`);
  console.log(`repair time:                     median ${fmt(median(repairs))} ms, max of ${results.length} ${fmt(max(repairs))} ms`);
  console.log(`repair / theoretical minimum:    median ${fmt(median(ratios), 1)}, max of ${results.length} ${fmt(max(ratios), 1)}`);
  console.log(`one migration as observed (median over all, watch arrivals): in flight ${fmt(median(allInFlightMs))} ms = ` +
    PHASES.map((p, i) => `${i === 0 ? 'created' : PHASES[i - 1]}→${p} ${fmt(median(phaseSteps[i]!))}`).join(', '));
  const observedMin = results.map((r) => (r.repairMs ?? NaN) / (r.minRoundsPerNode * median(allInFlightMs)));
  console.log(`repair / (rounds × observed migration time ${fmt(median(allInFlightMs))} ms): median ${fmt(median(observedMin), 2)}, max of ${results.length} ${fmt(max(observedMin), 2)}`);
  console.log(`controller refill (the k-th migration end → the (k + limit)-th migration seen): median ${fmt(median(refillGaps))} ms, max ${fmt(max(refillGaps))} ms over ${refillGaps.length}`);
  const shares = results.map((r) => r.atBudgetShare);
  const workShares = results.map((r) => r.atBudgetWhileWork);
  console.log(`at the budget (${limit} in flight), share of the repair time: median ${fmt(100 * median(shares), 1)}%, min of ${results.length} ${fmt(100 * Math.min(...shares), 1)}%; ` +
    `from the first to the last migration created: median ${fmt(100 * median(workShares), 1)}%, min ${fmt(100 * Math.min(...workShares), 1)}%`);
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
    repairOverObservedMinimum: { median: median(observedMin), max: max(observedMin) },
    refillMs: { median: median(refillGaps), max: max(refillGaps) },
    migrationRealMs,
    firstMigrationMs: { median: median(firsts), max: max(firsts) },
    repairMs: { median: median(repairs), max: max(repairs) },
    repairOverMinimum: { median: median(ratios), max: max(ratios) },
    maxInFlight, limit, budgetHonoured: maxInFlight <= limit,
    controllerErrors: errors.length,
    atBudgetShare: { median: median(shares), min: Math.min(...shares), max: max(shares) },
    atBudgetWhileWork: { median: median(workShares), min: Math.min(...workShares), max: max(workShares) },
    loadavg: [loadAtStart, loadavg()],
    repetitionsDetail: results.map((r) => ({ ...r, requests: { total: r.requests.total, byMethod: r.requests.byMethod } })),
  }));
} finally {
  await tracker?.stop();
  await manager?.stop();
  await stopSim?.();
  await stopCluster();
}
