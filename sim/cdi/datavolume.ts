// The simulated CDI DataVolume controller (pkg/controller/datavolume): creates each
// DataVolume's claim, plays the importer or cloner over simulated time, binds the claim when the
// data is in, and reports phase, progress, restarts and conditions as CDI does. The decisions
// are in transfer.ts (phases), claim.ts (the claim) and source.ts (the source). An http source
// on a loopback URL is really downloaded and its checksum verified (http-import.ts moves the
// bytes, http-source.ts knows the source and the importer's words).
import { ApiError } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { SimContext } from '../context.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import { boundClaimStatus, claimForDataVolume, claimSpec, isControlledBy, requestedStorage } from './claim.ts';
import { HttpImports } from './http-import.ts';
import { liveHttpImport } from './http-source.ts';
import { importerInputs } from './importer-inputs.ts';
import { mergePatchFor } from '../merge-patch.ts';
import { transferSource } from './source.ts';
import { importFailure, stepDataVolume } from './transfer.ts';

/** How often the downloads are checked against the DataVolumes still there (real ms). */
const PRUNE_INTERVAL_MS = 30_000;

interface Downloads { imports: HttpImports; prunedAt: number }
const downloadsByContext = new WeakMap<SimContext, Downloads>();

/** The simulator's real downloads, made on first use; each is cancelled when its DataVolume is deleted. */
function downloadsOf(ctx: SimContext): Downloads {
  let d = downloadsByContext.get(ctx);
  if (!d) {
    const { connectTimeoutMs, idleTimeoutMs, totalTimeoutMs } = ctx.config.cdi.download;
    const imports = new HttpImports({ connectMs: connectTimeoutMs, idleMs: idleTimeoutMs, totalMs: totalTimeoutMs }, (key) => ctx.enqueue('dataVolume', key));
    ctx.world.dataVolumes.on((type, obj) => {
      const uid = obj.metadata?.uid;
      if (uid && (type === 'delete' || obj.metadata?.deletionTimestamp)) imports.cancel(uid);
    });
    d = { imports, prunedAt: Date.now() };
    downloadsByContext.set(ctx, d);
  }
  return d;
}

/** Cancels every real download of the simulator (for its shutdown). */
export function stopDownloads(ctx: SimContext): void {
  downloadsByContext.get(ctx)?.imports.stopAll();
}

export async function reconcileDataVolume(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const dv = ctx.world.dataVolumes.get(namespace, name);
  // CDI does nothing more for a DataVolume being deleted; the claim goes with it (owner reference).
  if (!dv || dv.metadata?.deletionTimestamp) {
    downloadsByContext.get(ctx)?.imports.cancelKey(key);
    return;
  }
  const uid = dv.metadata?.uid ?? '';
  const source = transferSource(dv, (ns, n) => ctx.world.dataSources.get(ns, n));
  const live = source.kind === 'import' && source.type === 'http' ? liveHttpImport(dv) : undefined;
  const downloads = live ? downloadsOf(ctx) : downloadsByContext.get(ctx);
  if (downloads) {
    // A DataVolume made anew under the same name does not inherit the old one's download.
    downloads.imports.cancelKey(key, uid);
    if (Date.now() - downloads.prunedAt >= PRUNE_INTERVAL_MS) {
      downloads.prunedAt = Date.now();
      downloads.imports.prune(new Set(ctx.world.dataVolumes.list().map((d) => d.metadata?.uid ?? '')));
    }
  }
  const claim = ctx.world.pvcs.get(namespace, name);
  if (claim && !isControlledBy(claim, dv)) {
    // CDI: ErrResourceExists, "Resource %q already exists and is not managed by DataVolume"; no status change.
    ctx.log.error(`DataVolume ${key}: Resource "${name}" already exists and is not managed by DataVolume`);
    return;
  }
  // CDI: ErrResourceMarkedForDeletion; wait for the claim to go.
  if (claim?.metadata?.deletionTimestamp) return;
  const sourceClaim = source.kind === 'clone' ? ctx.world.pvcs.get(source.namespace, source.name) : undefined;
  const cdi = ctx.config.cdi;
  const injected = source.kind === 'import' && ctx.chance.chance(cdi.failureProbability, `import/${key}/${dv.metadata?.uid}`);

  // A claim needs a size: the DataVolume's, or for a clone the source's.
  const claimError = !claim && requestedStorage(claimSpec(dv, sourceClaim)) === undefined
    ? 'the DataVolume requests no storage size (spec.storage.resources.requests.storage)'
    : undefined;

  const step = stepDataVolume({
    dv,
    source,
    claim,
    sourceClaim,
    now: ctx.clock.now(),
    nowIso: ctx.clock.iso(),
    speed: ctx.clock.speed,
    timing: { importMs: cdi.importMs, cloneMs: cdi.cloneMs },
    importError: importFailure(source, cdi.failingURLs, injected),
    claimError,
    ...(live ? { live: { ...(live.checksum ? { checksum: live.checksum } : {}), download: downloads?.imports.view(uid) } } : {}),
  });

  if (step.startDownload && live && downloads) {
    downloads.imports.start({ uid, key, attempt: step.startDownload.attempt, url: live.url, checksum: live.checksum, inputs: (signal) => importerInputs(ctx.client, namespace ?? '', live, signal) });
  }

  if (step.createClaim) {
    try {
      await ctx.client.create(RESOURCES.pvc, claimForDataVolume(dv, source, new Date(ctx.clock.now()).toISOString(), sourceClaim));
    } catch (err) {
      // Already there but not yet in the cache: its event brings this DataVolume back.
      if (err instanceof ApiError && err.alreadyExists) return;
      throw err;
    }
  }
  if (step.bindClaim && claim) {
    // The simulated storage binds the populated claim, through the PVC status subresource.
    await ctx.client.mergePatch(RESOURCES.pvc, { namespace, name }, { status: boundClaimStatus(claim) }, 'status');
  }
  // Written through the DataVolume's status subresource, only when something changed, guarded
  // by resourceVersion so a stale cache never moves the status backwards.
  const patch = mergePatchFor(dv.status ?? {}, step.status);
  if (patch) {
    await ctx.client.mergePatch(RESOURCES.dataVolume, { namespace, name }, { metadata: { resourceVersion: dv.metadata?.resourceVersion }, status: patch }, 'status');
  }
  // A finished DataVolume needs its download no more (its phase sticks).
  if (downloads && (step.status.phase === 'Succeeded' || step.status.phase === 'Failed')) downloads.imports.cancel(uid);
  if (step.wakeInMs !== undefined) ctx.enqueue('dataVolume', key, step.wakeInMs);
}
