// The VMFleet reconciler: the imperative shell around the pure fleet core. For one fleet key it
// builds a snapshot from the caches and its memory, asks decideFleet (decide.ts) what to do (the
// image, the revision, autohealing, the rollout plan, drift remedies), keeps the memory that comes
// back, carries the actions out with server-side apply under one field manager, records Events,
// and writes status once, only when it changed.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { VMFleetStatus } from '../api/generated/types.ts';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { Replacement } from '../core/fleet/autoheal.ts';
import { desiredVM, FLEET_API_VERSION, FLEET_KIND } from '../core/fleet/desired.ts';
import type { ResolvedImage } from '../core/fleet/image.ts';
import { DEFAULT_BACKOFF, type Backoff } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { staleImageDisks } from '../core/fleet/image-disks.ts';
import type { DataVolume } from '../core/image/cdi.ts';
import { rolloutLimits, rolloutSpecOf, type PlanAction } from '../core/fleet/rollout.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { Expectations } from '../runtime/expectations.ts';
import { splitKey } from '../runtime/keys.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Cache } from '../cache/cache.ts';
import { migrationsOfFleet } from '../cache/migrations.ts';
import { vmsLabelledFor, vmsNamedFor } from '../cache/vms.ts';
import { OwnerMemory } from '../runtime/owner-memory.ts';
import { inParallel } from '../runtime/parallel.ts';
import { decideFleet, ownedBy, type FleetSnapshot, type Verdict } from './decide.ts';
import { DriftRepair, fleetRef, MAX_MIGRATION_REFUSALS } from './drift-repair.ts';
import { listNames, type EventRecorder, type InvolvedObject } from '../runtime/events.ts';
import type { Migration, MigrationBudget } from './remediation.ts';
import { fleetStatus, heldBack, statusDiffers } from './status.ts';
import { applyVM, createVM, FIELD_MANAGER, sendInSlowStart } from './vm-writes.ts';

/** Removes the fleet's VMs before the fleet goes. */
export const FLEET_FINALIZER = 'virtfleet.io/vms';
export { FIELD_MANAGER };

export type { GoldenImage, VMFleet };
export { ownedBy };

export interface FleetCaches {
  fleets: Cache<VMFleet>;
  vms: Cache<V1VirtualMachine>;
  vmis: Cache<V1VirtualMachineInstance>;
  nodes: Cache<V1Node>;
  goldenImages: Cache<GoldenImage>;
  /** DataVolumes, for the image disks of earlier versions (staleImageDisks). */
  dataVolumes: Cache<DataVolume>;
  migrations: Cache<Migration>;
}

export interface FleetReconcilerOptions {
  client: KubeClient;
  caches: FleetCaches;
  expectations: Expectations;
  events: EventRecorder;
  log: Logger;
  /** The cluster-wide migration budget, shared with every other fleet's reconciles. */
  budget: MigrationBudget;
  backoff?: Backoff;
  now?: () => number;
  /**
   * A status write failed (it goes out beside the loop, after the reconcile returned): the key
   * should be retried with backoff, as a failed reconcile is.
   */
  onStatusFailed?: (key: string, err: unknown) => void;
}

/** The fleet a status write is for (its Events name it). */
type FleetRef = InvolvedObject;

/** How long the fleet waits before looking again for a free slot in the cluster's migration budget. */
const BUDGET_RETRY_MS = 500;

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
}

/** What one reconcile's actions came to, for status and Events. */
interface ActOutcome {
  /** The API server refused the template (the fleet is then Stalled for this revision). */
  refusal?: string;
  /** Names a create found held by an object the fleet does not own. */
  conflicts: string[];
  /** The Events of the actions, being written (they never fail: the recorder logs failures). */
  events?: Promise<unknown>;
}

export class FleetReconciler {
  private readonly o: Required<FleetReconcilerOptions>;
  /** Fleet key → VM → uid of the VMI deleted to restart it, until the cache shows another. */
  private readonly restarts = new OwnerMemory<{ uid: string; at: number }>();
  /** Fleet key → the template revision the API server refused, with its message. */
  private readonly refused = new Map<string, { revision: string; message: string }>();
  /** Fleet key → VM name → when a create found it held by an object the cache does not show yet. */
  private readonly held = new OwnerMemory<number>();

  private readonly drift: DriftRepair;
  /** Status goes out beside the loop, so the key is free for the next event at once. */
  private readonly status: StatusWriter<VMFleetStatus, FleetRef>;
  /** Events of actions still being written (awaited only by drain). */
  private readonly eventWrites = new Set<Promise<unknown>>();

  constructor(options: FleetReconcilerOptions) {
    this.o = { now: Date.now, backoff: DEFAULT_BACKOFF, onStatusFailed: () => undefined, ...options };
    this.drift = new DriftRepair(this.o);
    this.status = new StatusWriter({
      write: (_key, ref, status) => this.o.client.mergePatch(RESOURCES.vmFleet, { namespace: ref.namespace!, name: ref.name }, { status }, 'status').then(() => undefined),
      differs: statusDiffers,
      written: (_key, ref, previous, next) => this.transitionEvents(ref, previous, next),
      failed: (key, err) => {
        this.o.log.error('status not written; retrying', { fleet: key, error: errorText(err) });
        this.o.onStatusFailed(key, err);
      },
      now: () => this.o.now(),
    });
  }

  /** Resolves once every status and Event handed over so far is written (for a graceful stop). */
  async drain(): Promise<void> {
    await Promise.all([this.status.drain(), this.drift.drain(), ...this.eventWrites]);
  }

  /** A migration changed (called from the migration informer, after the budget saw it). */
  migrationChanged(type: 'add' | 'update' | 'delete', m: Migration): void {
    void this.drift.migrationChanged(type, m);
  }

  /** The VM cache showed a VMI (called from the VMI informer), so a restart it awaited is done. */
  vmiObserved(vmi: V1VirtualMachineInstance): void {
    const fleet = `${vmi.metadata?.namespace}/${vmi.metadata?.labels?.[FLEET_LABEL]}`;
    const name = vmi.metadata!.name!;
    const r = this.restarts.get(fleet, name);
    if (r && r.uid !== vmi.metadata?.uid && !vmi.metadata?.deletionTimestamp) this.restarts.delete(fleet, name);
  }

  /** Entries remembered, by memory, over all fleets (bounded by the live objects). */
  memorySizes(): Record<string, number> {
    return { restarts: this.restarts.size, refused: this.refused.size, held: this.held.size, statusWrites: this.status.size, ...this.drift.memorySizes() };
  }

  private forget(key: string): void {
    this.o.expectations.forget(key);
    this.refused.delete(key);
    this.restarts.forget(key);
    this.held.forget(key);
    this.drift.forget(key);
    this.status.forget(key);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const fleet = this.o.caches.fleets.get(name, namespace);
    if (!fleet) return this.forget(key);
    const vms = this.ownedVMs(fleet);
    if (fleet.metadata?.deletionTimestamp) return this.finalize(key, fleet, vms);
    const finalizers = fleet.metadata?.finalizers ?? [];
    if (!finalizers.includes(FLEET_FINALIZER)) {
      // The update event brings the fleet back with its finalizer; after a conflict, the newer fleet's does.
      await this.setFinalizers(fleet, [...finalizers, FLEET_FINALIZER]);
      return;
    }
    const now = this.o.now();
    if (!this.o.expectations.satisfied(key, now)) return; // the awaited events requeue the key

    // The decision and the status are the reconcile's computing; their time paces the fleet (Controller's restAfter).
    const deciding = performance.now();
    const verdict = this.decide(key, fleet, vms, now);
    let busyMs = performance.now() - deciding;
    const limits = rolloutLimits(rolloutSpecOf(fleet.spec));
    const previous = this.status.current(key, { uid: fleet.metadata!.uid!, status: fleet.status });
    const base = { generation: fleet.metadata?.generation ?? 0, replicas: fleet.spec.replicas ?? 1, maxUnavailable: limits.maxUnavailable, selector: fleet.spec.selector.matchLabels, previous };
    // Neither a stalled fleet nor one waiting for its image acts: nor may its earlier plan's standby.
    if ('stalled' in verdict || 'waiting' in verdict) this.drift.dropStandby(key);
    if ('stalled' in verdict) {
      this.writeStatus(key, fleet, fleetStatus({ ...base, stalled: verdict.stalled, acting: false, now: new Date(now).toISOString() }));
      return { busyMs };
    }
    // The image's version is not ready yet: nothing is done to the VMs; the image's events bring the fleet back.
    if ('waiting' in verdict) {
      this.writeStatus(key, fleet, fleetStatus({ ...base, waiting: verdict.waiting, acting: false, now: new Date(now).toISOString() }));
      return { busyMs };
    }
    const { plan, heal, image, revision, remediation } = verdict;
    // Reserved before the first await, so no other fleet's reconcile can take the same slots.
    this.drift.reserve(key, fleet, remediation.plan, now);
    const acting = plan.actions.length > 0 || heal.length > 0 || remediation.plan.actions.length > 0;
    // Every step runs and status is written even when one failed (a deferred status write): the
    // first failure is raised afterwards, so the key is retried with backoff.
    let failure: unknown;
    // VMs of this revision the API server created before: the template is known to be accepted.
    const proven = verdict.observed.filter((vm) => vm.revision === revision && !vm.deleting).length;
    const outcome = await this.act(key, fleet, vms, plan.actions, heal, image, revision, proven).catch((err: unknown): ActOutcome => {
      failure = err;
      return { conflicts: [] };
    });
    const carried = await this.drift.carryOut(key, fleet, vms, remediation, image, revision).catch((err: unknown) => {
      failure ??= err;
      return { refused: false };
    });
    await this.removeStaleImageDisks(fleet, vms).catch((err: unknown) => {
      failure ??= err;
    });
    const conflicts = [...new Set([...verdict.conflicts, ...outcome.conflicts])].sort();
    const stalled = outcome.refusal
      ? { reason: 'InvalidTemplate', message: outcome.refusal }
      : remediation.refused
        ? { reason: 'MigrationRefused', message: `live migration of ${listNames(remediation.refused.vms)} refused ${MAX_MIGRATION_REFUSALS} or more times in a row (retried with backoff): ${remediation.refused.message}` }
        : undefined;
    const summing = performance.now();
    const live = verdict.observed.filter((vm) => !vm.deleting);
    const runs: Record<string, string> = {};
    for (const vm of live) if (verdict.runs[vm.name] !== undefined) runs[vm.name] = verdict.runs[vm.name]!;
    const held = plan.complete ? heldBack(live, revision, rolloutSpecOf(fleet.spec)) : undefined;
    // Status and the actions' Events go out beside the loop: the key is free at once, so a VM
    // that turns ready meanwhile gets its restart without waiting for either write.
    this.writeStatus(key, fleet, fleetStatus({
      ...base, plan, ...(stalled ? { stalled } : {}), imageVersion: image.version, runs, ...(held ? { held } : {}), acting, drift: remediation.drift, conflicts, deprecated: verdict.deprecated,
      ...(failure !== undefined ? { failure: errorText(failure) } : {}), now: new Date(now).toISOString(),
    }));
    busyMs += performance.now() - summing;
    if (outcome.events) {
      const written = outcome.events.finally(() => this.eventWrites.delete(written));
      this.eventWrites.add(written);
    }
    if (failure !== undefined) throw failure;
    const next = Math.min(plan.nextCheckAt ?? Infinity, verdict.nextCheckAt ?? Infinity, remediation.pollBudget || carried.refused ? now + BUDGET_RETRY_MS : Infinity);
    return Number.isFinite(next) ? { requeueAfterMs: Math.max(100, next - now), busyMs } : { busyMs };
  }

  /**
   * Deletes the image disks of earlier versions that no VM spec names and no VMI mounts any more
   * (KubeVirt keeps a DataVolume whose template left the VM). Only disks the fleet's own VMs
   * control and that carry the image-disk label are considered.
   */
  private async removeStaleImageDisks(fleet: VMFleet, vms: V1VirtualMachine[]): Promise<void> {
    const namespace = fleet.metadata!.namespace!;
    const disks = this.o.caches.dataVolumes.list(namespace).filter((dv) => dv.metadata?.labels?.[FLEET_LABEL] === fleet.metadata!.name);
    if (disks.length === 0) return;
    const views = disks.map((dv) => ({
      name: dv.metadata!.name!, uid: dv.metadata!.uid!, labels: dv.metadata?.labels ?? {}, ownerReferences: dv.metadata?.ownerReferences ?? [],
      deletionTimestamp: dv.metadata?.deletionTimestamp, createdAt: epochOf(dv.metadata?.creationTimestamp),
    }));
    const use = (vm: V1VirtualMachine, vmi: V1VirtualMachineInstance | undefined) => ({
      uid: vm.metadata!.uid!,
      templates: (vm.spec.dataVolumeTemplates ?? []).map((t) => t.metadata?.name ?? ''),
      mountedByVMI: (vmi?.spec.volumes ?? []).flatMap((v) => (v.dataVolume?.name ? [v.dataVolume.name] : [])),
    });
    for (const vm of vms) {
      const name = vm.metadata!.name!;
      const cached = staleImageDisks(use(vm, this.o.caches.vmis.get(name, namespace)), views);
      if (cached.length === 0) continue;
      // Checked again on a fresh read of the VM and its VMI, as retention does: a cache that has
      // not seen the VM's update yet must never make its new disk look like a leftover.
      const [fresh, freshVMI] = await Promise.all([
        this.o.client.get<V1VirtualMachine>(RESOURCES.vm, { namespace, name }),
        this.o.client.get<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace, name }),
      ]);
      if (!fresh || fresh.metadata?.uid !== vm.metadata!.uid) continue;
      const confirmed = new Set(staleImageDisks(use(fresh, freshVMI), views));
      for (const disk of cached.filter((d) => confirmed.has(d))) {
        await this.o.client.delete(RESOURCES.dataVolume, { namespace, name: disk }, { uid: views.find((d) => d.name === disk)!.uid, propagationPolicy: 'Background' });
      }
    }
  }

  /** The fleet's VMs: labelled with its name and controlled by it (invariant 4). */
  private ownedVMs(fleet: VMFleet): V1VirtualMachine[] {
    return vmsLabelledFor(this.o.caches.vms, fleet.metadata!.namespace!, fleet.metadata!.name!).filter((vm) => ownedBy(vm, fleet));
  }

  /**
   * What the reconcile decides from: the caches' objects for the fleet and what is remembered of
   * it. Built by lookups, never by a scan of the namespace, so a reconcile costs the fleet's size,
   * not the namespace's: the VMIs are those of the fleet's VMs (a VMI has its VM's name, and
   * decideFleet reads no other), and the foreign VMs those holding one of the fleet's names
   * (`<fleet>-<index>`, the only names it may find taken).
   */
  private snapshot(key: string, fleet: VMFleet, vms: V1VirtualMachine[], now: number): FleetSnapshot {
    const namespace = fleet.metadata!.namespace!;
    const image = fleet.spec.image;
    return {
      fleet,
      vms,
      foreignVMs: vmsNamedFor(this.o.caches.vms, namespace, fleet.metadata!.name!).filter((vm) => !ownedBy(vm, fleet)).map((vm) => vm.metadata!.name!),
      vmis: vms.flatMap((vm) => this.o.caches.vmis.get(vm.metadata!.name!, namespace) ?? []),
      nodes: this.o.caches.nodes.list(),
      goldenImage: this.o.caches.goldenImages.get(image.name, image.namespace ?? namespace),
      migrations: migrationsOfFleet(this.o.caches.migrations, namespace, fleet.metadata!.name!),
      budget: { slots: this.o.budget.available(now), pending: this.o.budget.pendingOf(key) },
      backoff: this.o.backoff,
      now,
      memory: {
        restarts: Object.fromEntries(this.restarts.entries(key)),
        held: Object.fromEntries(this.held.entries(key)),
        drift: this.drift.memoryOf(key),
        ...(this.refused.has(key) ? { refused: this.refused.get(key)! } : {}),
      },
    };
  }

  /** The pure decision over the snapshot; the memory it returns becomes the fleet's. */
  private decide(key: string, fleet: VMFleet, vms: V1VirtualMachine[], now: number): Verdict {
    const { verdict, memory } = decideFleet(this.snapshot(key, fleet, vms, now));
    replaceEntries(this.restarts, key, memory.restarts);
    replaceEntries(this.held, key, memory.held);
    if (memory.refused) this.refused.set(key, memory.refused);
    else this.refused.delete(key);
    this.drift.remember(key, memory.drift);
    return verdict;
  }

  /**
   * Carries out autohealing and the plan. A create only ever creates and an update only ever
   * updates the VM it read (vm-writes.ts), so a VM the fleet does not own is never touched.
   */
  private async act(key: string, fleet: VMFleet, vms: V1VirtualMachine[], actions: PlanAction[], heal: Replacement[], image: ResolvedImage, revision: string, proven: number): Promise<ActOutcome> {
    const ref = fleetRef(fleet);
    const namespace = ref.namespace;
    const byName = new Map(vms.map((vm) => [vm.metadata!.name!, vm]));
    const desired = (index: number) => desiredVM({ fleet: ref, spec: fleet.spec, image, index, revision });
    const done = new Map<string, string[]>();
    const note = (reason: string, name: string) => done.set(reason, [...(done.get(reason) ?? []), name]);
    const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace, name: ref.name, uid: ref.uid };
    let refusal: string | undefined;
    const conflicts: string[] = [];
    /** Writes the desired VM of `index`: over `existing` when given, else as a new VM. */
    const apply = async (index: number, existing?: V1VirtualMachine) => {
      const vm = desired(index);
      const name = vm.metadata!.name!;
      try {
        const written = existing ? await applyVM(this.o.client, vm, existing) : await createVM(this.o.client, vm);
        if (written || existing) return written;
        // The name is held although the cache did not show it: by someone else's VM, unless by one
        // of ours the cache has not caught up with.
        const holder = await this.o.client.get<V1VirtualMachine>(RESOURCES.vm, { namespace, name });
        if (holder && !ownedBy(holder, fleet)) {
          this.held.set(key, name, this.o.now());
          conflicts.push(name);
        }
        return undefined;
      } catch (err) {
        if (err instanceof ApiError && err.invalid) {
          refusal ??= `the API server refused the VirtualMachine for revision ${revision}: ${err.statusMessage}`;
          this.refused.set(key, { revision, message: refusal });
          return undefined;
        }
        throw err;
      }
    };
    const remove = async (name: string, reason: string, retain: boolean) => {
      const vm = byName.get(name);
      if (!vm) return;
      await this.deleteVM(key, vm, retain);
      note(reason, name);
    };
    const whenScaled = fleet.spec.diskRetention?.whenScaled === 'Retain';

    await inParallel(heal, (r) => remove(r.name, 'Autohealed', false));
    const creates = actions.filter((a) => a.type === 'Create');
    // Slow start, as the ReplicaSet controller does: nothing more goes out once the template is
    // refused; VMs of the revision already created count as its first successes.
    await sendInSlowStart(creates, async (a) => {
      this.o.expectations.expectCreations(key, [a.name], this.o.now());
      try {
        const created = await apply(a.index);
        if (created) note(a.reason === 'Surge' ? 'CreatedSurge' : 'Created', a.name);
        else this.o.expectations.creationObserved(key, a.name);
      } catch (err) {
        this.o.expectations.creationObserved(key, a.name);
        throw err;
      }
    }, () => refusal !== undefined, proven);
    if (refusal) return { refusal, conflicts };
    await inParallel(actions, async (a) => {
      switch (a.type) {
        case 'Create':
          return;
        case 'Delete':
          return remove(a.name, a.reason === 'ScaleDown' ? 'ScaledDown' : 'Replaced', a.reason === 'ScaleDown' && whenScaled);
        case 'Recreate':
          return remove(a.name, 'Recreated', false);
        case 'UpdateInPlace': {
          const vm = byName.get(a.name);
          if (vm && (await apply(a.index, vm))) note('Updated', a.name);
          return;
        }
        case 'Restart': {
          const vm = byName.get(a.name);
          // A drift restart runs the VM's spec as it is; a rollout restart applies the new one first.
          return this.restart(key, vm, a.drift ? async () => vm : () => apply(a.index, vm), () => note(a.drift ? 'DriftRestarted' : 'Restarted', a.name));
        }
      }
    });
    const messages: Record<string, string> = {
      Created: 'created', CreatedSurge: 'created surge VMs', ScaledDown: 'scaled down, deleted', Replaced: 'replaced by surge VMs, deleted',
      Recreated: 'deleted to recreate (dataVolumeTemplates changed)', Updated: `updated in place to revision ${revision}`,
      Restarted: `restarted to run revision ${revision}`, Autohealed: 'replaced, as they could not run:',
      DriftRestarted: 'restarted to repair drift, as they cannot be live-migrated:',
    };
    const events = Promise.all([...done].map(([reason, names]) => {
      const healNotes = reason === 'Autohealed' ? ` (${heal.filter((h) => names.includes(h.name)).map((h) => h.message).join('; ')})` : '';
      return this.o.events.record(involved, 'Normal', reason, `${messages[reason]} ${listNames(names)}${healNotes} [image ${image.version}]`);
    }));
    this.o.log.info('acted', { fleet: key, actions: Object.fromEntries([...done].map(([r, n]) => [r, n.length])) });
    return { ...(refusal ? { refusal } : {}), conflicts, events };
  }

  /** Applies the new spec if needed, then deletes the VMI so KubeVirt starts it anew from it. */
  private async restart(key: string, vm: V1VirtualMachine | undefined, apply: () => Promise<V1VirtualMachine | undefined>, done: () => void): Promise<void> {
    if (!vm) return;
    const applied = await apply();
    if (!applied) return;
    const namespace = vm.metadata!.namespace!;
    const name = vm.metadata!.name!;
    const vmi = this.o.caches.vmis.get(name, namespace);
    if (vmi && !vmi.metadata?.deletionTimestamp) {
      // Remembered before the delete, so a new VMI observed while it is under way clears it.
      this.restarts.set(key, name, { uid: vmi.metadata!.uid!, at: this.o.now() });
      try {
        await this.o.client.delete(RESOURCES.vmi, { namespace, name }, { uid: vmi.metadata?.uid });
      } catch (err) {
        // Refused by the API server: no restart to wait for. Remembered, the old VMI would count
        // as restarting for minutes and the delete would not be retried. (An answer lost on the
        // way may hide a delete that happened, so that one stays remembered until the old VMI
        // is seen untouched for a while: awaitedRestarts.)
        if (err instanceof ApiError) this.restarts.delete(key, name);
        throw err;
      }
    }
    done();
  }

  /**
   * Deletes a VM (preconditioned on its uid), keeping its disks when asked, with an expectation
   * so the next reconcile waits for the cache to show it gone.
   */
  private async deleteVM(key: string, vm: V1VirtualMachine, retainDisks: boolean): Promise<void> {
    const { namespace, name } = { namespace: vm.metadata!.namespace!, name: vm.metadata!.name! };
    this.o.expectations.expectDeletions(key, [name], this.o.now());
    try {
      if (retainDisks) await this.orphanDisks(vm);
      const deleted = await this.o.client.delete(RESOURCES.vm, { namespace, name }, { uid: vm.metadata?.uid, propagationPolicy: 'Background' });
      if (!deleted) this.o.expectations.deletionObserved(key, name);
    } catch (err) {
      this.o.expectations.deletionObserved(key, name);
      throw err;
    }
  }

  /** Keeps a VM's DataVolumes when it is deleted: drops the VM's owner reference from them. */
  private async orphanDisks(vm: V1VirtualMachine): Promise<void> {
    const namespace = vm.metadata!.namespace!;
    for (const t of vm.spec.dataVolumeTemplates ?? []) {
      const name = t.metadata?.name;
      if (!name) continue;
      const dv = await this.o.client.get<{ metadata?: { resourceVersion?: string; ownerReferences?: { uid: string }[] } }>(RESOURCES.dataVolume, { namespace, name });
      const refs = dv?.metadata?.ownerReferences ?? [];
      if (!refs.some((r) => r.uid === vm.metadata?.uid)) continue;
      await this.o.client.jsonPatch(RESOURCES.dataVolume, { namespace, name }, [
        { op: 'test', path: '/metadata/resourceVersion', value: dv!.metadata!.resourceVersion },
        { op: 'replace', path: '/metadata/ownerReferences', value: refs.filter((r) => r.uid !== vm.metadata?.uid) },
      ]);
    }
  }

  /** Deletion: the fleet's VMs go (disks per diskRetention.whenDeleted), then the finalizer. */
  private async finalize(key: string, fleet: VMFleet, vms: V1VirtualMachine[]): Promise<void> {
    const { namespace, name } = { namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name! };
    if (!(fleet.metadata?.finalizers ?? []).includes(FLEET_FINALIZER)) return;
    const retain = fleet.spec.diskRetention?.whenDeleted === 'Retain';
    const live = vms.filter((vm) => !vm.metadata?.deletionTimestamp);
    if (live.length > 0) {
      if (!this.o.expectations.satisfied(key, this.o.now())) return;
      await inParallel(live, (vm) => this.deleteVM(key, vm, retain));
      const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace, name, uid: fleet.metadata!.uid! };
      await this.o.events.record(involved, 'Normal', 'Deleting', `fleet deleted: deleting ${listNames(live.map((vm) => vm.metadata!.name!))}${retain ? ' (disks retained)' : ''}`);
      return;
    }
    if (vms.length > 0) return; // the VMs' removal requeues the fleet
    this.o.expectations.forget(key);
    await this.setFinalizers(fleet, (fleet.metadata?.finalizers ?? []).filter((f) => f !== FLEET_FINALIZER));
  }

  /**
   * Sets the fleet's finalizers if the fleet is still the one cached (its resourceVersion as a
   * precondition: the list replaces whatever another writer put there meanwhile). A fleet changed
   * since is a conflict, not a failure: its update event brings the newer one here.
   */
  private async setFinalizers(fleet: VMFleet, finalizers: string[]): Promise<void> {
    const ref = { namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name! };
    try {
      await this.o.client.mergePatch(RESOURCES.vmFleet, ref, { metadata: { resourceVersion: fleet.metadata?.resourceVersion, finalizers } });
    } catch (err) {
      if (err instanceof ApiError && (err.conflict || err.notFound)) return;
      throw err;
    }
  }

  /** Hands the status to the writer: sent after any write of the fleet's still in flight, skipped when nothing changed. */
  private writeStatus(key: string, fleet: VMFleet, status: VMFleetStatus): void {
    const involved: FleetRef = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name!, uid: fleet.metadata!.uid! };
    this.status.submit(key, { uid: involved.uid, status: fleet.status, ref: involved }, status);
  }

  /** Warning Events when the fleet stalls, Normal ones when a rollout completes or pauses. */
  private async transitionEvents(involved: FleetRef, previous: VMFleetStatus | undefined, next: VMFleetStatus): Promise<void> {
    const was = (type: string) => previous?.conditions?.find((c) => c.type === type);
    const now = (type: string) => next.conditions?.find((c) => c.type === type);
    const stalled = now('Stalled');
    if (stalled?.status === 'True' && (was('Stalled')?.status !== 'True' || was('Stalled')?.reason !== stalled.reason)) {
      await this.o.events.record(involved, 'Warning', stalled.reason, stalled.message);
    }
    const conflict = now('NameConflict');
    if (conflict?.status === 'True' && (was('NameConflict')?.status !== 'True' || was('NameConflict')?.message !== conflict.message)) {
      await this.o.events.record(involved, 'Warning', 'NameConflict', conflict.message);
    }
    const deprecated = now('ImageDeprecated');
    if (deprecated?.status === 'True' && (was('ImageDeprecated')?.status !== 'True' || was('ImageDeprecated')?.message !== deprecated.message)) {
      await this.o.events.record(involved, 'Warning', 'ImageDeprecated', deprecated.message);
    }
    const progressing = now('Progressing');
    const before = was('Progressing');
    // RolloutComplete only once every VM runs the update revision; a rollout that stops at its
    // partition (or OnDelete) says which VMs wait instead (RolloutPartitioned).
    const complete = (s: VMFleetStatus | undefined, c: typeof progressing) => c?.reason === 'NewRevisionAvailable' && s?.updatedReplicas === s?.replicas;
    if (progressing?.reason === 'RolloutPaused' && before?.reason !== 'RolloutPaused') {
      await this.o.events.record(involved, 'Normal', 'RolloutPaused', progressing.message);
    } else if (progressing?.reason === 'NewRevisionAvailable') {
      if (complete(next, progressing) && !(complete(previous, before) && before?.message === progressing.message)) {
        await this.o.events.record(involved, 'Normal', 'RolloutComplete', progressing.message);
      } else if (!complete(next, progressing) && (before?.reason !== progressing.reason || before.message !== progressing.message)) {
        await this.o.events.record(involved, 'Normal', 'RolloutPartitioned', progressing.message);
      }
    }
  }
}

/** Makes the owner's entries in `memory` exactly `entries`. */
function replaceEntries<V>(memory: OwnerMemory<V>, owner: string, entries: Readonly<Record<string, V>>): void {
  memory.forget(owner);
  for (const [child, value] of Object.entries(entries)) memory.set(owner, child, value);
}

/** Epoch ms of an API timestamp (string or Date); 0 when absent or unreadable. */
function epochOf(t: Date | string | undefined): number {
  const ms = t === undefined ? Number.NaN : new Date(t).getTime();
  return Number.isNaN(ms) ? 0 : ms;
}
