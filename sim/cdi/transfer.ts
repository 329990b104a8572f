// How a DataVolume moves through CDI's phases, with the progress and the Bound, Ready and Running
// conditions CDI reports (pkg/controller/datavolume: controller-base.go updateStatus and
// updateConditions, conditions.go, import-controller.go, clone-controller-base.go):
//   import: "" → Pending → ImportScheduled → ImportInProgress → Succeeded (or Failed)
//   clone:  "" → CloneScheduled (while the source is missing or unbound) → Pending →
//           CloneScheduled → CloneInProgress → Succeeded
//   blank:  "" → Pending → ImportScheduled → Succeeded
// The simulated importer and cloner fill the claim the way CDI's volume populators do: the
// target claim stays Pending while the data is copied and binds when the DataVolume succeeds.
// Pure: the caller supplies the claims, the clock and the injected failure.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataVolume } from '../world.ts';
import { claimTransferKind, transferStart } from './claim.ts';
import { updateConditions, type CdiCondition, type DesiredCondition } from './conditions.ts';
import { CHECKSUM_ERROR_REASON, checksumMismatchMessage, crashLoopBackoffMs, downloadFraction, type DownloadView, type ParsedChecksum } from './http-source.ts';
import type { TransferSource } from './source.ts';

export interface DataVolumeStatus {
  phase?: string;
  progress?: string;
  restartCount?: number;
  claimName?: string;
  conditions?: CdiCondition[];
}

/** Share of a transfer's time spent with its pod scheduled, before data moves. */
export const SCHEDULED_FRACTION = 0.1;
/** A blank image is written this long (simulated ms) after its claim exists, at most importMs. */
export const BLANK_SIM_MS = 500;
/** CDI re-reads the importer's progress every 2 seconds while it runs. */
export const PROGRESS_INTERVAL_SIM_MS = 2_000;

/** CDI's progress strings: "N/A" before data moves, "%.2f%%" while it does, "100.0%" when done. */
export function formatProgress(fraction: number): string {
  if (!(fraction > 0)) return '0.00%';
  if (fraction >= 1) return '100.0%';
  return `${(Math.min(9_999, Math.floor(fraction * 10_000 + 1e-6)) / 100).toFixed(2)}%`;
}

/** The importer's error for a source that cannot be read, worded as CDI's importer words it. */
export function importerError(source: Extract<TransferSource, { kind: 'import' }>): string {
  switch (source.type) {
    case 'http':
      return 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found';
    case 'registry':
      return `Unable to process data: Unable to transfer source data to scratch space: Failed to read registry image: Error retrieving image: reading manifest ${source.url ?? ''}: manifest unknown`;
    default:
      return `Unable to process data: Unable to transfer source data to target file: unable to read ${source.type} data source ${source.url ?? ''}`;
  }
}

/**
 * The importer error a DataVolume's import meets, if any: its URL contains one of the failing
 * URLs, or the seeded chance (decided by the caller) says so. Blank images and clones never fail.
 */
export function importFailure(source: TransferSource, failingURLs: readonly string[], injected: boolean): string | undefined {
  if (source.kind !== 'import' || source.type === 'blank') return undefined;
  const url = source.url ?? '';
  const failing = failingURLs.some((s) => s !== '' && url.includes(s));
  return failing || injected ? importerError(source) : undefined;
}

export interface DataVolumeFacts {
  dv: DataVolume;
  source: TransferSource;
  /** The DataVolume's own claim, when it exists (the caller checked it is controlled by the DataVolume). */
  claim?: V1PersistentVolumeClaim;
  /** A clone's source claim, when it exists. */
  sourceClaim?: V1PersistentVolumeClaim;
  /** Wall-clock now (epoch ms), its ISO form for condition times, and simulated ms per real ms. */
  now: number;
  nowIso: string;
  speed: number;
  timing: { importMs: number; cloneMs: number };
  /** The importer's error when this import is to fail. */
  importError?: string;
  /** Why the claim CDI would create is invalid (for example no size), if it is. */
  claimError?: string;
  /**
   * Set when the import really downloads its (loopback) http source: the checksum to verify and
   * what the download of the current attempt is doing, if one was started.
   */
  live?: { checksum?: ParsedChecksum; download?: DownloadView };
}

export interface DataVolumeStep {
  status: DataVolumeStatus;
  /** Create the DataVolume's claim. */
  createClaim?: boolean;
  /** Bind the DataVolume's claim (the transfer finished). */
  bindClaim?: boolean;
  /** Real ms until the next transition or progress update is due. */
  wakeInMs?: number;
  /** Start (or retry) the real download as this attempt, unless that attempt is already under way. */
  startDownload?: { attempt: number };
}

interface View {
  phase: string;
  progress?: string;
  restartCount?: number;
  claimName?: string;
  bound: DesiredCondition;
  ready: DesiredCondition;
  running: DesiredCondition;
}

const realMs = (simMs: number, speed: number): number => Math.max(1, Math.ceil(simMs / speed));

function render(dv: DataVolume, v: View, nowIso: string): DataVolumeStatus {
  const previous = dv.status?.conditions as CdiCondition[] | undefined;
  const status: DataVolumeStatus = { phase: v.phase };
  if (v.progress !== undefined) status.progress = v.progress;
  const restarts = v.restartCount ?? dv.status?.restartCount;
  if (restarts) status.restartCount = restarts;
  if (v.claimName !== undefined) status.claimName = v.claimName;
  // CDI updates Bound, then Ready, then Running (updateConditions).
  status.conditions = updateConditions(previous, [v.bound, v.ready, v.running], nowIso);
  return status;
}

/** CDI's Bound condition for a claim in the given phase (updateBoundCondition). */
function boundCondition(claimName: string, claimPhase: string | undefined): DesiredCondition {
  if (claimPhase === 'Bound') return { type: 'Bound', status: 'True', reason: 'Bound', message: `PVC ${claimName} Bound` };
  if (claimPhase === 'Lost') return { type: 'Bound', status: 'False', reason: 'ClaimLost', message: 'Claim Lost' };
  return { type: 'Bound', status: 'False', reason: 'Pending', message: `PVC ${claimName} Pending` };
}

const notReady: DesiredCondition = { type: 'Ready', status: 'False' };
const notRunning: DesiredCondition = { type: 'Running', status: 'False' };

/** The next status of a DataVolume and what to do for it; applies every transition already due. */
export function stepDataVolume(f: DataVolumeFacts): DataVolumeStep {
  const { dv, source, claim } = f;
  const current = (dv.status ?? {}) as DataVolumeStatus;
  const name = dv.metadata?.name ?? '';
  const namespace = dv.metadata?.namespace ?? '';
  // A failed transfer stays failed: the simulated importer does not retry.
  if (current.phase === 'Failed') return { status: current };
  // Sources CDI's DataVolume controller does not act on (no source, upload) are left alone.
  if (source.kind === 'none' && !claim) return { status: current };

  if (!claim) {
    // Without a claim CDI reports the blocking event's reason and message in Bound and Ready.
    const waiting = (phase: string, reason: string, message: string): DataVolumeStep => ({
      status: render(dv, {
        phase,
        bound: { type: 'Bound', status: 'False', reason, message },
        ready: { type: 'Ready', status: 'False', reason, message },
        running: notRunning,
      }, f.nowIso),
    });
    if (source.kind === 'blocked') return waiting(source.phase, source.reason, source.message);
    if (source.kind === 'clone') {
      // CDI creates a clone's claim only once its source exists and is populated; the DataVolume
      // is re-queued by the source claim's events.
      if (!f.sourceClaim) return waiting('CloneScheduled', 'CloneWithoutSource', `The source pvc ${source.name} doesn't exist`);
      if (f.sourceClaim.status?.phase !== 'Bound') {
        return waiting('CloneScheduled', 'CloneScheduled', `Cloning from ${source.namespace}/${source.name} into ${namespace}/${name} scheduled`);
      }
    }
    // CDI's renderPvcSpec refuses a claim it cannot complete: ErrClaimNotValid, phase unset.
    if (f.claimError !== undefined) return waiting('', 'ErrClaimNotValid', f.claimError);
    // CDI creates the claim; until the transfer pod is scheduled the DataVolume is Pending.
    return {
      status: render(dv, { phase: 'Pending', progress: 'N/A', claimName: name, bound: boundCondition(name, 'Pending'), ready: notReady, running: notRunning }, f.nowIso),
      createClaim: true,
    };
  }

  const kind = claimTransferKind(claim);
  const plan = kind === 'clone'
    ? { total: f.timing.cloneMs, scheduled: 'CloneScheduled', inProgress: 'CloneInProgress', complete: 'Clone Complete' }
    : kind === 'blank'
      ? { total: Math.min(BLANK_SIM_MS, f.timing.importMs), scheduled: 'ImportScheduled', inProgress: undefined, complete: 'Import Complete' }
      : { total: f.timing.importMs, scheduled: 'ImportScheduled', inProgress: 'ImportInProgress', complete: 'Import Complete' };
  const total = Math.max(0, plan.total);
  const scheduledFor = plan.inProgress ? total * SCHEDULED_FRACTION : total;
  const started = transferStart(claim) ?? f.now;
  const elapsed = Math.max(0, (f.now - started) * f.speed);
  const claimPhase = claim.status?.phase ?? 'Pending';

  if (current.phase !== 'Succeeded') {
    if (elapsed < scheduledFor) {
      // The importer or cloner pod is scheduled but moves no data yet.
      return {
        status: render(dv, { phase: plan.scheduled, progress: 'N/A', claimName: name, bound: boundCondition(name, claimPhase), ready: notReady, running: notRunning }, f.nowIso),
        wakeInMs: realMs(scheduledFor - elapsed, f.speed),
      };
    }
    if (kind === 'import' && f.importError !== undefined) {
      // The importer pod exits with an error: CDI copies its termination message into the
      // Running condition (reason "Error") and counts the pod's restart.
      return {
        status: render(dv, {
          phase: 'Failed',
          progress: current.progress ?? 'N/A',
          restartCount: (current.restartCount ?? 0) + 1,
          claimName: name,
          bound: boundCondition(name, claimPhase),
          ready: notReady,
          running: { type: 'Running', status: 'False', reason: 'Error', message: f.importError },
        }, f.nowIso),
      };
    }
    if (kind === 'import' && f.live) {
      const step = liveImportStep(f, f.live, { name, claimPhase });
      if (step) return step;
    } else if (plan.inProgress && elapsed < total) {
      // Data moves: progress advances evenly; CDI's Ready says TransferRunning meanwhile.
      const fraction = (elapsed - scheduledFor) / (total - scheduledFor);
      return {
        status: render(dv, {
          phase: plan.inProgress,
          progress: formatProgress(fraction),
          claimName: name,
          bound: boundCondition(name, claimPhase),
          ready: { type: 'Ready', status: 'False', reason: 'TransferRunning' },
          running: { type: 'Running', status: 'True', reason: 'Pod is running' },
        }, f.nowIso),
        wakeInMs: realMs(Math.min(total - elapsed, PROGRESS_INTERVAL_SIM_MS), f.speed),
      };
    }
  }

  // Done: the populated claim binds, and the DataVolume is Succeeded at "100.0%".
  return {
    status: render(dv, {
      phase: 'Succeeded',
      progress: '100.0%',
      claimName: name,
      bound: boundCondition(name, 'Bound'),
      ready: { type: 'Ready', status: 'True' },
      running: { type: 'Running', status: 'False', reason: 'Completed', message: plan.complete },
    }, f.nowIso),
    ...(claimPhase !== 'Bound' ? { bindClaim: true } : {}),
  };
}

/**
 * An import that really reads its source. The importer pod's container restarts after each
 * failed attempt (restartPolicy OnFailure), so the pod stays Running and the DataVolume
 * ImportInProgress while the restart count grows, with the importer's termination message in
 * the Running condition; kubelet backs each restart off. A checksum mismatch is CDI's one fatal
 * import error: the importer exits 0 with the mismatch, CDI marks the claim fatal, creates no
 * new pod, and the DataVolume is Failed without a restart. Undefined when the data is in and
 * verified: the caller goes on to Succeeded.
 */
function liveImportStep(f: DataVolumeFacts, live: NonNullable<DataVolumeFacts['live']>, at: { name: string; claimPhase: string }): DataVolumeStep | undefined {
  const { dv } = f;
  const current = (dv.status ?? {}) as DataVolumeStatus;
  const bound = boundCondition(at.name, at.claimPhase);
  const progressInterval = realMs(PROGRESS_INTERVAL_SIM_MS, f.speed);
  const reading = (attempt: number, bytesRead: number, totalBytes: number | undefined, start: boolean): DataVolumeStep => {
    const fraction = downloadFraction(bytesRead, totalBytes);
    return {
      status: render(dv, {
        phase: 'ImportInProgress',
        progress: fraction === undefined ? 'N/A' : formatProgress(fraction),
        ...(attempt > 1 ? { restartCount: attempt - 1 } : {}),
        claimName: at.name,
        bound,
        ready: { type: 'Ready', status: 'False', reason: 'TransferRunning' },
        running: { type: 'Running', status: 'True', reason: 'Pod is running' },
      }, f.nowIso),
      wakeInMs: progressInterval,
      ...(start ? { startDownload: { attempt } } : {}),
    };
  };

  const d = live.download;
  // No download yet (or the simulator restarted): the next attempt follows the restarts so far.
  if (!d) return reading((current.restartCount ?? 0) + 1, 0, undefined, true);
  switch (d.phase) {
    case 'reading':
      return reading(d.attempt, d.bytesRead, d.totalBytes, false);
    case 'waiting':
      // The pod waits for what it mounts; CDI shows the container's waiting reason and message.
      return {
        status: render(dv, { phase: 'ImportScheduled', progress: 'N/A', claimName: at.name, bound, ready: notReady, running: { type: 'Running', status: 'False', reason: d.reason, message: d.message } }, f.nowIso),
        wakeInMs: progressInterval,
        startDownload: { attempt: d.attempt },
      };
    case 'failed': {
      const waitedSimMs = Math.max(0, (f.now - d.endedAt) * f.speed);
      const backoff = crashLoopBackoffMs(d.attempt);
      if (waitedSimMs >= backoff) return reading(d.attempt + 1, 0, undefined, true);
      return {
        status: render(dv, {
          phase: 'ImportInProgress',
          progress: current.progress ?? 'N/A',
          restartCount: d.attempt,
          claimName: at.name,
          bound,
          ready: notReady,
          running: { type: 'Running', status: 'False', reason: 'Error', message: d.message },
        }, f.nowIso),
        wakeInMs: realMs(backoff - waitedSimMs, f.speed),
      };
    }
    case 'done': {
      const sum = live.checksum;
      if (sum?.ok && d.digest !== sum.hex) {
        return {
          status: render(dv, {
            phase: 'Failed',
            progress: current.progress ?? 'N/A',
            claimName: at.name,
            bound,
            ready: notReady,
            running: { type: 'Running', status: 'False', reason: CHECKSUM_ERROR_REASON, message: checksumMismatchMessage(sum.algorithm, sum.hex, d.digest ?? '') },
          }, f.nowIso),
        };
      }
      return undefined;
    }
  }
}
