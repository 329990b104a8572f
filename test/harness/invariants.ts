// The safety invariants (README "Safety invariants"), checked from outside at every change the API
// server shows: a watch of the namespace's VirtualMachines and VirtualMachineInstanceMigrations
// that survives cut watches and API server restarts (it relists and carries on), so fault tests
// can keep it running through the faults they inject. Checked at every sample:
//   - per fleet, no more than maxUnavailable of its replicas not Ready (from the moment it was
//     first fully Ready: a fleet coming up is not "unavailable"),
//   - per fleet, at most maxConcurrent migrations in flight; in the namespace, at most the
//     migration budget,
//   - at most one migration in flight per VMI,
//   - a VM name or a migration name never held by two objects (uids) over the test: no index
//     stamped twice, no migration created again,
//   - bystanders untouched: a VM in the namespace that matches a fleet's selector but is not owned
//     by it keeps its labels, spec and owner references, and is never deleted.
// The checks are pure functions of a sample (violationsOf); the watch is the thin shell.
import type { V1VirtualMachine, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { FLEET_LABEL } from '../../controller/core/fleet/names.ts';
import { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES, type Resource } from '../../controller/kube/resources.ts';

export interface FleetLimits {
  name: string;
  replicas: number;
  maxUnavailable: number;
  maxConcurrent: number;
}

export interface Sample {
  vms: readonly V1VirtualMachine[];
  migrations: readonly V1VirtualMachineInstanceMigration[];
}

const FINAL = ['Succeeded', 'Failed'];
export const inFlight = (m: V1VirtualMachineInstanceMigration) => !FINAL.includes(m.status?.phase ?? '') && !m.metadata?.deletionTimestamp;
const ownedBy = (vm: V1VirtualMachine, fleet: string) => vm.metadata?.labels?.[FLEET_LABEL] === fleet && (vm.metadata?.ownerReferences ?? []).some((o) => o.kind === 'VMFleet' && o.name === fleet);

/** VMs of the fleet counted as unavailable: its replicas minus its Ready VMs not being deleted. */
export function unavailableOf(sample: Sample, fleet: FleetLimits): number {
  const ready = sample.vms.filter((vm) => ownedBy(vm, fleet.name) && !vm.metadata?.deletionTimestamp && vm.status?.ready === true).length;
  return Math.max(0, fleet.replicas - ready);
}

/**
 * What one sample breaks. `armed` holds the fleets whose availability is checked (those that were
 * fully Ready once); `budget` is the namespace's migration budget.
 */
export function violationsOf(sample: Sample, fleets: readonly FleetLimits[], budget: number, armed: ReadonlySet<string>): string[] {
  const found: string[] = [];
  const flying = sample.migrations.filter(inFlight);
  for (const fleet of fleets) {
    const unavailable = unavailableOf(sample, fleet);
    if (armed.has(fleet.name) && unavailable > fleet.maxUnavailable) found.push(`${fleet.name}: ${unavailable} unavailable > maxUnavailable ${fleet.maxUnavailable}`);
    const own = flying.filter((m) => m.metadata?.labels?.[FLEET_LABEL] === fleet.name);
    if (own.length > fleet.maxConcurrent) found.push(`${fleet.name}: ${own.length} migrations in flight > maxConcurrent ${fleet.maxConcurrent}: ${own.map((m) => m.metadata!.name).join(' ')}`);
  }
  if (flying.length > budget) found.push(`${flying.length} migrations in flight > budget ${budget}`);
  const byVMI = new Map<string, string[]>();
  for (const m of flying) byVMI.set(m.spec?.vmiName ?? '', [...(byVMI.get(m.spec?.vmiName ?? '') ?? []), m.metadata!.name!]);
  for (const [vmi, names] of byVMI) if (names.length > 1) found.push(`VMI ${vmi}: ${names.length} migrations in flight: ${names.join(' ')}`);
  return found;
}

/** A name seen with a second uid: the same index (or migration) created twice. */
export function reusedNames(seen: Map<string, Set<string>>, objects: readonly { metadata?: { name?: string; uid?: string } }[], kind: string): string[] {
  const found: string[] = [];
  for (const o of objects) {
    const name = o.metadata!.name!;
    const uids = seen.get(name) ?? new Set<string>();
    if (!uids.has(o.metadata!.uid!)) {
      uids.add(o.metadata!.uid!);
      seen.set(name, uids);
      if (uids.size === 2) found.push(`${kind} ${name} created again (uids ${[...uids].join(', ')})`);
    }
  }
  return found;
}

/** What a bystander must keep: everything a controller could write that is not status. */
const bystanderShape = (vm: V1VirtualMachine) => JSON.stringify({ labels: vm.metadata?.labels ?? {}, owners: vm.metadata?.ownerReferences ?? [], deleting: !!vm.metadata?.deletionTimestamp, spec: vm.spec });

/** A list-then-watch of one collection that relists after any error or end, until stopped. */
class Collection<T extends { metadata?: { name?: string; resourceVersion?: string } }> {
  readonly items = new Map<string, T>();
  private stopped = false;
  private abort: (() => void) | undefined;
  private resourceVersion = '';
  private readonly kc: KubeConfig;
  private readonly resource: Resource;
  private readonly namespace: string;
  private readonly changed: () => void;
  relists = 0;

  constructor(kc: KubeConfig, resource: Resource, namespace: string, changed: () => void) {
    this.kc = kc;
    this.resource = resource;
    this.namespace = namespace;
    this.changed = changed;
  }

  async start(): Promise<void> {
    await this.relist();
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.();
  }

  private async relist(): Promise<void> {
    const list = await new KubeClient(this.kc, { qps: 0, timeoutMs: 5_000 }).list<T>(this.resource, { namespace: this.namespace });
    this.relists++;
    this.items.clear();
    for (const o of list.items) this.items.set(o.metadata!.name!, o);
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.changed();
  }

  private watch(): void {
    if (this.stopped) return;
    let lastEventAt = Date.now();
    let restarted = false;
    // A silent watch (a hung API server) is given up after 5 s, like an ended one.
    const silence = setInterval(() => void (Date.now() - lastEventAt > 5_000 && restart(false)), 1_000);
    const restart = (relist: boolean) => {
      if (restarted || this.stopped) return;
      restarted = true;
      clearInterval(silence);
      this.abort?.();
      const again = async (delayMs: number): Promise<void> => {
        if (this.stopped) return;
        try {
          if (relist) await this.relist();
          this.watch();
        } catch {
          await new Promise((r) => setTimeout(r, delayMs));
          return again(Math.min(delayMs * 2, 2_000));
        }
      };
      void again(200);
    };
    new Watch(this.kc).watch(pathOf(this.resource, this.namespace), { resourceVersion: this.resourceVersion, allowWatchBookmarks: true }, (type, obj: T) => {
      lastEventAt = Date.now();
      if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
      if (type === 'BOOKMARK') return;
      if (type === 'ERROR') return restart(true); // 410 Gone and the like: start over from a list
      if (type === 'DELETED') this.items.delete(obj.metadata!.name!);
      else this.items.set(obj.metadata!.name!, obj);
      this.changed();
    }, (err) => restart(err !== null && err !== undefined)).then((req) => {
      if (restarted) req.abort();
      else this.abort = () => req.abort();
    }, () => restart(true));
  }
}

export interface InvariantChecker {
  /** Every violation seen so far, with when. */
  violations(): string[];
  /** Samples checked. */
  samples(): number;
  /** Most migrations in flight at once (namespace, and per fleet). */
  maxInFlight(): { total: number; byFleet: Record<string, number> };
  /** Migrations ever seen, by name. */
  migrationNames(): string[];
  /** How often the checker had to relist (cut or restarted watches). */
  relists(): number;
  current(): Sample;
  stop(): void;
}

export interface InvariantOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  fleets: FleetLimits[];
  migrationBudget: number;
  /** Names of VMs in the namespace that no fleet owns (created by the test): they must stay as they are. */
  bystanders?: string[];
}

export async function checkInvariants(options: InvariantOptions): Promise<InvariantChecker> {
  const violations: string[] = [];
  const armed = new Set<string>();
  const vmNames = new Map<string, Set<string>>();
  const migrationNames = new Map<string, Set<string>>();
  const bystanders = new Map<string, string>();
  const max = { total: 0, byFleet: {} as Record<string, number> };
  let samples = 0;
  let ready = false;
  const sample = (): Sample => ({ vms: [...vms.items.values()], migrations: [...migrations.items.values()] });
  const check = () => {
    if (!ready) return;
    samples++;
    const s = sample();
    const at = new Date().toISOString();
    for (const fleet of options.fleets) if (unavailableOf(s, fleet) === 0) armed.add(fleet.name);
    const found = [
      ...violationsOf(s, options.fleets, options.migrationBudget, armed),
      ...reusedNames(vmNames, s.vms, 'VM'),
      ...reusedNames(migrationNames, s.migrations, 'migration'),
    ];
    for (const name of options.bystanders ?? []) {
      const vm = s.vms.find((v) => v.metadata?.name === name);
      const shape = vm ? bystanderShape(vm) : 'deleted';
      if (!bystanders.has(name)) bystanders.set(name, shape);
      else if (bystanders.get(name) !== shape) found.push(`bystander ${name} changed: ${shape}`);
    }
    const flying = s.migrations.filter(inFlight);
    max.total = Math.max(max.total, flying.length);
    for (const f of options.fleets) max.byFleet[f.name] = Math.max(max.byFleet[f.name] ?? 0, flying.filter((m) => m.metadata?.labels?.[FLEET_LABEL] === f.name).length);
    // The same standing violation is reported once per change of its text, not per sample.
    for (const v of found) if (!violations.some((old) => old.endsWith(v))) violations.push(`${at} ${v}`);
  };
  const vms = new Collection<V1VirtualMachine>(options.kubeConfig, RESOURCES.vm, options.namespace, check);
  const migrations = new Collection<V1VirtualMachineInstanceMigration>(options.kubeConfig, RESOURCES.vmim, options.namespace, check);
  await Promise.all([vms.start(), migrations.start()]);
  ready = true;
  check();
  return {
    violations: () => [...violations],
    samples: () => samples,
    maxInFlight: () => ({ total: max.total, byFleet: { ...max.byFleet } }),
    migrationNames: () => [...migrationNames.keys()],
    relists: () => vms.relists + migrations.relists - 2,
    current: sample,
    stop: () => {
      vms.stop();
      migrations.stop();
    },
  };
}
