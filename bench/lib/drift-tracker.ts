// Follows one fleet's VMIs and every live migration of a namespace through watches (informers
// started long before a measurement), and times one drift repair at a time: when the first
// migration of the fleet appeared (watch arrival and creationTimestamp), the most migrations in
// flight at any change the API server reported, and when every fleet VMI was off the drained
// nodes with nothing in flight, and every change of the number in flight (so the share of the
// repair during which the budget was full can be weighted by time).
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { FLEET_LABEL } from '../../controller/core/fleet/names.ts';
import type { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../../controller/kube/resources.ts';
import { Informer } from '../../controller/runtime/informer.ts';

type Vmi = V1VirtualMachineInstance & KubernetesObject;
type Migration = V1VirtualMachineInstanceMigration & KubernetesObject;

const FINAL = ['Succeeded', 'Failed'];
const inFlight = (m: Migration) => !FINAL.includes(m.status?.phase ?? '');

export interface MigrationTiming {
  name: string;
  vmi: string;
  /** Real time (epoch ms) the watch first showed it. */
  seenAt: number;
  /** metadata.creationTimestamp (epoch ms, second precision). */
  createdAt: number;
  sourceNode?: string;
  /** Arrival of the watch event showing each phase. */
  phases: Record<string, number>;
  finalPhase?: string;
  finishedAt?: number;
}

export interface RepairResult {
  t0: number;
  /** Fleet VMIs on the drained nodes at t0. */
  affected: number;
  affectedByNode: Record<string, number>;
  /** Watch arrival of the fleet's first new migration. */
  firstSeenAt?: number;
  /** Its creationTimestamp (second precision). */
  firstCreatedAt?: number;
  firstName?: string;
  /** Every fleet VMI off the drained nodes and no migration in flight. */
  doneAt?: number;
  /** Most migrations in flight at once (namespace / labelled with the fleet). */
  maxInFlight: number;
  maxInFlightFleet: number;
  /** Most migrations past Pending (Scheduling..Running) at once: what the simulated KubeVirt ran. */
  maxActive: number;
  /**
   * Every change of the number in flight (namespace) and past Pending, from t0 on, at the watch
   * arrival that changed it: a step function, for time-weighted shares.
   */
  steps: { at: number; inFlight: number; active: number }[];
  migrations: MigrationTiming[];
  /** Migrations of the fleet that did not end Succeeded. */
  failed: string[];
  /** Migrations of VMIs that were not on a drained node. */
  unneeded: string[];
}

export class DriftTracker {
  readonly vmis: Informer<Vmi>;
  readonly migrations: Informer<Migration>;
  private readonly fleet: string;
  private readonly expected: number;
  private readonly timings = new Map<string, MigrationTiming>();
  private window: { result: RepairResult; drained: Set<string>; affectedVmis: Set<string>; known: Set<string>; done: () => void } | undefined;
  private listeners: (() => void)[] = [];

  constructor(kc: KubeConfig, client: KubeClient, namespace: string, fleet: string, expected: number) {
    this.fleet = fleet;
    this.expected = expected;
    const selector = `${FLEET_LABEL}=${fleet}`;
    this.vmis = new Informer<Vmi>(kc, { path: pathOf(RESOURCES.vmi, namespace), labelSelector: selector, list: () => client.list<Vmi>(RESOURCES.vmi, { namespace, labelSelector: selector }) as never });
    this.migrations = new Informer<Migration>(kc, { path: pathOf(RESOURCES.vmim, namespace), list: () => client.list<Migration>(RESOURCES.vmim, { namespace }) as never });
    this.vmis.on(() => this.changed());
    this.migrations.on((type, m) => {
      this.timeMigration(type, m);
      this.changed();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.vmis.start(), this.migrations.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.vmis.stop(), this.migrations.stop()]);
  }

  /** Calls `f` after every event (until it returns true). */
  onChange(f: () => boolean): void {
    const l = () => {
      if (f()) this.listeners = this.listeners.filter((x) => x !== l);
    };
    this.listeners.push(l);
  }

  /** Fleet VMIs that run on a node, by node. */
  vmisByNode(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const v of this.vmis.list()) {
      const node = v.status?.nodeName;
      if (v.status?.phase === 'Running' && node && !v.metadata?.deletionTimestamp) out.set(node, [...(out.get(node) ?? []), v.metadata!.name!]);
    }
    return out;
  }

  runningCount(): number {
    return this.vmis.list().filter((v) => v.status?.phase === 'Running' && v.status?.nodeName && !v.metadata?.deletionTimestamp).length;
  }

  inFlight(): Migration[] {
    return this.migrations.list().filter(inFlight);
  }

  /** Every migration name the cache holds now (to tell later ones apart). */
  migrationNames(): Set<string> {
    return new Set(this.migrations.list().map((m) => m.metadata!.name!));
  }

  /**
   * Opens a measurement window: `t0` is taken by the caller just before it drains `drained`.
   * Resolves when the repair is done, or after `timeoutMs` with doneAt unset.
   */
  measure(t0: number, drained: string[], timeoutMs: number): { result: RepairResult; done: Promise<RepairResult> } {
    const drainedSet = new Set(drained);
    const byNode = this.vmisByNode();
    const affectedVmis = new Set(drained.flatMap((n) => byNode.get(n) ?? []));
    const result: RepairResult = {
      t0,
      affected: affectedVmis.size,
      affectedByNode: Object.fromEntries(drained.map((n) => [n, byNode.get(n)?.length ?? 0])),
      maxInFlight: this.inFlight().length,
      maxInFlightFleet: this.inFlight().filter((m) => m.metadata?.labels?.[FLEET_LABEL] === this.fleet).length,
      maxActive: 0,
      steps: [{ at: t0, inFlight: this.inFlight().length, active: 0 }],
      migrations: [],
      failed: [],
      unneeded: [],
    };
    let resolve!: () => void;
    const finished = new Promise<void>((r) => (resolve = r));
    this.window = { result, drained: drainedSet, affectedVmis, known: this.migrationNames(), done: resolve };
    const timer = setTimeout(resolve, timeoutMs);
    return {
      result,
      done: finished.then(() => {
        clearTimeout(timer);
        this.window = undefined;
        result.migrations = [...this.timings.values()].filter((t) => t.seenAt >= t0).sort((a, b) => a.seenAt - b.seenAt);
        result.failed = result.migrations.filter((t) => t.finalPhase !== 'Succeeded').map((t) => `${t.name}:${t.finalPhase ?? Object.keys(t.phases).at(-1) ?? 'unadmitted'}`);
        result.unneeded = result.migrations.filter((t) => !affectedVmis.has(t.vmi)).map((t) => t.name);
        return result;
      }),
    };
  }

  private timeMigration(type: string, m: Migration): void {
    const now = Date.now();
    const name = m.metadata!.name!;
    let t = this.timings.get(m.metadata!.uid!);
    if (type === 'delete') return;
    if (!t) {
      if (m.metadata?.labels?.[FLEET_LABEL] !== this.fleet) return;
      const vmi = m.spec?.vmiName ?? '';
      const sourceNode = this.vmis.get(vmi, m.metadata?.namespace)?.status?.nodeName;
      t = { name, vmi, seenAt: now, createdAt: Date.parse(String(m.metadata?.creationTimestamp ?? '')), ...(sourceNode ? { sourceNode } : {}), phases: {} };
      this.timings.set(m.metadata!.uid!, t);
      const w = this.window;
      if (w && !w.known.has(name) && w.result.firstSeenAt === undefined) {
        w.result.firstSeenAt = now;
        w.result.firstCreatedAt = t.createdAt;
        w.result.firstName = name;
      }
    }
    const phase = m.status?.phase ?? '';
    if (phase && t.phases[phase] === undefined) t.phases[phase] = now;
    if (FINAL.includes(phase) && !t.finalPhase) {
      t.finalPhase = phase;
      t.finishedAt = now;
    }
  }

  private changed(): void {
    const w = this.window;
    if (w) {
      const flying = this.inFlight();
      w.result.maxInFlight = Math.max(w.result.maxInFlight, flying.length);
      w.result.maxInFlightFleet = Math.max(w.result.maxInFlightFleet, flying.filter((m) => m.metadata?.labels?.[FLEET_LABEL] === this.fleet).length);
      const active = flying.filter((m) => !['', 'Pending'].includes(m.status?.phase ?? '')).length;
      w.result.maxActive = Math.max(w.result.maxActive, active);
      const last = w.result.steps.at(-1)!;
      if (last.inFlight !== flying.length || last.active !== active) w.result.steps.push({ at: Date.now(), inFlight: flying.length, active });
      if (w.result.doneAt === undefined && flying.length === 0 && this.repaired(w.drained)) {
        w.result.doneAt = Date.now();
        w.done();
      }
    }
    for (const l of [...this.listeners]) l();
  }

  private repaired(drained: Set<string>): boolean {
    let running = 0;
    for (const v of this.vmis.list()) {
      if (v.metadata?.deletionTimestamp) continue;
      const node = v.status?.nodeName;
      if (v.status?.phase !== 'Running' || !node || drained.has(node)) return false;
      running++;
    }
    return running === this.expected;
  }
}
