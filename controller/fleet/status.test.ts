import { describe, expect, it } from '@jest/globals';
import type { Plan } from '../core/fleet/rollout.ts';
import fc from 'fast-check';
import { fleetStatus, heldBack, imageVersionCounts, selectorString, statusDiffers } from './status.ts';

const plan = (over: Partial<Plan> = {}): Plan => ({
  actions: [], status: { replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3, currentRevision: 'r1', updateRevision: 'r1' },
  paused: false, failing: [], complete: true, blocked: [], ...over,
});
const base = { generation: 4, replicas: 3, maxUnavailable: 1, selector: { b: '2', a: '1' }, acting: false, previous: undefined, now: '2026-01-01T00:00:00Z' };
const cond = (s: ReturnType<typeof fleetStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('fleetStatus', () => {
  it('reports a converged fleet', () => {
    const s = fleetStatus({ ...base, plan: plan(), imageVersion: 'v1' });
    expect(s).toMatchObject({ observedGeneration: 4, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: 'r1', imageVersion: 'v1', labelSelector: 'a=1,b=2' });
    expect(s.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Ready=True/AllReplicasReady', 'Available=True/MinimumReplicasAvailable', 'Progressing=True/NewRevisionAvailable', 'Reconciling=False/Reconciled', 'Stalled=False/AsExpected']);
    expect(s.conditions!.every((c) => c.observedGeneration === 4)).toBe(true);
  });

  it('reports rollouts in progress, halted and paused', () => {
    const rolling = fleetStatus({ ...base, plan: plan({ complete: false, status: { ...plan().status, updatedReplicas: 1, updateRevision: 'r2' } }), acting: true });
    expect(cond(rolling, 'Progressing')).toMatchObject({ status: 'True', reason: 'RolloutInProgress', message: '1/3 VMs at revision r2' });
    expect(cond(rolling, 'Reconciling').status).toBe('True');
    const halted = fleetStatus({ ...base, plan: plan({ complete: false, halted: { reason: 'NewRevisionFailing', message: 'web-2 failed' } }) });
    expect([cond(halted, 'Stalled').reason, cond(halted, 'Progressing').status]).toEqual(['RolloutHalted', 'False']);
    const paused = fleetStatus({ ...base, plan: plan({ complete: false, paused: true }) });
    expect(cond(paused, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'RolloutPaused' });
  });

  it('reports Stalled input and keeps the counts it knew', () => {
    const before = fleetStatus({ ...base, plan: plan() });
    const s = fleetStatus({ ...base, previous: before, stalled: { reason: 'ImageNotFound', message: 'GoldenImage ns/x does not exist' } });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'ImageNotFound' });
    expect(s.readyReplicas).toBe(3);
  });

  it('moves lastTransitionTime only when a condition changes status, so a converged fleet writes nothing', () => {
    const first = fleetStatus({ ...base, plan: plan() });
    const again = fleetStatus({ ...base, plan: plan(), previous: first, now: '2026-01-01T01:00:00Z' });
    expect(statusDiffers(first, again)).toBe(false);
    const degraded = fleetStatus({ ...base, plan: plan({ status: { ...plan().status, readyReplicas: 2 } }), previous: first, now: '2026-01-01T01:00:00Z' });
    expect(statusDiffers(first, degraded)).toBe(true);
    expect(cond(degraded, 'Ready').lastTransitionTime).toBe('2026-01-01T01:00:00Z');
    expect(cond(degraded, 'Available').lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('formats selectors as kubectl does', () => {
    expect(selectorString({ app: 'web', tier: 'front' })).toBe('app=web,tier=front');
  });

  it('says which VMs a partition holds back and what the VMs boot, never "every VM" then', () => {
    const six = { ...base, replicas: 6 };
    const counts = { replicas: 6, readyReplicas: 6, availableReplicas: 6, updatedReplicas: 2, currentRevision: 'old', updateRevision: 'new' };
    const vms = [0, 1, 2, 3, 4, 5].map((i) => ({ name: `web-${i}`, revision: i >= 4 ? 'new' : 'old' }));
    const held = heldBack(vms, 'new', { strategy: 'RollingUpdate', paused: false, partition: 4 })!;
    expect(held).toEqual({ vms: ['web-0', 'web-1', 'web-2', 'web-3'], revisions: ['old'], why: 'partition 4: VMs with an index below it keep their revision' });
    const runs = Object.fromEntries(vms.map((vm) => [vm.name, vm.revision === 'new' ? 'f42-20261101' : 'f42-20261001']));
    const s = fleetStatus({ ...six, plan: plan({ status: counts }), imageVersion: 'f42-20261101', runs, held });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewRevisionAvailable', message: '2/6 VMs run revision new; web-0, web-1, web-2, web-3 wait at revision old (partition 4: VMs with an index below it keep their revision)' });
    expect([s.imageVersion, s.imageSummary]).toEqual(['f42-20261101', 'f42-20261101 (2/6)']);
    expect(s.imageVersions).toEqual([{ version: 'f42-20261101', replicas: 2 }, { version: 'f42-20261001', replicas: 4 }]);
    const all = fleetStatus({ ...six, plan: plan({ status: { ...counts, updatedReplicas: 6 } }), imageVersion: 'f42-20261101', runs: Object.fromEntries(vms.map((vm) => [vm.name, 'f42-20261101'])) });
    expect([all.imageSummary, cond(all, 'Progressing').message]).toEqual(['f42-20261101', 'every VM runs revision new']);
  });

  it('counts every VM once in imageVersions, the target first (property)', () => {
    fc.assert(fc.property(fc.dictionary(fc.stringMatching(/^web-[0-9]{1,2}$/), fc.constantFrom('v1', 'v2', 'v3')), fc.constantFrom('v1', 'v2', 'v3'), (runs, target) => {
      const counts = imageVersionCounts(runs, target);
      expect(counts.reduce((n, c) => n + c.replicas, 0)).toBe(Object.keys(runs).length);
      if (Object.values(runs).includes(target)) expect(counts[0]!.version).toBe(target);
    }));
  });
});
