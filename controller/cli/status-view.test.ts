import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { VMFleet } from '../api/objects.ts';
import { fleetRow, progressBar, renderFleets } from './status-view.ts';

const fleet = (status: VMFleet['status'], generation = 2): VMFleet => ({
  metadata: { name: 'web', namespace: 'ci', generation },
  spec: { replicas: 6, selector: { matchLabels: { app: 'web' } }, image: { name: 'fedora', version: 'f42-20261101', volume: 'rootdisk' }, template: { spec: {} } } as unknown as VMFleet['spec'],
  status,
});
const progressing = (reason: string) => ({ type: 'Progressing', status: 'True' as const, reason, message: 'm', lastTransitionTime: '2026-11-02T10:00:00Z' });

describe('status view', () => {
  it('shows the image as it runs and counts drift by kind', () => {
    const row = fleetRow(fleet({ observedGeneration: 2, readyReplicas: 6, updatedReplicas: 2, imageVersion: 'f42-20261101', imageSummary: 'f42-20261101 (2/6)', driftedReplicas: 1, driftedReplicasByKind: { placement: 1, manualEdit: 0 }, conditions: [progressing('NewRevisionAvailable')] }));
    expect(row).toMatchObject({ image: 'f42-20261101 (2/6)', drifted: 1, driftedByKind: { placement: 1 }, busy: false });
    expect(renderFleets([row], false)).toMatch(/web\s+6\s+6\s+2\s+1 \(placement 1\)\s+0\s+f42-20261101 \(2\/6\)\s+True NewRevisionAvailable/);
  });

  it('is busy while a rollout runs or the generation is not observed yet', () => {
    expect(fleetRow(fleet({ observedGeneration: 2, conditions: [progressing('RolloutInProgress')] })).busy).toBe(true);
    expect(fleetRow(fleet({ observedGeneration: 1, conditions: [progressing('NewRevisionAvailable')] })).busy).toBe(true);
  });

  it('draws a bar as full as the share done (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 0, max: 500 }), (total, n) => {
      const done = Math.min(n, total);
      const bar = progressBar(done, total);
      expect(bar).toMatch(/^\[[#-]{20}\] \d+\/\d+$/);
      const filled = bar.split('#').length - 1;
      expect(Math.abs(filled - (done / total) * 20)).toBeLessThanOrEqual(0.5);
      if (done === total) expect(filled).toBe(20);
    }));
  });
});
