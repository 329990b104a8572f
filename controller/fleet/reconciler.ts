// The VMFleet reconciler: the imperative shell around the pure fleet core. For one fleet key it
// reads the caches, asks core/fleet what to do (desired VMs, change classification, autohealing,
// the rollout plan, drift remedies via drift-repair.ts), carries the actions out with server-side
// apply under one field manager, records Events, and writes status once, only when it changed.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImageSpec, VMFleetSpec, VMFleetStatus } from '../api/generated/types.ts';
import { autohealSpecOf, planAutohealing, type Replacement } from '../core/fleet/autoheal.ts';
import { classifyChange } from '../core/fleet/classify.ts';
import { desiredVM, FLEET_API_VERSION, FLEET_KIND } from '../core/fleet/desired.ts';
import { resolveImage, type ResolvedImage } from '../core/fleet/image.ts';
import { DEFAULT_BACKOFF, type Backoff } from '../core/fleet/migration.ts';
import { FLEET_LABEL, parseVmIndex, REVISION_LABEL } from '../core/fleet/names.ts';
import { revisionHash } from '../core/fleet/revision.ts';
import { planRollout, rolloutLimits, rolloutSpecOf, type ObservedVM, type Plan, type PlanAction } from '../core/fleet/rollout.ts';
import { disruptionWindow } from '../core/fleet/window.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { Expectations } from '../runtime/expectations.ts';
import { splitKey } from '../runtime/keys.ts';
import type { Logger } from '../runtime/logger.ts';
import { inParallel } from '../runtime/parallel.ts';
import { DriftRepair, fleetRef, type Remediation } from './drift-repair.ts';
import { listNames, type EventRecorder, type InvolvedObject } from './events.ts';
import { conditionOf, observeVM } from './observe.ts';
import type { Migration, MigrationBudget } from './remediation.ts';
import { fleetStatus, statusDiffers, type StalledReason } from './status.ts';

/** Removes the fleet's VMs before the fleet goes. */
export const FLEET_FINALIZER = 'virtfleet.io/vms';
/** The one field manager of everything VirtFleet applies. */
export const FIELD_MANAGER = 'virtfleet';

export interface VMFleet {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; deletionTimestamp?: Date | string; finalizers?: string[] };
  spec: VMFleetSpec;
  status?: VMFleetStatus;
}

export interface GoldenImage {
  metadata?: { name?: string; namespace?: string };
  spec: GoldenImageSpec;
}

/** Read access to a cache (an Informer fits). */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface FleetCaches {
  fleets: Cache<VMFleet>;
  vms: Cache<V1VirtualMachine>;
  vmis: Cache<V1VirtualMachineInstance>;
  nodes: Cache<V1Node>;
  goldenImages: Cache<GoldenImage>;
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
}

/** How long a requested restart counts as under way without the cache showing a new VMI. */
const RESTART_EXPECTATION_MS = 5 * 60_000;
/** Creates go out in batches of 1, 2, 4, … so a refused template costs one request, not hundreds. */
const MAX_CREATE_BATCH = 64;

type Verdict = { stalled: StalledReason } | { plan: Plan; heal: Replacement[]; image: ResolvedImage; revision: string; remediation: Remediation; nextCheckAt?: number };

/** How long the fleet waits before looking again for a free slot in the cluster's migration budget. */
const BUDGET_RETRY_MS = 500;

export class FleetReconciler {
  private readonly o: Required<FleetReconcilerOptions>;
  /** VM key → uid of the VMI deleted to restart it, until the cache shows another. */
  private readonly restarts = new Map<string, { uid: string; at: number }>();
  /** Fleet key → the template revision the API server refused, with its message. */
  private readonly refused = new Map<string, { revision: string; message: string }>();

  private readonly drift: DriftRepair;

  constructor(options: FleetReconcilerOptions) {
    this.o = { now: Date.now, backoff: DEFAULT_BACKOFF, ...options };
    this.drift = new DriftRepair({ ...this.o, fieldManager: FIELD_MANAGER });
  }

  /** The VM cache showed a VMI (called from the VMI informer), so a restart it awaited is done. */
  vmiObserved(vmi: V1VirtualMachineInstance): void {
    const key = `${vmi.metadata?.namespace}/${vmi.metadata?.name}`;
    const r = this.restarts.get(key);
    if (r && r.uid !== vmi.metadata?.uid && !vmi.metadata?.deletionTimestamp) this.restarts.delete(key);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const fleet = this.o.caches.fleets.get(name, namespace);
    if (!fleet) {
      this.o.expectations.forget(key);
      this.refused.delete(key);
      return;
    }
    const vms = this.ownedVMs(fleet);
    if (fleet.metadata?.deletionTimestamp) return this.finalize(key, fleet, vms);
    const finalizers = fleet.metadata?.finalizers ?? [];
    if (!finalizers.includes(FLEET_FINALIZER)) {
      await this.o.client.jsonPatch(RESOURCES.vmFleet, { namespace, name }, [
        { op: 'test', path: '/metadata/resourceVersion', value: fleet.metadata?.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [...finalizers, FLEET_FINALIZER] },
      ]);
      return; // the update event brings the fleet back with its finalizer
    }
    const now = this.o.now();
    if (!this.o.expectations.satisfied(key, now)) return; // the awaited events requeue the key

    const verdict = this.decide(key, fleet, vms, now);
    const limits = rolloutLimits(rolloutSpecOf(fleet.spec));
    const base = { generation: fleet.metadata?.generation ?? 0, replicas: fleet.spec.replicas ?? 1, maxUnavailable: limits.maxUnavailable, selector: fleet.spec.selector.matchLabels, previous: fleet.status };
    if ('stalled' in verdict) {
      await this.writeStatus(fleet, fleetStatus({ ...base, stalled: verdict.stalled, acting: false, now: new Date(now).toISOString() }));
      return;
    }
    const { plan, heal, image, revision, remediation } = verdict;
    // Reserved before the first await, so no other fleet's reconcile can take the same slots.
    this.drift.reserve(key, namespace!, remediation.plan, now);
    const acting = plan.actions.length > 0 || heal.length > 0 || remediation.plan.actions.length > 0;
    const refusal = await this.act(key, fleet, vms, plan.actions, heal, image, revision);
    const retryRefused = await this.drift.carryOut(key, fleet, vms, remediation, image, revision);
    const stalled = refusal ? { reason: 'InvalidTemplate', message: refusal } : undefined;
    await this.writeStatus(fleet, fleetStatus({ ...base, plan, ...(stalled ? { stalled } : {}), imageVersion: image.version, acting, drift: remediation.drift, now: new Date(now).toISOString() }));
    const waiting = remediation.pollBudget || retryRefused;
    const next = Math.min(plan.nextCheckAt ?? Infinity, verdict.nextCheckAt ?? Infinity, waiting ? now + BUDGET_RETRY_MS : Infinity);
    return Number.isFinite(next) ? { requeueAfterMs: Math.max(100, next - now) } : undefined;
  }

  /** The fleet's VMs: labelled with its name and controlled by it (invariant 4). */
  private ownedVMs(fleet: VMFleet): V1VirtualMachine[] {
    const uid = fleet.metadata?.uid;
    return this.o.caches.vms
      .list(fleet.metadata?.namespace)
      .filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === fleet.metadata?.name && vm.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid));
  }

  /** Pure decisions over the caches: the image, the revision, autohealing and the rollout plan. */
  private decide(key: string, fleet: VMFleet, vms: V1VirtualMachine[], now: number): Verdict {
    const spec = fleet.spec;
    const namespace = fleet.metadata!.namespace!;
    const imageNamespace = spec.image.namespace ?? namespace;
    const golden = this.o.caches.goldenImages.get(spec.image.name, imageNamespace);
    if (!golden) return { stalled: { reason: 'ImageNotFound', message: `GoldenImage ${imageNamespace}/${spec.image.name} does not exist` } };
    const resolved = resolveImage(spec.image, golden.spec, namespace);
    if (!resolved.ok) return { stalled: { reason: resolved.reason, message: resolved.message } };
    const image = resolved.image;
    const revision = revisionHash({ template: spec.template, imageVolume: spec.image.volume, nameGeneration: spec.nameGeneration, image });
    const refused = this.refused.get(key);
    if (refused?.revision === revision) return { stalled: { reason: 'InvalidTemplate', message: refused.message } };
    this.refused.delete(key);

    const ref = fleetRef(fleet);
    const observed: ObservedVM[] = [];
    for (const vm of vms) {
      const index = parseVmIndex(ref.name, vm.metadata!.name!);
      if (index === undefined) continue;
      const vmKey = `${namespace}/${vm.metadata!.name}`;
      const vmi = this.o.caches.vmis.get(vm.metadata!.name!, namespace);
      const restart = this.restarts.get(vmKey);
      if (restart && now - restart.at > RESTART_EXPECTATION_MS) this.restarts.delete(vmKey);
      const outdated = vm.metadata?.labels?.[REVISION_LABEL] !== revision;
      const liveMigratable = conditionOf(vmi?.status?.conditions, 'LiveMigratable')?.status === 'True';
      const change = outdated ? classifyChange(vm, desiredVM({ fleet: ref, spec, image, index, revision }), { liveMigratable }).kind : 'none';
      observed.push(observeVM({
        vm,
        index,
        vmi,
        node: vmi?.status?.nodeName ? this.o.caches.nodes.get(vmi.status.nodeName) : undefined,
        restartedVmiUid: this.restarts.get(vmKey)?.uid,
        change,
      }));
    }
    const window = disruptionWindow(spec.remediation?.disruptionWindow, now);
    if ('invalid' in window) return { stalled: { reason: 'InvalidDisruptionWindow', message: window.invalid } };
    const rollout = rolloutSpecOf(spec);
    const healing = planAutohealing({ spec: autohealSpecOf(spec), updateRevision: revision, pauseOnFailure: rollout.strategy === 'RollingUpdate' && rollout.pauseOnFailure, now, vms: observed });
    const healed = new Set(healing.replace.map((r) => r.name));
    const remediation = this.drift.plan(key, fleet, vms, observed, healed, image, revision, window.open, now);
    const driftRestarts = new Map(remediation.plan.restarts.map((r) => [r.vm, r.message]));
    const migrating = new Set(remediation.plan.migrating);
    const drifted = new Set(remediation.view.vms.filter((v) => v.drift.length > 0).map((v) => v.name));
    const plan = planRollout({
      fleet: ref.name,
      spec: rollout,
      updateRevision: revision,
      now,
      restartsAllowed: window.open,
      vms: observed.map((vm) => ({
        ...vm,
        ...(healed.has(vm.name) ? { deleting: true } : {}),
        drifted: drifted.has(vm.name),
        migrating: migrating.has(vm.name),
        ...(driftRestarts.has(vm.name) ? { driftRestart: driftRestarts.get(vm.name)! } : {}),
      })),
    });
    // Never a migration and a restart at once: what the rollout disrupts gets no other remedy.
    const disrupted = new Set(plan.actions.filter((a) => a.type !== 'Create' && a.type !== 'UpdateInPlace').map((a) => a.name));
    remediation.plan.actions = remediation.plan.actions.filter((a) => a.type === 'Abort' || !disrupted.has(a.vm));
    const waitingForWindow = 'opensAt' in window && (plan.blocked.length > 0 || remediation.plan.reports.some((r) => r.remedy === 'Restart'));
    const next = Math.min(
      healing.nextCheckAt ?? Infinity,
      remediation.plan.nextCheckAt ?? Infinity,
      remediation.view.rebalance.nextCheckAt ?? Infinity,
      waitingForWindow ? window.opensAt ?? Infinity : Infinity,
    );
    return { plan, heal: healing.replace, image, revision, remediation, ...(Number.isFinite(next) ? { nextCheckAt: next } : {}) };
  }


  /**
   * Carries out autohealing and the plan. Returns the API server's message when it refused the
   * template (the fleet is then Stalled and nothing more is tried for this revision).
   */
  private async act(key: string, fleet: VMFleet, vms: V1VirtualMachine[], actions: PlanAction[], heal: Replacement[], image: ResolvedImage, revision: string): Promise<string | undefined> {
    const ref = fleetRef(fleet);
    const namespace = ref.namespace;
    const byName = new Map(vms.map((vm) => [vm.metadata!.name!, vm]));
    const desired = (index: number) => desiredVM({ fleet: ref, spec: fleet.spec, image, index, revision });
    const done = new Map<string, string[]>();
    const note = (reason: string, name: string) => done.set(reason, [...(done.get(reason) ?? []), name]);
    const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace, name: ref.name, uid: ref.uid };
    let refusal: string | undefined;
    const apply = async (index: number) => {
      try {
        return await this.o.client.apply<V1VirtualMachine>(RESOURCES.vm, desired(index), FIELD_MANAGER);
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
    // Slow start, as the ReplicaSet controller does: stop at the first refused batch.
    for (let at = 0, batch = 1; at < creates.length && !refusal; at += batch, batch = Math.min(batch * 2, MAX_CREATE_BATCH)) {
      const slice = creates.slice(at, at + batch);
      this.o.expectations.expectCreations(key, slice.map((a) => a.name), this.o.now());
      await Promise.all(slice.map(async (a) => {
        try {
          const created = await apply(a.index);
          if (created) note(a.reason === 'Surge' ? 'CreatedSurge' : 'Created', a.name);
          else this.o.expectations.creationObserved(key, a.name);
        } catch (err) {
          this.o.expectations.creationObserved(key, a.name);
          throw err;
        }
      }));
    }
    if (refusal) return refusal;
    await inParallel(actions, async (a) => {
      switch (a.type) {
        case 'Create':
          return;
        case 'Delete':
          return remove(a.name, a.reason === 'ScaleDown' ? 'ScaledDown' : 'Replaced', a.reason === 'ScaleDown' && whenScaled);
        case 'Recreate':
          return remove(a.name, 'Recreated', false);
        case 'UpdateInPlace':
          if (await apply(a.index)) note('Updated', a.name);
          return;
        case 'Restart': {
          const vm = byName.get(a.name);
          // A drift restart runs the VM's spec as it is; a rollout restart applies the new one first.
          return this.restart(vm, a.drift ? async () => vm : () => apply(a.index), () => note(a.drift ? 'DriftRestarted' : 'Restarted', a.name));
        }
      }
    });
    const messages: Record<string, string> = {
      Created: 'created', CreatedSurge: 'created surge VMs', ScaledDown: 'scaled down, deleted', Replaced: 'replaced by surge VMs, deleted',
      Recreated: 'deleted to recreate (dataVolumeTemplates changed)', Updated: `updated in place to revision ${revision}`,
      Restarted: `restarted to run revision ${revision}`, Autohealed: 'replaced, as they could not run:',
      DriftRestarted: 'restarted to repair drift, as they cannot be live-migrated:',
    };
    for (const [reason, names] of done) {
      const healNotes = reason === 'Autohealed' ? ` (${heal.filter((h) => names.includes(h.name)).map((h) => h.message).join('; ')})` : '';
      await this.o.events.record(involved, 'Normal', reason, `${messages[reason]} ${listNames(names)}${healNotes} [image ${image.version}]`);
    }
    this.o.log.info('acted', { fleet: key, actions: Object.fromEntries([...done].map(([r, n]) => [r, n.length])) });
    return refusal;
  }

  /** Applies the new spec if needed, then deletes the VMI so KubeVirt starts it anew from it. */
  private async restart(vm: V1VirtualMachine | undefined, apply: () => Promise<V1VirtualMachine | undefined>, done: () => void): Promise<void> {
    if (!vm) return;
    const applied = await apply();
    if (!applied) return;
    const namespace = vm.metadata!.namespace!;
    const name = vm.metadata!.name!;
    const vmi = this.o.caches.vmis.get(name, namespace);
    if (vmi && !vmi.metadata?.deletionTimestamp) {
      this.restarts.set(`${namespace}/${name}`, { uid: vmi.metadata!.uid!, at: this.o.now() });
      await this.o.client.delete(RESOURCES.vmi, { namespace, name }, { uid: vmi.metadata?.uid });
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
    const finalizers = fleet.metadata?.finalizers ?? [];
    await this.o.client.jsonPatch(RESOURCES.vmFleet, { namespace, name }, [
      { op: 'test', path: '/metadata/resourceVersion', value: fleet.metadata?.resourceVersion },
      { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== FLEET_FINALIZER) },
    ]);
  }

  private async writeStatus(fleet: VMFleet, status: VMFleetStatus): Promise<void> {
    const previous = fleet.status;
    if (!statusDiffers(previous, status)) return;
    const { namespace, name } = { namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name! };
    await this.o.client.mergePatch(RESOURCES.vmFleet, { namespace, name }, { status }, 'status');
    await this.transitionEvents(fleet, previous, status);
  }

  /** Warning Events when the fleet stalls, Normal ones when a rollout completes or pauses. */
  private async transitionEvents(fleet: VMFleet, previous: VMFleetStatus | undefined, next: VMFleetStatus): Promise<void> {
    const was = (type: string) => previous?.conditions?.find((c) => c.type === type);
    const now = (type: string) => next.conditions?.find((c) => c.type === type);
    const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name!, uid: fleet.metadata!.uid! };
    const stalled = now('Stalled');
    if (stalled?.status === 'True' && (was('Stalled')?.status !== 'True' || was('Stalled')?.reason !== stalled.reason)) {
      await this.o.events.record(involved, 'Warning', stalled.reason, stalled.message);
    }
    const progressing = now('Progressing');
    const before = was('Progressing');
    if (progressing && progressing.reason !== before?.reason && ['NewRevisionAvailable', 'RolloutPaused'].includes(progressing.reason)) {
      await this.o.events.record(involved, 'Normal', progressing.reason === 'RolloutPaused' ? 'RolloutPaused' : 'RolloutComplete', progressing.message);
    }
  }
}
