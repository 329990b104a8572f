// The GoldenImage reconciler: the imperative shell around controller/core/image/. For one image
// key it looks at the source when due (discovery.ts), records new versions, materialises them
// (nothing for ContainerDisk; one DataVolume per version and one DataSource per channel for
// DataVolume storage), moves channels, counts which VMs boot each version, deletes what
// retention allows after checking use against live lists, records Events, and writes status once,
// only when it changed, guarded by resourceVersion so a stale cache never records a version twice.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1PersistentVolumeClaim, V1Secret } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { Cache } from '../cache/cache.ts';
import { vmsLabelledFor } from '../cache/vms.ts';
import { condition, statusDiffers, withTransitionTimes } from '../core/conditions.ts';
import type { DataSource, DataVolume } from '../core/image/cdi.ts';
import { applyDeprecations, channelRecords, resolveChannels, type HealthCount } from '../core/image/channels.ts';
import { applyVersionState, dataSourceName, dataVolumeName, derivedRegistrySecret, desiredDataSource, desiredDataVolume, IMAGE_LABEL, nextVersionState } from '../core/image/materialise.ts';
import { confirmDeletion, retentionPlan } from '../core/image/retention.ts';
import { decideRollbacks, healthyOnVersion, runsVersion, withRejections, type FleetOnChannel } from '../core/image/rollback.ts';
import { judgeFleetVM, type JudgedVM } from '../core/image/running.ts';
import { nextPoll } from '../core/image/schedule.ts';
import { imageConditions, type FailedImport } from '../core/image/summary.ts';
import type { FoundVersion, ImageRef, ImageStatus, RecordedChannel, RecordedVersion } from '../core/image/types.ts';
import { clonesReading, countUsage, imageRefsOfVM, parseDigestedImage, type DataSourcePointer } from '../core/image/usage.ts';
import { recordVersions } from '../core/image/versions.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { FIELD_MANAGER } from '../kube/field-manager.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { EventRecorder, InvolvedObject } from '../runtime/events.ts';
import { splitKey } from '../runtime/keys.ts';
import type { Logger } from '../runtime/logger.ts';
import { confirmManifest, lookAtSource, type SourceMemory, type SourceProblem } from './discovery.ts';
import { guardKey, type RetentionGuard } from './retention-guard.ts';
import { gateOnSignature, newSignatureMemory, SIGNATURE_INVALID, type SignatureMemory } from './signatures.ts';

export interface ImageCaches {
  images: Cache<GoldenImage>;
  dataVolumes: Cache<DataVolume>;
  dataSources: Cache<DataSource>;
  vms: Cache<V1VirtualMachine>;
  /** The fleets, to see how the ones on this image's channels fare (automatic rollback). */
  fleets: Cache<VMFleet>;
  /** The fleets' VMIs: which version a fleet VM's running instance boots. */
  vmis: Cache<V1VirtualMachineInstance>;
}

export interface ImageReconcilerOptions {
  client: KubeClient;
  caches: ImageCaches;
  events: EventRecorder;
  log: Logger;
  /** The namespace the controller is limited to (live use checks list only there); all when unset. */
  namespace?: string | undefined;
  /** Per request to a registry or HTTP server (default 30 s). */
  sourceTimeoutMs?: number;
  /** Holds the PVCs being deleted against new clones (retention-guard.ts); unguarded without it. */
  retentionGuard?: RetentionGuard | undefined;
  now?: () => number;
}

/** While an import runs, look again this often even without a DataVolume event. */
const IMPORT_POLL_MS = 5_000;
/** A pvc source is read again this often (no PVC informer). */
const PVC_SOURCE_POLL_MS = 60_000;
/** After a source problem, look again after this long at first, doubling up to the poll interval. */
const PROBLEM_RETRY_MS = 10_000;

interface Remembered {
  source: SourceMemory;
  /** The last look's problem, reported until a look succeeds. */
  problem?: SourceProblem;
  problemRetryMs?: number;
  /** Digests confirmed to exist in the registry by this process. */
  confirmed: Set<string>;
  /** Signature verdicts per digest (source.registry.verification); a new spec starts afresh. */
  signatures?: SignatureMemory;
}

const involved = (image: GoldenImage): InvolvedObject => ({
  apiVersion: 'virtfleet.io/v1alpha1',
  kind: 'GoldenImage',
  namespace: image.metadata!.namespace!,
  name: image.metadata!.name!,
  uid: image.metadata!.uid!,
});

export class ImageReconciler {
  private readonly o: ImageReconcilerOptions;
  private readonly now: () => number;
  private readonly memory = new Map<string, Remembered>();
  private guardPrepared: Promise<void> | undefined;

  constructor(options: ImageReconcilerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  /** How many images the reconciler remembers something of (bounded by the live images). */
  get remembered(): number {
    return this.memory.size;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    // A release that failed earlier is retried first: a held PVC must not stay refused for clones.
    if (this.o.retentionGuard?.pending) await this.o.retentionGuard.flush();
    const { namespace = '', name } = splitKey(key);
    const image = this.o.caches.images.get(name, namespace);
    if (!image || image.metadata?.deletionTimestamp) {
      // Its DataVolumes, DataSources and derived Secret go with it (owner references).
      this.memory.delete(key);
      return;
    }
    const ref: ImageRef = { namespace, name, uid: image.metadata?.uid ?? '' };
    const spec = image.spec;
    const generation = image.metadata?.generation ?? 0;
    const now = this.now();
    const nowDate = new Date(now);
    const nowIso = nowDate.toISOString();
    const previous = image.status ?? {};
    let remembered = this.memory.get(key);
    if (!remembered || remembered.source.generation !== generation) {
      remembered = { source: { generation }, confirmed: remembered?.confirmed ?? new Set() };
      this.memory.set(key, remembered);
    }
    const requeue: number[] = [];

    // 1. Look at the source when due.
    let found: FoundVersion[] = [];
    const schedule = nextPoll(spec, remembered.source.lastAt, now);
    let problem: SourceProblem | undefined = schedule.ok ? undefined : { reason: 'InvalidSchedule', message: schedule.message };
    if (schedule.ok) {
      const retryDue = remembered.problem && remembered.source.lastAt !== undefined && now >= remembered.source.lastAt + (remembered.problemRetryMs ?? PROBLEM_RETRY_MS);
      if (schedule.nextAt <= now || retryDue) {
        const look = await lookAtSource({ client: this.o.client, image: ref, spec, memory: remembered.source, now, timeoutMs: this.o.sourceTimeoutMs ?? 30_000 });
        remembered.source = look.memory;
        if (look.ok) {
          found = look.found;
          delete remembered.problem;
          delete remembered.problemRetryMs;
          for (const f of found) if (f.kind === 'registry') remembered.confirmed.add(f.digest);
        } else {
          const retryMs = look.problem.retryAfterMs ?? (remembered.problem ? Math.min(2 * (remembered.problemRetryMs ?? PROBLEM_RETRY_MS), 3_600_000) : PROBLEM_RETRY_MS);
          remembered.problem = look.problem;
          remembered.problemRetryMs = retryMs;
        }
      } else if (remembered.source.found) {
        found = remembered.source.found;
      }
      problem = remembered.problem;
      const next = nextPoll(spec, remembered.source.lastAt, now);
      if (next.ok && Number.isFinite(next.nextAt)) requeue.push(spec.source.pvc ? PVC_SOURCE_POLL_MS : Math.max(0, next.nextAt - now));
      if (remembered.problem) requeue.push(remembered.problemRetryMs ?? PROBLEM_RETRY_MS);
    }

    // 2. Record what was found and what the spec pins.
    const sourceKind = spec.source.registry ? 'registry' : spec.source.http ? 'http' : 'pvc';
    const record = recordVersions({
      recorded: previous.versions ?? [],
      found,
      pinned: spec.versions ?? [],
      source: sourceKind,
      ...(spec.source.http?.url ? { sourceURL: spec.source.http.url } : {}),
      now: nowDate,
    });

    // 3. Materialise and observe each version.
    const failed: FailedImport[] = [];
    const importing: string[] = [];
    const transitions: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
    let versions: RecordedVersion[] = [];
    let stalled: SourceProblem | undefined;
    // A version recorded by this reconcile is imported only once its record is written: a stale
    // cache (a restart, a status write not yet seen) records it again under a later name, and
    // the status write refuses that, but a DataVolume created before the write would stay behind
    // as a second import of the same version.
    const unwritten = new Set(record.added);
    if (unwritten.size > 0) requeue.push(0);
    for (const v of record.versions) {
      if (v.phase === 'Deleted') {
        versions.push(v);
        continue;
      }
      let dataVolume: DataVolume | undefined;
      let digestConfirmed = false;
      if ((spec.storage?.type ?? 'ContainerDisk') === 'DataVolume') {
        if (!unwritten.has(v.name)) {
          const outcome = await this.materialise(image, ref, v);
          if (outcome.problem) stalled ??= outcome.problem;
          dataVolume = outcome.dataVolume;
          if (outcome.started) transitions.push({ type: 'Normal', reason: 'ImportStarted', message: `importing version ${v.name} into DataVolume ${dataVolumeName(name, v.name)}` });
        }
      } else if (v.digest && (v.phase === 'Discovered' || v.phase === 'Importing')) {
        digestConfirmed = await this.confirmDigest(spec, ref, v.digest, remembered);
      }
      const gate = await gateOnSignature({ client: this.o.client, image: ref, spec, version: v, state: nextVersionState({ spec, version: v, ...(dataVolume ? { dataVolume } : {}), digestConfirmed }), memory: (remembered.signatures ??= newSignatureMemory()), now, timeoutMs: this.o.sourceTimeoutMs ?? 30_000 });
      const state = gate.state;
      if (gate.problem) stalled ??= gate.problem;
      if (gate.retryMs !== undefined) requeue.push(gate.retryMs);
      const next = applyVersionState(v, state, nowIso);
      if (next.phase === 'Importing') importing.push(next.name);
      if (next.phase === 'Failed') failed.push({ version: next.name, reason: state.reason ?? 'ImportFailed', message: next.message ?? 'the import failed' });
      if (next.phase !== v.phase) {
        if (next.phase === 'Ready' && (v.phase === 'Discovered' || v.phase === 'Importing')) transitions.push({ type: 'Normal', reason: 'VersionReady', message: `version ${v.name} is ready${next.pvcName ? ` in PVC ${next.pvcName}` : ''}` });
        if (next.phase === 'Failed') transitions.push({ type: 'Warning', reason: state.reason === SIGNATURE_INVALID ? SIGNATURE_INVALID : 'ImportFailed', message: `version ${v.name}: ${next.message ?? 'the import failed'}` });
      }
      versions.push(next);
    }
    if (importing.length > 0) requeue.push(IMPORT_POLL_MS);
    for (const added of record.added) {
      const v = versions.find((x) => x.name === added);
      transitions.unshift({ type: 'Normal', reason: 'VersionDiscovered', message: `version ${added} discovered${v?.digest ? ` (${v.digest})` : v?.checksum ? ` (${v.checksum})` : v?.sourceUID ? ` (PVC uid ${v.sourceUID})` : ''}` });
    }

    // 4. Deprecations and channels.
    const deprecated = applyDeprecations(versions, spec.deprecations, nowDate);
    versions = deprecated.versions;
    if (deprecated.nextChange) requeue.push(Math.max(0, deprecated.nextChange.getTime() - now));
    // Judged by what each fleet VM's spec and running instance boot, not by its spec alone.
    const fleetsOfImage = this.fleetsOfImage(ref);
    const pointers = this.dataSourcePointers();
    const judge = (fleet: FleetOfImage, version: RecordedVersion): JudgedVM[] =>
      fleet.vms.map(({ vm, vmi }) => judgeFleetVM({ image: ref, spec, version, vm, vmi, dataSources: pointers, minReadyMs: fleet.minReadyMs, now }));
    const rollback = decideRollbacks({ spec, channels: previous.channels ?? [], versions, fleets: fleetsOnChannels(fleetsOfImage, versions, previous.channels ?? [], judge), now: nowDate });
    versions = withRejections(versions, rollback.rejected);
    if (rollback.retryAt) requeue.push(Math.max(0, rollback.retryAt.getTime() - now));
    const rejected = new Set(rollback.rejected.keys());
    for (const b of rollback.rollbacks) transitions.push({ type: 'Warning', reason: 'VersionRolledBack', message: b.message });
    const channels = resolveChannels({ spec, versions, previous: previous.channels ?? [], now: nowDate, rejected, health: (version) => health(fleetsOfImage, versions, version, judge) });
    for (const gate of channels.gates) if (gate.retryAt) requeue.push(Math.max(0, gate.retryAt.getTime() - now));
    const channelStatus = channelRecords(channels, rollback.settled, nowDate);
    transitions.push(...channelTransitions(previous.channels ?? [], channelStatus));
    if ((spec.storage?.type ?? 'ContainerDisk') === 'DataVolume') await this.applyDataSources(ref, channels.channels, versions);

    // 5. Who uses which version, and what retention may delete.
    const dataSources = this.dataSourcePointers();
    const used = countUsage({ image: ref, spec, versions, vms: this.o.caches.vms.list(), dataSources });
    const reading = clonesReading(this.o.caches.dataVolumes.list(), ref, versions, dataSources);
    const use = { channels: channels.channels, pinned: (spec.versions ?? []).map((v) => v.name), used, clonesReading: reading };
    const plan = retentionPlan({ versions, keepUnused: spec.retention?.keepUnused ?? 3, storage: spec.storage, ...use });
    // A controller limited to one namespace cannot see the VMs of the namespaces an image is shared
    // with, so it cannot know a version is unused there: it deletes nothing of such an image.
    const blind = this.o.namespace !== undefined && (spec.sharing?.namespaces ?? []).some((n) => n !== this.o.namespace);
    if (plan.delete.length > 0 && !blind) {
      const deleted = await this.deleteVersions(ref, spec, versions, plan, use.channels, use.pinned);
      versions = versions.map((v) => (deleted.has(v.name) ? { ...withoutData(v), phase: 'Deleted' as const, deletedAt: nowIso } : v));
      for (const d of deleted) transitions.push({ type: 'Normal', reason: 'VersionDeleted', message: `version ${d} deleted (unused, beyond retention.keepUnused=${spec.retention?.keepUnused ?? 3})` });
    }
    versions = versions.map((v) => ({ ...v, usedBy: v.phase === 'Deleted' ? 0 : used.get(v.name) ?? 0 }));

    // 6. Status, written once and only when it changed.
    const summary = imageConditions({
      generation,
      ...(stalled ?? (problem && isPermanent(problem)) ? { sourceProblem: stalled ?? problem! } : {}),
      versions,
      channels: channels.channels,
      gates: channels.gates,
      importing,
      failed,
      rejected,
    });
    const conditions = summary.conditions.slice();
    if (rollback.rejected.size > 0) {
      const marks = [...rollback.rejected].map(([version, mark]) => `${version}: ${mark.message ?? mark.reason}`);
      conditions.push(condition('RolledBack', 'True', 'VersionRejected', `${marks.join('; ')}; list a version in spec.clearedRejections to let channels take it up again`, generation));
    }
    if (problem && !isPermanent(problem) && !stalled) {
      // A source that fails for now (unreachable, rate-limited, 5xx) is retried: Reconciling, not Stalled.
      const at = conditions.findIndex((c) => c.type === 'Reconciling');
      const retrying = { type: 'Reconciling', status: 'True' as const, observedGeneration: generation, reason: problem.reason, message: `retrying: ${problem.message}`.slice(0, 1024) };
      if (at >= 0) conditions[at] = retrying;
      else conditions.push(retrying);
    }
    const status: ImageStatus = {
      observedGeneration: generation,
      ...(summary.latestVersion ? { latestVersion: summary.latestVersion } : {}),
      availableVersions: summary.availableVersions,
      versions,
      channels: channelStatus,
      conditions: withTransitionTimes(previous.conditions, conditions, nowIso) as ImageStatus['conditions'],
    };
    if (statusDiffers(previous, status) || Object.keys(previous).some((k) => !(k in status))) {
      try {
        await this.o.client.mergePatch(RESOURCES.goldenImage, { namespace, name }, { metadata: { resourceVersion: image.metadata?.resourceVersion }, status: { ...nulled(previous, status), ...status } }, 'status');
      } catch (err) {
        // The cache was stale: what this reconcile found is found again from the fresh object.
        if (err instanceof ApiError && err.conflict) return { requeueAfterMs: 250 };
        throw err;
      }
      for (const t of transitions) void this.o.events.record(involved(image), t.type, t.reason, t.message);
    }
    return requeue.length > 0 ? { requeueAfterMs: Math.max(250, Math.min(...requeue)) } : undefined;
  }

  /** Ensures the version's DataVolume (and the Secret CDI reads registry credentials from). */
  private async materialise(image: GoldenImage, ref: ImageRef, version: RecordedVersion): Promise<{ dataVolume?: DataVolume; problem?: SourceProblem; started?: boolean }> {
    const dvName = dataVolumeName(ref.name, version.name);
    const cached = this.o.caches.dataVolumes.get(dvName, ref.namespace);
    if (cached) {
      if (!ownedBy(cached, ref.uid)) return { problem: { reason: 'NameConflict', message: `DataVolume ${ref.namespace}/${dvName} exists and is not this image's; it is left alone` } };
      return { dataVolume: cached };
    }
    // A version that failed or was Ready keeps its phase; a lost DataVolume is not imported again.
    if (version.phase !== 'Discovered' && version.phase !== 'Importing') return {};
    const plan = desiredDataVolume({ image: ref, spec: image.spec, version });
    if (!plan.ok) return { problem: { reason: plan.reason, message: plan.message } };
    if (plan.credentials) {
      const pullSecret = await this.o.client.get<V1Secret>(RESOURCES.secret, { namespace: ref.namespace, name: plan.credentials.pullSecretName });
      if (!pullSecret) return { problem: { reason: 'SecretNotFound', message: `Secret ${ref.namespace}/${plan.credentials.pullSecretName} not found` } };
      const secret = derivedRegistrySecret({ image: ref, spec: image.spec, pullSecret });
      if (!secret.ok) return { problem: { reason: secret.reason, message: secret.message } };
      await this.o.client.apply(RESOURCES.secret, secret.secret, FIELD_MANAGER);
    }
    try {
      const created = await this.o.client.createManaged<DataVolume>(RESOURCES.dataVolume, plan.dataVolume, FIELD_MANAGER);
      return { dataVolume: created, started: true };
    } catch (err) {
      if (!(err instanceof ApiError && err.alreadyExists)) throw err;
      // Not in the cache yet (a restart mid-import, or someone else's): judged from a fresh read.
      const existing = await this.o.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: ref.namespace, name: dvName });
      if (existing && !ownedBy(existing, ref.uid)) return { problem: { reason: 'NameConflict', message: `DataVolume ${ref.namespace}/${dvName} exists and is not this image's; it is left alone` } };
      return existing ? { dataVolume: existing } : {};
    }
  }

  /** A pinned digest exists in the registry (HEAD by digest), once per process and digest. */
  private async confirmDigest(spec: GoldenImage['spec'], ref: ImageRef, digest: string, remembered: Remembered): Promise<boolean> {
    if (remembered.confirmed.has(digest)) return true;
    const answer = await confirmManifest({ client: this.o.client, image: ref, spec, digest, timeoutMs: this.o.sourceTimeoutMs ?? 30_000 });
    if (answer.ok && answer.exists) remembered.confirmed.add(digest);
    return answer.ok && answer.exists;
  }

  /** One DataSource per channel (`<image>-<channel>`), pointing at the channel's PVC. */
  private async applyDataSources(ref: ImageRef, channels: { name: string; version?: string }[], versions: RecordedVersion[]): Promise<void> {
    for (const channel of channels) {
      const version = versions.find((v) => v.name === channel.version);
      if (!version?.pvcName || version.phase === 'Deleted') continue;
      const desired = desiredDataSource({ image: ref, channel: channel.name, version: version.name, pvc: { namespace: ref.namespace, name: version.pvcName } });
      const cached = this.o.caches.dataSources.get(desired.metadata.name, ref.namespace);
      if (cached && !ownedBy(cached, ref.uid)) continue;
      if (cached?.spec?.source?.pvc?.name === version.pvcName && cached.spec.source.pvc.namespace === ref.namespace) continue;
      if (cached || !(await this.nameTaken(RESOURCES.dataSource, ref.namespace, desired.metadata.name, ref.uid))) await this.o.client.apply(RESOURCES.dataSource, desired, FIELD_MANAGER);
    }
  }

  /** Whether someone else's object holds the name (checked live before a first apply creates it). */
  private async nameTaken(res: typeof RESOURCES.dataSource, namespace: string, name: string, uid: string): Promise<boolean> {
    const existing = await this.o.client.get<DataSource>(res, { namespace, name });
    return existing !== undefined && !ownedBy(existing, uid);
  }

  private dataSourcePointers(): DataSourcePointer[] {
    return this.o.caches.dataSources.list().map((ds) => ({
      namespace: ds.metadata?.namespace ?? '',
      name: ds.metadata?.name ?? '',
      ...(ds.spec?.source?.pvc ? { pvc: ds.spec.source.pvc } : {}),
    }));
  }

  /**
   * Deletes the planned versions' DataVolumes and PVCs, each only after a live list of VMs and
   * DataVolumes shows no use began since the cache was read. With the retention guard, new clones
   * of those PVCs are refused by the API server from before that list until the deletes are done,
   * so no use can begin between the list and the delete either.
   */
  private async deleteVersions(ref: ImageRef, spec: GoldenImage['spec'], versions: RecordedVersion[], plan: ReturnType<typeof retentionPlan>, channels: { name: string; version?: string }[], pinned: string[]): Promise<Set<string>> {
    const guard = this.o.retentionGuard;
    if (!guard) return this.deleteConfirmed(ref, spec, versions, plan, channels, pinned);
    // New clones of the PVCs are refused first; only then does the live check below see every use.
    const pvcOf = (name: string) => pvcNameOf(ref, versions, name);
    const keys = plan.delete.map((name) => guardKey(ref.namespace, pvcOf(name)));
    await this.prepareGuard();
    const held = await guard.hold(Object.fromEntries(plan.delete.map((name, i) => [keys[i]!, `${ref.namespace}/${ref.name} ${name}`])));
    if (!held) return this.deleteConfirmed(ref, spec, versions, plan, channels, pinned);
    try {
      await guard.inForce(ref.namespace, pvcOf(plan.delete[0]!));
      return await this.deleteConfirmed(ref, spec, versions, plan, channels, pinned);
    } finally {
      await guard.release(keys);
    }
  }

  /** Clears what an earlier term left in the retention guard, once per term; holds wait for it. */
  prepareGuard(): Promise<void> {
    const guard = this.o.retentionGuard;
    this.guardPrepared ??= guard
      ? guard.clearLeftovers(this.o.namespace).catch((err: unknown) => this.o.log.error('retention guard: entries of an earlier term not cleared', { error: String(err) }))
      : Promise.resolve();
    return this.guardPrepared;
  }

  /** Lists VMs and DataVolumes live and deletes the planned versions nothing uses by them. */
  private async deleteConfirmed(ref: ImageRef, spec: GoldenImage['spec'], versions: RecordedVersion[], plan: ReturnType<typeof retentionPlan>, channels: { name: string; version?: string }[], pinned: string[]): Promise<Set<string>> {
    const scope = this.o.namespace ? { namespace: this.o.namespace } : {};
    const [vms, dvs] = await Promise.all([
      this.o.client.list<V1VirtualMachine>(RESOURCES.vm, scope),
      this.o.client.list<DataVolume>(RESOURCES.dataVolume, scope),
    ]);
    const dataSources = this.dataSourcePointers();
    const live = {
      channels,
      pinned,
      used: countUsage({ image: ref, spec, versions, vms: vms.items, dataSources }),
      clonesReading: clonesReading(dvs.items, ref, versions, dataSources),
    };
    const deleted = new Set<string>();
    for (const name of confirmDeletion(plan, live)) {
      const dvName = dataVolumeName(ref.name, name);
      const dv = dvs.items.find((d) => d.metadata?.namespace === ref.namespace && d.metadata?.name === dvName);
      if (dv && !ownedBy(dv, ref.uid)) continue;
      if (dv) await this.o.client.delete(RESOURCES.dataVolume, { namespace: ref.namespace, name: dvName }, { uid: dv.metadata!.uid!, propagationPolicy: 'Background' });
      // The claim is the DataVolume's; removed here too, so retention does not wait for garbage collection.
      const pvcName = pvcNameOf(ref, versions, name);
      const pvc = await this.o.client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace: ref.namespace, name: pvcName });
      if (pvc && dv && pvc.metadata?.ownerReferences?.some((o) => o.uid === dv.metadata?.uid)) await this.o.client.delete(RESOURCES.pvc, { namespace: ref.namespace, name: pvcName }, { uid: pvc.metadata!.uid! });
      deleted.add(name);
    }
    return deleted;
  }

  /**
   * The fleets that boot from this image (in any namespace it is shared with), each with its VMs
   * and their VMIs: one lookup in the VM cache's fleet index per fleet, none over every VM.
   */
  private fleetsOfImage(ref: ImageRef): FleetOfImage[] {
    const out: FleetOfImage[] = [];
    for (const fleet of this.o.caches.fleets.list()) {
      const namespace = fleet.metadata?.namespace ?? '';
      const name = fleet.metadata?.name ?? '';
      const image = fleet.spec.image;
      if (image.name !== ref.name || (image.namespace ?? namespace) !== ref.namespace) continue;
      // VMs being deleted stay in: a failing VM on its way to be replaced is still evidence.
      const vms = vmsLabelledFor(this.o.caches.vms, namespace, name).map((vm) => ({ vm, vmi: this.o.caches.vmis.get(vm.metadata?.name ?? '', namespace) }));
      out.push({ key: `${namespace}/${name}`, fleet, minReadyMs: (fleet.spec.minReadySeconds ?? 0) * 1000, vms });
    }
    return out;
  }
}

/** The claim holding a version: as recorded, else the DataVolume's name (CDI names the claim after it). */
const pvcNameOf = (ref: ImageRef, versions: readonly RecordedVersion[], name: string): string =>
  versions.find((v) => v.name === name)?.pvcName ?? dataVolumeName(ref.name, name);

/** A fleet of the image, with its VMs and their VMIs (if any). */
interface FleetOfImage {
  /** `namespace/name`. */
  key: string;
  fleet: VMFleet;
  minReadyMs: number;
  vms: { vm: V1VirtualMachine; vmi: V1VirtualMachineInstance | undefined }[];
}

type Judge = (fleet: FleetOfImage, version: RecordedVersion) => JudgedVM[];

/**
 * The fleets on this image's channels, each with its VMs judged against the channel's recorded
 * version (moved onto it or not, healthy on it or not): the rollback decision's input.
 */
function fleetsOnChannels(fleets: readonly FleetOfImage[], versions: readonly RecordedVersion[], channels: readonly RecordedChannel[], judge: Judge): FleetOnChannel[] {
  return fleets.flatMap((f) => {
    const channel = f.fleet.spec.image.channel;
    const target = channel === undefined ? undefined : versions.find((v) => v.name === channels.find((c) => c.name === channel)?.version);
    if (channel === undefined || !target) return [];
    const stalled = f.fleet.status?.conditions?.find((c) => c.type === 'Stalled');
    return [{ fleet: f.key, channel, rolloutHalted: stalled?.status === 'True' && stalled.reason === 'RolloutHalted', vms: judge(f, target) }];
  });
}

/**
 * The image's fleet VMs that run `version` (moved onto it: spec and running instance), and how
 * many are healthy on it, Ready for their fleet's minReadySeconds (the promotion gate's input).
 */
function health(fleets: readonly FleetOfImage[], versions: readonly RecordedVersion[], version: string, judge: Judge): HealthCount {
  const target = versions.find((v) => v.name === version);
  if (!target) return { healthy: 0, total: 0 };
  const running = fleets.flatMap((f) => judge(f, target)).filter(runsVersion);
  // No event comes when a Ready VM has waited out minReadySeconds: the gate is looked at again then.
  const nextHealthyAt = Math.min(...running.map((vm) => vm.healthyAt ?? Number.POSITIVE_INFINITY));
  return { healthy: running.filter(healthyOnVersion).length, total: running.length, ...(Number.isFinite(nextHealthyAt) ? { nextHealthyAt: new Date(nextHealthyAt) } : {}) };
}

/** Events for channel moves and gates that changed state (waiting for soak or health, blocked). */
function channelTransitions(before: readonly RecordedChannel[], after: readonly RecordedChannel[]): { type: 'Normal' | 'Warning'; reason: string; message: string }[] {
  const out: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
  for (const c of after) {
    const old = before.find((o) => o.name === c.name);
    if (c.version !== undefined && old?.version !== c.version) out.push({ type: 'Normal', reason: 'ChannelMoved', message: `channel ${c.name} moved ${old?.version ? `from ${old.version} ` : ''}to ${c.version}` });
    if (c.gate && c.gate.state !== 'Open' && old?.gate?.state !== c.gate.state) {
      out.push(c.gate.state === 'Blocked'
        ? { type: 'Warning', reason: 'ChannelBlocked', message: `channel ${c.name}: ${c.gate.message ?? 'blocked'}` }
        : { type: 'Normal', reason: 'PromotionWaiting', message: `channel ${c.name}: ${c.gate.message ?? 'waiting'}` });
    }
  }
  return out;
}

/** Problems a retry alone will not fix: they make the image Stalled. */
function isPermanent(problem: SourceProblem): boolean {
  return !['SourceUnreachable', 'RateLimited', 'ServerError'].includes(problem.reason);
}

function ownedBy(obj: { metadata?: { ownerReferences?: { uid: string; controller?: boolean }[] } }, uid: string): boolean {
  return obj.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller) ?? false;
}

function withoutData(v: RecordedVersion): RecordedVersion {
  const { progress: _progress, message: _message, ...rest } = v;
  return rest;
}

/** Fields of the previous status that the new one drops, as merge-patch deletions. */
function nulled(previous: ImageStatus, next: ImageStatus): Record<string, null> {
  const out: Record<string, null> = {};
  for (const k of Object.keys(previous)) if (!(k in next)) out[k] = null;
  return out;
}

/** The images whose versions a VM's references may name, for mapping VM events to image keys. */
export function imagesReferencedBy(vm: V1VirtualMachine, byRepository: (repository: string) => string[], dataVolumes: Cache<DataVolume>, dataSources: Cache<DataSource>): string[] {
  const refs = imageRefsOfVM(vm);
  const keys = new Set<string>();
  for (const image of refs.containerDisks) {
    const parsed = parseDigestedImage(image);
    if (parsed) for (const k of byRepository(parsed.repository)) keys.add(k);
  }
  for (const pvc of refs.pvcs) {
    const owner = dataVolumes.get(pvc.name, pvc.namespace)?.metadata?.labels?.[IMAGE_LABEL];
    if (owner) keys.add(`${pvc.namespace}/${owner}`);
  }
  for (const ds of refs.dataSources) {
    const owner = dataSources.get(ds.name, ds.namespace)?.metadata?.labels?.[IMAGE_LABEL];
    if (owner) keys.add(`${ds.namespace}/${owner}`);
  }
  return [...keys];
}

export { dataSourceName };
