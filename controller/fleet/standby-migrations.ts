// Refills the migration budget the moment a slot frees, without waiting for a reconcile. A fleet's
// plan names, besides the migrations it starts, the next ones its budget holds back (the plan's
// standby), together with what they were judged on: the fleet's generation, each VM's generation,
// its VMI object and the placement fingerprint of the node it runs on. When a migration ends, the
// first standby whose basis the caches still show unchanged is started at once, within the same
// budgets the planner applies (the cluster's, as of the cache and the reservations; the fleet's
// maxConcurrent). Anything changed since the plan is left to the next reconcile, which the same
// event has queued: the shortcut only ever does what that plan would have done with one more slot.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { nodeFingerprint } from '../cache/node-index.ts';
import { MIGRATION_FINAL_PHASES, type MigrateAction, type RemediationPlan } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import type { Cache } from '../cache/cache.ts';
import type { VMFleet } from './reconciler.ts';
import { fleetKeyOfMigration, type Migration, type MigrationBudget } from './remediation.ts';

export interface StandbyCaches {
  fleets: Cache<VMFleet>;
  vms: Cache<V1VirtualMachine>;
  vmis: Cache<V1VirtualMachineInstance>;
  nodes: Cache<V1Node>;
  migrations: Cache<Migration>;
}

/** What one standby migration was planned from. */
interface Basis {
  action: MigrateAction;
  vmUid: string;
  vmGeneration: number;
  vmi: V1VirtualMachineInstance;
  node: string;
  nodeFingerprint: string;
}

interface Standby {
  namespace: string;
  fleetName: string;
  fleetUid: string;
  generation: number;
  maxConcurrent: number;
  /** VMs the plan counted in flight by their VMI's migrationState alone (no migration object). */
  stateOnly: Map<string, V1VirtualMachineInstance>;
  queue: Basis[];
}

export interface StandbyOptions {
  caches: StandbyCaches;
  budget: MigrationBudget;
  /** Creates the migration (reserved already); resolves true when it was created. */
  start: (fleet: string, namespace: string, action: MigrateAction) => Promise<boolean>;
  now?: () => number;
}

export class StandbyMigrations {
  /** Fleet key → its newest plan's standby; replaced by every plan, gone with the fleet. */
  private readonly byFleet = new Map<string, Standby>();
  private readonly o: StandbyOptions;

  constructor(options: StandbyOptions) {
    this.o = options;
  }

  /** Takes the plan's standby as the fleet's (call right after the plan's slots are reserved). */
  remember(key: string, fleet: VMFleet, plan: RemediationPlan, maxConcurrent: number): void {
    const namespace = fleet.metadata!.namespace!;
    const queue: Basis[] = [];
    for (const action of plan.standby) {
      const vm = this.o.caches.vms.get(action.vm, namespace);
      const vmi = this.o.caches.vmis.get(action.vm, namespace);
      const node = vmi?.status?.nodeName;
      const nodeObj = node ? this.o.caches.nodes.get(node) : undefined;
      if (!vm?.metadata?.uid || !vmi || !node || !nodeObj) continue;
      queue.push({ action, vmUid: vm.metadata.uid, vmGeneration: vm.metadata.generation ?? 0, vmi, node, nodeFingerprint: nodeFingerprint(nodeObj) });
    }
    if (queue.length === 0) {
      this.byFleet.delete(key);
      return;
    }
    const withObject = new Set(this.inFlightVmis(namespace));
    const stateOnly = new Map<string, V1VirtualMachineInstance>();
    for (const name of plan.migrating) {
      const vmi = this.o.caches.vmis.get(name, namespace);
      if (vmi && !withObject.has(name)) stateOnly.set(name, vmi);
    }
    this.byFleet.set(key, {
      namespace, fleetName: fleet.metadata!.name!, fleetUid: fleet.metadata!.uid!, generation: fleet.metadata?.generation ?? 0, maxConcurrent, stateOnly, queue,
    });
  }

  forget(key: string): void {
    this.byFleet.delete(key);
  }

  get size(): number {
    let n = 0;
    for (const s of this.byFleet.values()) n += s.queue.length;
    return n;
  }

  /**
   * A migration changed: when one ended (or went), the freed slots go to standby migrations whose
   * basis still holds, the ended migration's own fleet first. Returns the migrations started.
   */
  onMigration(type: 'add' | 'update' | 'delete', m: Migration): Promise<string[]> {
    const ended = type === 'delete' || MIGRATION_FINAL_PHASES.includes(m.status?.phase ?? '');
    if (!ended || this.byFleet.size === 0) return Promise.resolve([]);
    const own = fleetKeyOfMigration(m, (name, ns) => this.o.caches.vmis.get(name, ns)?.metadata?.labels);
    const keys = [...this.byFleet.keys()].sort((a, b) => Number(b === own) - Number(a === own));
    const starts: Promise<string | undefined>[] = [];
    for (const key of keys) {
      for (;;) {
        const next = this.take(key);
        if (!next) break;
        starts.push(this.o.start(key, next.namespace, next.action).then((ok) => (ok ? next.action.name : undefined), () => undefined));
      }
    }
    return Promise.all(starts).then((names) => names.filter((n): n is string => n !== undefined));
  }

  /** The fleet's next standby migration that may start now, reserved; stale ones are dropped. */
  private take(key: string): { namespace: string; action: MigrateAction } | undefined {
    const s = this.byFleet.get(key);
    if (!s) return undefined;
    const now = (this.o.now ?? Date.now)();
    if (this.o.budget.available(now) <= 0) return undefined;
    const fleet = this.o.caches.fleets.get(s.fleetName, s.namespace);
    if (!fleet || fleet.metadata?.uid !== s.fleetUid || (fleet.metadata?.generation ?? 0) !== s.generation || fleet.metadata?.deletionTimestamp) {
      this.byFleet.delete(key);
      return undefined;
    }
    if (this.fleetInFlight(key, s) >= s.maxConcurrent) return undefined;
    const busy = new Set([...this.inFlightVmis(s.namespace), ...this.o.budget.pendingOf(key).keys()]);
    while (s.queue.length > 0) {
      const b = s.queue.shift()!;
      if (!this.holds(s, b) || busy.has(b.action.vm)) continue;
      this.o.budget.reserve(s.namespace, key, b.action, now);
      if (s.queue.length === 0) this.byFleet.delete(key);
      return { namespace: s.namespace, action: b.action };
    }
    this.byFleet.delete(key);
    return undefined;
  }

  /** Whether the caches still show what the standby migration was planned from. */
  private holds(s: Standby, b: Basis): boolean {
    const vm = this.o.caches.vms.get(b.action.vm, s.namespace);
    if (!vm || vm.metadata?.uid !== b.vmUid || (vm.metadata?.generation ?? 0) !== b.vmGeneration || vm.metadata?.deletionTimestamp) return false;
    if (this.o.caches.vmis.get(b.action.vm, s.namespace) !== b.vmi) return false;
    const node = this.o.caches.nodes.get(b.node);
    return !!node && nodeFingerprint(node) === b.nodeFingerprint;
  }

  /** The fleet's migrations in flight as the planner counts them: by object, reservation or migrationState. */
  private fleetInFlight(key: string, s: Standby): number {
    const vms = new Set<string>();
    for (const vmi of this.inFlightVmis(s.namespace)) if (this.o.caches.vmis.get(vmi, s.namespace)?.metadata?.labels?.[FLEET_LABEL] === s.fleetName) vms.add(vmi);
    for (const vm of this.o.budget.pendingOf(key).keys()) vms.add(vm);
    for (const [vm, vmi] of s.stateOnly) if (this.o.caches.vmis.get(vm, s.namespace) === vmi) vms.add(vm);
    return vms.size;
  }

  /** VMIs of the namespace with a migration object in flight (the budget holds every one of them). */
  private inFlightVmis(namespace: string): string[] {
    const out: string[] = [];
    for (const key of this.o.budget.inFlightKeys()) {
      const slash = key.indexOf('/');
      if (key.slice(0, slash) !== namespace) continue;
      const vmi = this.o.caches.migrations.get(key.slice(slash + 1), namespace)?.spec?.vmiName;
      if (vmi) out.push(vmi);
    }
    return out;
  }
}
