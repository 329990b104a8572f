import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataVolume } from '../world.ts';
import { claimForDataVolume } from './claim.ts';
import { findCondition, type CdiCondition } from './conditions.ts';
import { mergePatchFor } from '../merge-patch.ts';
import type { DownloadView } from './http-source.ts';
import type { TransferSource } from './source.ts';
import { formatProgress, importFailure, stepDataVolume, type DataVolumeFacts, type DataVolumeStatus } from './transfer.ts';
import { claim, dataVolume, NS } from './test-fixtures.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const timing = { importMs: 10_000, cloneMs: 5_000 };
const HTTP: TransferSource = { kind: 'import', type: 'http', url: 'https://x/f.img' };

/** Runs the controller's steps over simulated time, as the reconciler would, recording each status. */
function simulate(dv: DataVolume, source: TransferSource, opts: { speed?: number; until: number; importError?: string; sourceClaim?: V1PersistentVolumeClaim; every?: number }) {
  const speed = opts.speed ?? 1;
  let current = dv;
  let pvc: V1PersistentVolumeClaim | undefined;
  const seen: DataVolumeStatus[] = [];
  for (let now = T0; now <= T0 + opts.until; now += opts.every ?? 250) {
    const facts: DataVolumeFacts = { dv: current, source, claim: pvc, sourceClaim: opts.sourceClaim, now, nowIso: new Date(now).toISOString(), speed, timing, importError: opts.importError };
    const step = stepDataVolume(facts);
    if (step.createClaim) pvc = claimForDataVolume(current, source, new Date(now).toISOString(), opts.sourceClaim);
    if (step.bindClaim && pvc) pvc = { ...pvc, status: { phase: 'Bound' } };
    if (mergePatchFor(current.status ?? {}, step.status)) {
      current = { ...current, status: step.status as DataVolume['status'] };
      seen.push(step.status);
    }
  }
  return { seen, dv: current, claim: pvc };
}

const phases = (seen: DataVolumeStatus[]) => seen.map((s) => s.phase).filter((p, i, all) => p !== all[i - 1]);
const cond = (s: DataVolumeStatus | DataVolume['status'], type: string) => findCondition(s?.conditions as CdiCondition[] | undefined, type);

describe('formatProgress', () => {
  it('formats like CDI: two decimals while running, "100.0%" when done', () => {
    expect(formatProgress(0)).toBe('0.00%');
    expect(formatProgress(0.4567)).toBe('45.67%');
    expect(formatProgress(0.999999)).toBe('99.99%');
    expect(formatProgress(1)).toBe('100.0%');
    expect(formatProgress(Number.NaN)).toBe('0.00%');
  });

  it('never decreases and never shows 100 before the end', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      expect(parseFloat(formatProgress(lo))).toBeLessThanOrEqual(parseFloat(formatProgress(hi)));
      if (hi < 1) expect(formatProgress(hi)).toMatch(/^\d{1,2}\.\d{2}%$/);
    }));
  });
});

describe('stepDataVolume: import', () => {
  it('goes Pending → ImportScheduled → ImportInProgress → Succeeded over importMs, then binds the claim', () => {
    const { seen, claim: pvc } = simulate(dataVolume('root', { source: { http: { url: 'https://x/f.img' } }, storage: {} }), HTTP, { until: 12_000 });
    expect(phases(seen)).toEqual(['Pending', 'ImportScheduled', 'ImportInProgress', 'Succeeded']);
    const progress = seen.filter((s) => s.phase === 'ImportInProgress').map((s) => parseFloat(s.progress!));
    expect(progress.length).toBeGreaterThan(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(seen[0]).toMatchObject({ phase: 'Pending', progress: 'N/A', claimName: 'root' });
    const done = seen.at(-1)!;
    expect(done).toMatchObject({ phase: 'Succeeded', progress: '100.0%', claimName: 'root' });
    expect(done.restartCount).toBeUndefined();
    expect(cond(done, 'Bound')).toMatchObject({ status: 'True', reason: 'Bound', message: 'PVC root Bound' });
    expect(cond(done, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(done, 'Running')).toMatchObject({ status: 'False', reason: 'Completed', message: 'Import Complete' });
    expect(done.conditions!.map((c) => c.type)).toEqual(['Bound', 'Ready', 'Running']);
    expect(pvc?.status?.phase).toBe('Bound');
  });

  it('reports the transfer running while data moves, with the claim still Pending', () => {
    const { seen } = simulate(dataVolume('root', { source: { http: { url: 'u' } } }), HTTP, { until: 5_000 });
    const running = seen.find((s) => s.phase === 'ImportInProgress')!;
    expect(cond(running, 'Running')).toMatchObject({ status: 'True', reason: 'Pod is running' });
    expect(cond(running, 'Ready')).toMatchObject({ status: 'False', reason: 'TransferRunning' });
    expect(cond(running, 'Bound')).toMatchObject({ status: 'False', reason: 'Pending', message: 'PVC root Pending' });
  });

  it('takes importMs of simulated time whatever the speed', () => {
    for (const speed of [1, 10]) {
      const at = (t: number) => simulate(dataVolume('root', { source: { http: { url: 'u' } } }), HTTP, { speed, until: t / speed, every: 50 / speed }).dv.status?.phase;
      expect(at(9_500)).toBe('ImportInProgress');
      expect(at(10_500)).toBe('Succeeded');
    }
  });

  it('fails with the importer’s error, counts one restart, and stays Failed', () => {
    const err = importFailure(HTTP, ['f.img'], false)!;
    expect(err).toMatch(/^Unable to connect to http data source/);
    const { seen, claim: pvc } = simulate(dataVolume('root', { source: { http: { url: 'https://x/f.img' } } }), HTTP, { until: 30_000, importError: err });
    expect(phases(seen)).toEqual(['Pending', 'ImportScheduled', 'Failed']);
    const failed = seen.at(-1)!;
    expect(failed.restartCount).toBe(1);
    expect(cond(failed, 'Running')).toMatchObject({ status: 'False', reason: 'Error', message: err });
    expect(cond(failed, 'Ready')).toMatchObject({ status: 'False' });
    expect(pvc?.status?.phase).toBeUndefined();
  });

  it('blank images need no transfer: ImportScheduled, then Succeeded', () => {
    const { seen } = simulate(dataVolume('scratch', { source: { blank: {} } }), { kind: 'import', type: 'blank' }, { until: 2_000 });
    expect(phases(seen)).toEqual(['Pending', 'ImportScheduled', 'Succeeded']);
  });

  it('writes nothing when nothing is due', () => {
    const { dv } = simulate(dataVolume('root', { source: { http: { url: 'u' } } }), HTTP, { until: 12_000 });
    const pvc = { ...claim('root', { owner: 'root', phase: 'Bound' }) };
    const again = stepDataVolume({ dv, source: HTTP, claim: pvc, now: T0 + 60_000, nowIso: new Date(T0 + 60_000).toISOString(), speed: 1, timing });
    expect(mergePatchFor(dv.status ?? {}, again.status)).toBeUndefined();
    expect(again.bindClaim).toBeUndefined();
    expect(again.wakeInMs).toBeUndefined();
  });

  it('asks to be woken for the next transition', () => {
    const dv = dataVolume('root', { source: { http: { url: 'u' } } });
    const pvc = claimForDataVolume(dv, HTTP, new Date(T0).toISOString());
    const step = stepDataVolume({ dv, source: HTTP, claim: pvc, now: T0 + 100, nowIso: '', speed: 2, timing });
    expect(step.status.phase).toBe('ImportScheduled');
    expect(step.wakeInMs).toBe(400); // 10% of 10 s is 1000 sim ms, 200 have passed, at 2x
  });
});

describe('importFailure', () => {
  it('fails URL imports that match failingURLs or the injected chance, never blank ones', () => {
    expect(importFailure(HTTP, ['other'], false)).toBeUndefined();
    expect(importFailure(HTTP, [''], false)).toBeUndefined();
    expect(importFailure(HTTP, [], true)).toBeDefined();
    expect(importFailure({ kind: 'import', type: 'registry', url: 'docker://r/i:1' }, ['r/i'], false)).toMatch(/registry image/);
    expect(importFailure({ kind: 'import', type: 'blank' }, [], true)).toBeUndefined();
    expect(importFailure({ kind: 'clone', namespace: NS, name: 'x' }, [], true)).toBeUndefined();
  });
});

describe('stepDataVolume: clone', () => {
  const CLONE: TransferSource = { kind: 'clone', namespace: 'images', name: 'golden' };
  const dv = () => dataVolume('copy', { source: { pvc: { namespace: 'images', name: 'golden' } } });

  it('waits in CloneScheduled without a claim while the source does not exist, saying why', () => {
    const step = stepDataVolume({ dv: dv(), source: CLONE, now: T0, nowIso: 'now', speed: 1, timing });
    expect(step.createClaim).toBeUndefined();
    expect(step.status.phase).toBe('CloneScheduled');
    expect(step.status.claimName).toBeUndefined();
    expect(cond(step.status, 'Bound')).toMatchObject({ status: 'False', reason: 'CloneWithoutSource', message: "The source pvc golden doesn't exist" });
    expect(cond(step.status, 'Ready')).toMatchObject({ status: 'False', reason: 'CloneWithoutSource' });
  });

  it('waits for an unbound source, then clones over cloneMs', () => {
    const pending = claim('golden', { namespace: 'images', phase: 'Pending' });
    const waiting = stepDataVolume({ dv: dv(), source: CLONE, sourceClaim: pending, now: T0, nowIso: 'now', speed: 1, timing });
    expect(waiting.status.phase).toBe('CloneScheduled');
    expect(cond(waiting.status, 'Bound')).toMatchObject({ reason: 'CloneScheduled', message: `Cloning from images/golden into ${NS}/copy scheduled` });

    const { seen } = simulate(dv(), CLONE, { until: 6_000, sourceClaim: claim('golden', { namespace: 'images', phase: 'Bound' }) });
    expect(phases(seen)).toEqual(['Pending', 'CloneScheduled', 'CloneInProgress', 'Succeeded']);
    expect(cond(seen.at(-1)!, 'Running')).toMatchObject({ reason: 'Completed', message: 'Clone Complete' });
  });

  it('stays Pending with the DataSource’s problem when sourceRef cannot be resolved', () => {
    const step = stepDataVolume({ dv: dv(), source: { kind: 'blocked', phase: 'Pending', reason: 'NotFound', message: 'DataSource ns/x not found' }, now: T0, nowIso: 'now', speed: 1, timing });
    expect(step.status.phase).toBe('Pending');
    expect(cond(step.status, 'Bound')).toMatchObject({ status: 'False', reason: 'NotFound', message: 'DataSource ns/x not found' });
  });
});

describe('stepDataVolume: invalid claim', () => {
  it('creates no claim it cannot complete and reports ErrClaimNotValid with the phase unset', () => {
    const step = stepDataVolume({ dv: dataVolume('a', { source: { blank: {} } }), source: { kind: 'import', type: 'blank' }, now: T0, nowIso: 'now', speed: 1, timing, claimError: 'no size' });
    expect(step.createClaim).toBeUndefined();
    expect(step.status.phase).toBe('');
    expect(cond(step.status, 'Bound')).toMatchObject({ status: 'False', reason: 'ErrClaimNotValid', message: 'no size' });
  });
});

describe('stepDataVolume: stickiness', () => {
  it('a Succeeded DataVolume stays Succeeded and re-binds its claim if needed', () => {
    const dv = dataVolume('root', {}, { status: { phase: 'Succeeded', progress: '100.0%' } });
    const pvc = claim('root', { owner: 'root', phase: 'Pending' });
    const step = stepDataVolume({ dv, source: HTTP, claim: pvc, now: T0, nowIso: 'now', speed: 1, timing });
    expect(step.status.phase).toBe('Succeeded');
    expect(step.bindClaim).toBe(true);
  });

  it('a Failed DataVolume is left as it is', () => {
    const dv = dataVolume('root', {}, { status: { phase: 'Failed', restartCount: 1 } });
    expect(stepDataVolume({ dv, source: HTTP, now: T0, nowIso: 'now', speed: 1, timing })).toEqual({ status: dv.status });
  });
});

describe('stepDataVolume: a loopback http import read for real', () => {
  const SHA = 'ab'.repeat(32);
  const checksum = { ok: true as const, algorithm: 'sha256' as const, hex: SHA };
  const dv = (status?: DataVolume['status']) => dataVolume('root', { source: { http: { url: 'http://127.0.0.1:1/f.img', checksum: `sha256:${SHA}` } } }, status ? { status } : {});
  const pvc = claimForDataVolume(dv(), HTTP, new Date(T0).toISOString());
  const after = 2_000; // past the scheduled share of importMs
  const step = (d: DataVolume, download?: DownloadView, now = T0 + after, speed = 1) =>
    stepDataVolume({ dv: d, source: HTTP, claim: pvc, now, nowIso: new Date(now).toISOString(), speed, timing, live: { checksum, ...(download ? { download } : {}) } });

  it('waits out ImportScheduled in simulated time, then asks for the first attempt', () => {
    expect(step(dv(), undefined, T0 + 100)).toMatchObject({ status: { phase: 'ImportScheduled' } });
    const first = step(dv());
    expect(first.startDownload).toEqual({ attempt: 1 });
    expect(first.status).toMatchObject({ phase: 'ImportInProgress', progress: 'N/A' });
  });

  it('reports progress from the bytes read against Content-Length while ImportInProgress', () => {
    const s = step(dv(), { phase: 'reading', attempt: 1, bytesRead: 452, totalBytes: 1_000 });
    expect(s.status).toMatchObject({ phase: 'ImportInProgress', progress: '45.20%' });
    expect(s.startDownload).toBeUndefined();
    expect(cond(s.status, 'Running')).toMatchObject({ status: 'True', reason: 'Pod is running' });
    expect(s.wakeInMs).toBeGreaterThan(0);
    expect(step(dv(), { phase: 'reading', attempt: 1, bytesRead: 1_000, totalBytes: 1_000 }).status.progress).toBe('99.99%');
    expect(step(dv(), { phase: 'reading', attempt: 1, bytesRead: 5 }).status.progress).toBe('N/A');
  });

  it('succeeds and binds the claim when the bytes hash to the checksum', () => {
    const s = step(dv(), { phase: 'done', attempt: 1, bytesRead: 9, digest: SHA });
    expect(s.status).toMatchObject({ phase: 'Succeeded', progress: '100.0%' });
    expect(s.bindClaim).toBe(true);
  });

  it('fails for good on a mismatch, with CDI’s ChecksumError and no restart', () => {
    const wrong = 'cd'.repeat(32);
    const s = step(dv({ phase: 'ImportInProgress', progress: '99.99%' }), { phase: 'done', attempt: 1, bytesRead: 9, digest: wrong });
    expect(s.status.phase).toBe('Failed');
    expect(s.status.restartCount).toBeUndefined();
    expect(s.startDownload).toBeUndefined();
    expect(cond(s.status, 'Running')).toMatchObject({
      status: 'False',
      reason: 'ChecksumError',
      message: `Unable to process data: Unable to transfer source data to scratch space: checksum validation failed: checksum mismatch: expected sha256:${SHA}, calculated sha256:${wrong}`,
    });
    const failed = dataVolume('root', {}, { status: s.status as DataVolume['status'] });
    expect(step(failed, { phase: 'done', attempt: 1, bytesRead: 9, digest: wrong })).toEqual({ status: failed.status });
  });

  it('restarts a failed attempt after kubelet’s back-off, counting restarts, still ImportInProgress', () => {
    const message = 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found';
    const endedAt = T0 + after;
    const failed = (attempt: number, now: number, speed = 1) => step(dv(), { phase: 'failed', attempt, message, endedAt }, now, speed);
    const waiting = failed(1, endedAt + 4_000);
    expect(waiting.status).toMatchObject({ phase: 'ImportInProgress', restartCount: 1 });
    expect(cond(waiting.status, 'Running')).toMatchObject({ status: 'False', reason: 'Error', message });
    expect(waiting.startDownload).toBeUndefined();
    expect(waiting.wakeInMs).toBe(6_000);
    expect(failed(1, endedAt + 10_000).startDownload).toEqual({ attempt: 2 });
    expect(failed(2, endedAt + 10_000).startDownload).toBeUndefined(); // 20 s after the second failure
    expect(failed(2, endedAt + 2_000, 10).startDownload).toEqual({ attempt: 3 }); // simulated time at 10x
    expect(step(dv(), { phase: 'reading', attempt: 3, bytesRead: 0 }).status.restartCount).toBe(2);
  });

  it('the back-off never shrinks and a restart always follows it', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 400_000 }), (attempt, waited) => {
      const s = step(dv(), { phase: 'failed', attempt, message: 'm', endedAt: T0 + after }, T0 + after + waited);
      if (s.startDownload) expect(s.startDownload.attempt).toBe(attempt + 1);
      else expect(waited + s.wakeInMs!).toBeGreaterThanOrEqual(Math.min(300_000, 10_000 * 2 ** (attempt - 1)));
    }));
  });

  it('shows a pod that cannot start in ImportScheduled with the kubelet’s reason, and tries again', () => {
    const s = step(dv(), { phase: 'waiting', attempt: 1, reason: 'CreateContainerConfigError', message: 'secret "creds" not found' });
    expect(s.status.phase).toBe('ImportScheduled');
    expect(cond(s.status, 'Running')).toMatchObject({ status: 'False', reason: 'CreateContainerConfigError', message: 'secret "creds" not found' });
    expect(s.startDownload).toEqual({ attempt: 1 });
  });
});
