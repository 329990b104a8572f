// Follows a namespace's VirtualMachines, VMIs and VMFleets through watches started before any
// measurement, and times what the rollout benchmark asks of them: one rollout of a fleet (from the
// spec change until every VM is available on the new revision, as the watches show it and as the
// fleet's status says it), the most VMs of the fleet unavailable at any change the API server
// reported, the per-VM steps of the rollout (a restart issued, the VM available again; for surge,
// a VM created, ready, an outdated one deleted and gone), and restarts of stand-alone VMs, which
// give the restart time of the simulator itself.
//
// A VM counts as available as the controller's planner counts it (controller/fleet/observe.ts):
// not being deleted, status.ready, and its VMI Running with Ready True and not being deleted.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { VMFleet } from '../../controller/api/objects.ts';
import { FLEET_LABEL, REVISION_LABEL } from '../../controller/core/fleet/names.ts';
import type { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../../controller/kube/resources.ts';
import { Informer } from '../../controller/runtime/informer.ts';

type VM = V1VirtualMachine & KubernetesObject;
type VMI = V1VirtualMachineInstance & KubernetesObject;
type Fleet = VMFleet & KubernetesObject;

const readyCondition = (vmi: VMI | undefined) => (vmi?.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status === 'True';

/** What one rollout came to; times are epoch ms of watch arrivals. */
export interface RolloutResult {
  t0: number;
  /** Every VM of the fleet available on a revision other than the old one, none left over. */
  doneAt?: number;
  /** The fleet's status says so: observedGeneration, replicas, updated, ready and available all N. */
  statusDoneAt?: number;
  /** Fewest VMs of the fleet available at any change (N − that is the most unavailable). */
  minAvailable: number;
  /** Restarts issued: the VMI of an outdated VM seen deleting (maxUnavailable), by VM name. */
  restartIssued: { name: string; at: number }[];
  /** Surge VMs seen created. */
  created: { name: string; at: number }[];
  /** Outdated VMs seen deleting (replaced by surge VMs). */
  deleting: { name: string; at: number }[];
  /** Outdated VMs seen gone. */
  gone: { name: string; at: number }[];
  /** A VM seen available on the new revision, by VM name (first time). */
  available: { name: string; at: number }[];
  /** The fleet's status seen changed (each one a status write of the controller). */
  statusUpdates: number;
}

interface Window {
  result: RolloutResult;
  fleet: string;
  replicas: number;
  generation: number;
  oldRevision: string;
  /** VMI uids and VM uids at t0: a VM is on the new revision only with a VMI of none of these. */
  oldVmis: Set<string>;
  oldVms: Set<string>;
  seen: Set<string>;
  done: () => void;
}

export class RolloutTracker {
  readonly vms: Informer<VM>;
  readonly vmis: Informer<VMI>;
  readonly fleets: Informer<Fleet>;
  private readonly namespace: string;
  private window: Window | undefined;
  private waiters: (() => boolean)[] = [];

  constructor(kc: KubeConfig, client: KubeClient, namespace: string) {
    this.namespace = namespace;
    this.vms = new Informer<VM>(kc, { path: pathOf(RESOURCES.vm, namespace), list: () => client.list<VM>(RESOURCES.vm, { namespace }) as never });
    this.vmis = new Informer<VMI>(kc, { path: pathOf(RESOURCES.vmi, namespace), list: () => client.list<VMI>(RESOURCES.vmi, { namespace }) as never });
    this.fleets = new Informer<Fleet>(kc, { path: pathOf(RESOURCES.vmFleet, namespace), list: () => client.list<Fleet>(RESOURCES.vmFleet, { namespace }) as never });
    this.vms.on((type, vm) => this.vmChanged(type, vm));
    this.vmis.on((type, vmi) => this.vmiChanged(type, vmi));
    this.fleets.on((type) => {
      if (type === 'update' && this.window) this.window.result.statusUpdates++;
      this.changed();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.vms.start(), this.vmis.start(), this.fleets.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.vms.stop(), this.vmis.stop(), this.fleets.stop()]);
  }

  /** Available as the planner counts it. */
  available(vm: VM): boolean {
    if (vm.metadata?.deletionTimestamp || vm.status?.ready !== true) return false;
    const vmi = this.vmis.get(vm.metadata!.name!, this.namespace);
    return !!vmi && !vmi.metadata?.deletionTimestamp && vmi.status?.phase === 'Running' && readyCondition(vmi);
  }

  fleetVMs(fleet: string): VM[] {
    return this.vms.list(this.namespace).filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === fleet) as VM[];
  }

  availableCount(fleet: string): number {
    return this.fleetVMs(fleet).filter((vm) => this.available(vm)).length;
  }

  /** Resolves once `f` holds after some change (or at once), or rejects after timeoutMs. */
  until(what: string, f: () => boolean, timeoutMs: number): Promise<number> {
    if (f()) return Promise.resolve(Date.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!f()) return false;
        clearTimeout(timer);
        resolve(Date.now());
        return true;
      };
      this.waiters.push(check);
    });
  }

  /**
   * Opens the window of one rollout of `fleet` to `replicas` VMs; `t0` is taken by the caller
   * just before the spec change, which makes the fleet's metadata.generation `generation`.
   */
  measure(t0: number, fleet: string, replicas: number, generation: number, timeoutMs: number): Promise<RolloutResult> {
    const vms = this.fleetVMs(fleet);
    const revisions = new Set(vms.map((vm) => vm.metadata?.labels?.[REVISION_LABEL] ?? ''));
    if (revisions.size !== 1) throw new Error(`fleet ${fleet} is on ${revisions.size} revisions before the rollout`);
    const result: RolloutResult = { t0, minAvailable: this.availableCount(fleet), restartIssued: [], created: [], deleting: [], gone: [], available: [], statusUpdates: 0 };
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.window = undefined;
        resolve(result);
      };
      const timer = setTimeout(finish, timeoutMs);
      this.window = {
        result, fleet, replicas, generation, oldRevision: [...revisions][0]!,
        oldVmis: new Set(this.vmis.list(this.namespace).map((v) => v.metadata!.uid!)),
        oldVms: new Set(vms.map((vm) => vm.metadata!.uid!)),
        seen: new Set(),
        done: finish,
      };
    });
  }

  private onNewRevision(w: Window, vm: VM): boolean {
    if (vm.metadata?.labels?.[REVISION_LABEL] === w.oldRevision || !this.available(vm)) return false;
    const vmi = this.vmis.get(vm.metadata!.name!, this.namespace);
    return !w.oldVmis.has(vmi!.metadata!.uid!);
  }

  private vmChanged(type: string, vm: VM): void {
    const w = this.window;
    if (w && vm.metadata?.labels?.[FLEET_LABEL] === w.fleet) {
      const now = Date.now();
      const name = vm.metadata!.name!;
      const uid = vm.metadata!.uid!;
      if (type === 'add' && !w.oldVms.has(uid)) w.result.created.push({ name, at: now });
      if (w.oldVms.has(uid) && type === 'delete') w.result.gone.push({ name, at: now });
      else if (w.oldVms.has(uid) && vm.metadata?.deletionTimestamp && !w.seen.has(`deleting/${uid}`)) {
        w.seen.add(`deleting/${uid}`);
        w.result.deleting.push({ name, at: now });
      }
    }
    this.changed();
  }

  private vmiChanged(type: string, vmi: VMI): void {
    const w = this.window;
    if (w && vmi.metadata?.labels?.[FLEET_LABEL] === w.fleet && w.oldVmis.has(vmi.metadata!.uid!) && (type === 'delete' || vmi.metadata?.deletionTimestamp)) {
      const uid = vmi.metadata!.uid!;
      // A VMI that goes with its VM (surge replacement) is not a restart.
      const vm = this.vms.get(vmi.metadata!.name!, this.namespace);
      if (!w.seen.has(`vmi/${uid}`) && vm && !vm.metadata?.deletionTimestamp && w.oldVms.has(vm.metadata!.uid!)) {
        w.seen.add(`vmi/${uid}`);
        w.result.restartIssued.push({ name: vmi.metadata!.name!, at: Date.now() });
      }
    }
    this.changed();
  }

  private changed(): void {
    const w = this.window;
    if (w) {
      const now = Date.now();
      const vms = this.fleetVMs(w.fleet);
      let available = 0;
      let updated = 0;
      for (const vm of vms) {
        if (!this.available(vm)) continue;
        available++;
        if (!this.onNewRevision(w, vm)) continue;
        updated++;
        const key = `available/${vm.metadata!.uid!}`;
        if (!w.seen.has(key)) {
          w.seen.add(key);
          w.result.available.push({ name: vm.metadata!.name!, at: now });
        }
      }
      w.result.minAvailable = Math.min(w.result.minAvailable, available);
      if (w.result.doneAt === undefined && updated === w.replicas && vms.length === w.replicas) w.result.doneAt = now;
      const s = this.fleets.get(w.fleet, this.namespace)?.status;
      if (w.result.statusDoneAt === undefined && w.result.doneAt !== undefined && (s?.observedGeneration ?? 0) >= w.generation && s?.replicas === w.replicas &&
        s.updatedReplicas === w.replicas && s.readyReplicas === w.replicas && s.availableReplicas === w.replicas) {
        w.result.statusDoneAt = now;
      }
      if (w.result.doneAt !== undefined && w.result.statusDoneAt !== undefined) w.done();
    }
    this.waiters = this.waiters.filter((f) => !f());
  }
}

/**
 * Restarts stand-alone VMs as the fleet controller restarts a VM (its spec changed with a merge
 * patch, standing in for the apply, then its VMI deleted with a uid precondition) and resolves with
 * each one's time from just before the patch until the watches show it available on a new VMI.
 */
export async function restartStandalone(tracker: RolloutTracker, client: KubeClient, namespace: string, names: readonly string[], serial: string, timeoutMs: number): Promise<number[]> {
  return Promise.all(names.map(async (name) => {
    const before = tracker.vmis.get(name, namespace);
    if (!before || !tracker.available(tracker.vms.get(name, namespace)!)) throw new Error(`stand-alone VM ${name} is not available before its restart`);
    const t0 = Date.now();
    await client.mergePatch(RESOURCES.vm, { namespace, name }, { spec: { template: { spec: { domain: { firmware: { serial } } } } } });
    await client.delete(RESOURCES.vmi, { namespace, name }, { uid: before.metadata!.uid! });
    const at = await tracker.until(`${name} restarted`, () => {
      const vmi = tracker.vmis.get(name, namespace);
      const vm = tracker.vms.get(name, namespace);
      return !!vm && !!vmi && vmi.metadata!.uid !== before.metadata!.uid && tracker.available(vm);
    }, timeoutMs);
    return at - t0;
  }));
}
