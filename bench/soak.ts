// Soak under faults (issue 16), a benchmark, not in CI: a control plane of its own, the simulator,
// and the controller (a process) behind the loopback proxy, while two fleets keep changing: `roll`
// rolls to the next image version, `drift` has its nodes relabelled so that every VM must be
// live-migrated. Meanwhile faults in a seeded random order, one at a time with a pause between: every
// connection dropped, connections hung for longer than the watch silence timeout, bursts of 429s
// or 500s, kube-apiserver SIGKILLed. The invariant checker samples the API server throughout.
// Prints the faults injected, each change and how long it took to converge, the invariant checks
// made and any violation, and the controller's RSS and V8 heap used over time. Exits 1 if an invariant
// broke, a change did not converge, or a VM was lost or created again.
//   node bench/soak.ts [--minutes 30] [--fault-every 20] [--seed 1] [--sample-every 15]
// The controller's log (errors while faults run) goes to stderr; the report to stdout.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import parsePrometheus from 'parse-prometheus-text-format';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { SeededChance } from '../sim/random.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';
import { startRunProcess, type ControllerProcess } from '../test/harness/controller-process.ts';
import { checkInvariants, type FleetLimits, type InvariantChecker } from '../test/harness/invariants.ts';
import { startOwnControlPlane, type OwnControlPlane } from '../test/harness/own-control-plane.ts';
import { startApiProxy, type ApiProxy } from '../test/harness/proxy.ts';
import { startSharedRegistry } from '../test/harness/registry.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'fault-every': { type: 'string', default: '20' },
    'sample-every': { type: 'string', default: '15' },
    seed: { type: 'string', default: '1' },
  },
});
const MINUTES = Number(values.minutes);
const FAULT_EVERY_MS = Number(values['fault-every']) * 1000;
const SAMPLE_EVERY_MS = Number(values['sample-every']) * 1000;
const random = new SeededChance(Number(values.seed));

const NS = 'soak';
const REPLICAS = 6;
const BUDGET = 3;
const POOL = 'soak.test/pool';
const SILENCE_MS = 5_000;
/** A change not converged by then counts as failed; the next one starts anyway. */
const CONVERGE_MS = 180_000;
const VERSIONS = ['v1', 'v2', 'v3'];
const LIMITS: FleetLimits[] = [
  { name: 'roll', replicas: REPLICAS, maxUnavailable: 2, maxConcurrent: 2 },
  { name: 'drift', replicas: REPLICAS, maxUnavailable: 1, maxConcurrent: 2 },
];

const started = Date.now();
const clock = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s`;
const say = (line: string) => console.log(`${clock()}  ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** A write of the soak's own, tried again with backoff for up to a minute: the API server may be restarting. */
async function retried<T>(write: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4_000)) {
    try {
      return await write();
    } catch (err) {
      if (Date.now() + delayMs > deadline) throw err;
      await sleep(delayMs);
    }
  }
}

interface Fault { name: string; inject(): Promise<string> }
const faults = (c: OwnControlPlane, proxy: ApiProxy): Fault[] => [
  { name: 'drop', inject: async () => `${proxy.dropAll()} connections dropped` },
  {
    name: 'hang',
    inject: async () => {
      const held = proxy.hang();
      await sleep(SILENCE_MS + 3_000);
      proxy.release();
      return `${held} connections silent for ${(SILENCE_MS + 3_000) / 1000} s, then dropped`;
    },
  },
  { name: '429-burst', inject: () => burst(proxy, { tooManyRequests: 0.3, retryAfterSeconds: 1 }, '30% 429 (Retry-After 1)') },
  { name: '500-burst', inject: () => burst(proxy, { serverError: 0.3 }, '30% 500') },
  {
    name: 'apiserver-kill',
    inject: async () => {
      const at = Date.now();
      await c.plane.restart('kube-apiserver');
      return `kube-apiserver SIGKILLed, ready again after ${Date.now() - at} ms`;
    },
  },
];
async function burst(proxy: ApiProxy, share: Parameters<ApiProxy['setFaults']>[0], what: string): Promise<string> {
  const from = proxy.requests.length;
  proxy.setFaults(share);
  await sleep(10_000);
  proxy.setFaults({});
  const injected = proxy.requests.slice(from).filter((r) => r.injected).length;
  return `${what} for 10 s: ${injected} of ${proxy.requests.length - from} requests answered by the proxy`;
}

/** RSS and heap used, from the controller's own /metrics (prom-client's process and nodejs gauges). */
async function memoryOf(metricsAddress: string): Promise<{ rss: number; heapUsed: number; source: string }> {
  const res = await fetch(`http://${metricsAddress}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const families = parsePrometheus(await res.text());
  const gauge = (name: string) => families.find((f) => f.name === name)?.metrics.reduce((sum, m) => sum + Number(m.value ?? 0), 0);
  const [rss, heapUsed] = [gauge('process_resident_memory_bytes'), gauge('nodejs_heap_size_used_bytes')];
  if (rss === undefined || heapUsed === undefined) throw new Error('the controller\'s /metrics has no process_resident_memory_bytes or nodejs_heap_size_used_bytes');
  return { rss, heapUsed, source: '/metrics' };
}

async function main(): Promise<number> {
  const undo: (() => Promise<unknown> | void)[] = [];
  try {
    const registry = await startSharedRegistry();
    undo.push(() => registry.stop());
    const dir = await mkdtemp(join(tmpdir(), 'virtfleet-soak-'));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    const c = await startOwnControlPlane({ namespaces: [NS], nodes: 8, sim: { migration: { msPerGiB: 30_000 } } });
    undo.push(() => c.stop());
    const proxy = await startApiProxy(c.plane.kubeConfig(), dir);
    undo.push(() => proxy.close());
    const controller = startRunProcess(['--kubeconfig', proxy.kubeconfigPath, '-n', NS, '--migration-budget-scope', 'namespace', '--migration-budget', String(BUDGET),
      '--metrics-bind-address', '127.0.0.1:0'], { ...process.env, VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS: String(SILENCE_MS) });
    undo.push(() => controller.stop().catch(() => undefined));
    const checker = await checkInvariants({ kubeConfig: c.plane.kubeConfig(), namespace: NS, fleets: LIMITS, migrationBudget: BUDGET });
    undo.push(() => checker.stop());
    return await soak(c, proxy, controller, checker) ? 0 : 1;
  } catch (err) {
    console.log(`soak aborted: ${(err as Error).message}`);
    return 1;
  } finally {
    for (const step of undo.reverse()) await step();
  }
}

/** The changes and the faults until time is up, then the report; whether everything held. */
async function soak(c: OwnControlPlane, proxy: ApiProxy, controller: ControllerProcess, checker: InvariantChecker): Promise<boolean> {
  let failed = false;
  const label = (nodes: number[], value: string | null) => retried(() => Promise.all(nodes.map((i) => c.sim.nodes.label(c.node(i), { [POOL]: value }))));
  const halves = [[0, 1, 2, 3], [4, 5, 6, 7]];
  let pool = 0;
  let version = 0;
  await label(halves[0]!, 'yes');
  await c.client.create(RESOURCES.vmFleet, vmFleet(NS, 'roll', { replicas: REPLICAS, version: VERSIONS[0]!, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await c.client.create(RESOURCES.vmFleet, vmFleet(NS, 'drift', { replicas: REPLICAS, nodeSelector: { [POOL]: 'yes' }, remediation: { liveMigration: { maxConcurrent: 2 } } }));

  const converged = async () => {
    const [roll, drift, vmis] = await Promise.all([c.fleetStatus(NS, 'roll'), c.fleetStatus(NS, 'drift'), c.fleetVMIs(NS, 'drift')]);
    const rolled = (s: VMFleetStatus | undefined) => !!s && s.readyReplicas === REPLICAS && s.updatedReplicas === REPLICAS && s.currentRevision === s.updateRevision;
    return rolled(roll) && roll?.imageVersion === VERSIONS[version] && rolled(drift) && (drift?.driftedReplicas ?? 0) === 0 && (drift?.migratingReplicas ?? 0) === 0
      && vmis.length === REPLICAS && vmis.every((v) => halves[pool]!.map(c.node).includes(v.status?.nodeName ?? ''));
  };
  const waitConverged = async (what: string): Promise<boolean> => {
    const from = Date.now();
    while (Date.now() - from < CONVERGE_MS) {
      if (await converged().catch(() => false)) {
        say(`converged: ${what} (${((Date.now() - from) / 1000).toFixed(1)} s)`);
        return true;
      }
      await sleep(500);
    }
    say(`NOT CONVERGED within ${CONVERGE_MS / 1000} s: ${what}`);
    return false;
  };
  if (!await waitConverged('fleets created')) throw new Error('the fleets never came up');
  const uidsOf = async () => new Map((await Promise.all(LIMITS.map((f) => c.fleetVMs(NS, f.name)))).flat().map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const uids = await uidsOf();
  const metricsAddress = controller.lines.find((l) => l.msg === 'serving metrics')?.address as string | undefined;
  if (metricsAddress === undefined) throw new Error('the controller logged no metrics address');

  const memory: { at: string; rss: number; heapUsed: number; source: string }[] = [];
  const injected: string[] = [];
  const changes = { made: 0, converged: 0 };
  const end = started + MINUTES * 60_000;
  let stop = false;

  // Rounds of every fault kind in a seeded random order, so a short run sees each kind too.
  const faultLoop = (async () => {
    const all = faults(c, proxy);
    for (let i = 0; ; i++) {
      const round = Math.floor(i / all.length);
      const order = [...all].sort((a, b) => random.value(`${round}-${a.name}`) - random.value(`${round}-${b.name}`));
      for (const until = Date.now() + FAULT_EVERY_MS; !stop && Date.now() < until;) await sleep(250);
      if (stop) break;
      const fault = order[i % all.length]!;
      say(`fault ${fault.name} ...`);
      const outcome = await fault.inject().catch((err: Error) => `failed to inject: ${err.message}`);
      injected.push(fault.name);
      say(`fault ${fault.name}: ${outcome}`);
    }
  })();
  const memoryLoop = (async () => {
    while (!stop) {
      const m = await memoryOf(metricsAddress).catch(() => undefined);
      if (m) memory.push({ at: clock(), ...m });
      await sleep(SAMPLE_EVERY_MS);
    }
  })();

  // Changes one after another, each waited for (under whatever fault is running), until time is up.
  for (let i = 0; Date.now() < end; i++) {
    let what: string;
    if (i % 2 === 0) {
      version = (version + 1) % VERSIONS.length;
      await retried(() => c.client.mergePatch(RESOURCES.vmFleet, { namespace: NS, name: 'roll' }, { spec: { image: { version: VERSIONS[version]! } } }));
      what = `roll to ${VERSIONS[version]}`;
    } else {
      const next = 1 - pool;
      await label(halves[next]!, 'yes');
      await label(halves[pool]!, null);
      pool = next;
      what = `drift: nodes ${halves[pool]!.join(',')} labelled, the others not`;
    }
    changes.made++;
    say(`change ${what}`);
    if (await waitConverged(what)) changes.converged++;
    else failed = true;
  }
  stop = true;
  await Promise.all([faultLoop, memoryLoop]);
  proxy.setFaults({});
  if (!await waitConverged('after the last fault')) failed = true;

  const now = await uidsOf();
  const changedVMs = [...uids].filter(([name, uid]) => now.get(name) !== uid).map(([name]) => name);
  if (changedVMs.length > 0 || now.size !== uids.size) failed = true;
  const violations = checker.violations();
  if (violations.length > 0) failed = true;

  const counts = Object.entries(injected.reduce<Record<string, number>>((n, f) => ({ ...n, [f]: (n[f] ?? 0) + 1 }), {})).map(([f, n]) => `${f} ${n}`).join(', ');
  console.log('\n## Summary');
  console.log(`duration ${MINUTES} min, seed ${values.seed}, a fault every ${FAULT_EVERY_MS / 1000} s`);
  console.log(`faults injected: ${injected.length} (${counts})`);
  console.log(`changes: ${changes.made}, converged ${changes.converged}; VMs kept (same name and uid): ${uids.size - changedVMs.length}/${uids.size}, VMs now ${now.size}${changedVMs.length ? `; lost or replaced: ${changedVMs.join(' ')}` : ''}`);
  console.log(`invariant checks: ${checker.samples()} samples, ${checker.relists()} checker relists, most migrations in flight ${JSON.stringify(checker.maxInFlight())} (budget ${BUDGET}), ${checker.migrationNames().length} migrations seen`);
  console.log(`violations: ${violations.length === 0 ? 'none, all held' : `\n  ${violations.join('\n  ')}`}`);
  console.log(`controller memory (${memory[0]?.source ?? 'no sample'}):`);
  console.log('      at    RSS MiB  heap used MiB');
  for (const m of memory) console.log(`${m.at}  ${MiB(m.rss).padStart(9)}  ${MiB(m.heapUsed).padStart(13)}`);
  if (controller.child.exitCode !== null) failed = true;
  console.log(`controller still running: ${controller.child.exitCode === null}; result: ${failed ? 'FAILED' : 'passed'}`);
  return !failed;
}

// Everything started is stopped by now; exit rather than wait for the backoff timers of the
// checker's and the simulator's watches that the restarts left scheduled.
process.exit(await main());
