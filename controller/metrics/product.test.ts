import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { VMFleet } from '../api/objects.ts';
import { fleetConditions, fleetDrift, fleetReplicas, imagePolls, migrationsFinished, migrationsInFlight, rolloutProgress, type MigrationLike } from './product.ts';

const count = fc.nat({ max: 50 });
const fleetArb: fc.Arbitrary<VMFleet> = fc.record({
  name: fc.string({ minLength: 1, maxLength: 8 }),
  replicas: fc.option(count, { nil: undefined }),
  ready: count,
  updated: count,
  placement: count,
}).map((f) => ({
  metadata: { namespace: 'ns', name: f.name },
  spec: { ...(f.replicas !== undefined ? { replicas: f.replicas } : {}) } as VMFleet['spec'],
  status: { readyReplicas: f.ready, updatedReplicas: f.updated, driftedReplicasByKind: { placement: f.placement } },
}));
const migrationArb: fc.Arbitrary<MigrationLike> = fc.record({
  fleet: fc.boolean(),
  phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed', undefined),
  reason: fc.constantFrom('placement', 'imbalance', undefined),
}).map((m) => ({
  metadata: { labels: { ...(m.fleet ? { 'virtfleet.io/fleet': 'web' } : {}), ...(m.reason ? { 'virtfleet.io/drift': m.reason } : {}) } },
  status: m.phase ? { phase: m.phase } : {},
}));
const total = (samples: { value: number }[]) => samples.reduce((t, s) => t + s.value, 0);

describe('product gauges', () => {
  it('every fleet has one sample per state and per drift kind, desired defaulting to 1', () => {
    fc.assert(fc.property(fc.array(fleetArb, { maxLength: 10 }), (fleets) => {
      expect(fleetReplicas(fleets)).toHaveLength(fleets.length * 4);
      expect(fleetDrift(fleets)).toHaveLength(fleets.length * 6);
      expect(total(fleetReplicas(fleets).filter((s) => s.labels.state === 'desired'))).toBe(fleets.reduce((t, f) => t + (f.spec.replicas ?? 1), 0));
    }));
  });

  it('rollout progress stays within 0..1', () => {
    fc.assert(fc.property(fc.array(fleetArb, { maxLength: 10 }), (fleets) => {
      for (const s of rolloutProgress(fleets)) expect(s.value >= 0 && s.value <= 1).toBe(true);
    }));
  });

  it('each fleet migration is counted once, in flight or finished', () => {
    fc.assert(fc.property(fc.array(migrationArb, { maxLength: 30 }), (migrations) => {
      const ours = migrations.filter((m) => m.metadata?.labels?.['virtfleet.io/fleet']);
      expect(total(migrationsInFlight(migrations)) + total(migrationsFinished(migrations))).toBe(ours.length);
      const failed = ours.filter((m) => m.status?.phase === 'Failed').length;
      expect(total(migrationsFinished(migrations).filter((s) => s.labels.result === 'failure'))).toBe(failed);
    }));
  });
});

describe('fleetConditions and imagePolls', () => {
  it('one sample per fleet condition, with its type, status and reason', () => {
    const fleet = { metadata: { namespace: 'ns', name: 'web' }, spec: {} as VMFleet['spec'], status: { conditions: [{ type: 'Stalled', status: 'True' as const, reason: 'RolloutHalted', message: 'm', lastTransitionTime: 't' }] } };
    expect(fleetConditions([fleet])).toEqual([{ labels: { namespace: 'ns', fleet: 'web', type: 'Stalled', status: 'True', reason: 'RolloutHalted' }, value: 1 }]);
  });
  it('an image whose source fails for now (Reconciling) or for good (Stalled) is an error, with the reason', () => {
    const image = (type: string, reason: string) => ({ metadata: { namespace: 'ns', name: 'fedora' }, spec: { source: {} }, status: { conditions: [{ type, status: 'True' as const, reason, message: '', lastTransitionTime: 't' }] } });
    expect(imagePolls([image('Reconciling', 'SourceUnreachable')])[0]!.labels).toEqual({ namespace: 'ns', image: 'fedora', result: 'error', reason: 'SourceUnreachable' });
    expect(imagePolls([image('Stalled', 'Unauthorized')])[0]!.labels).toMatchObject({ result: 'error', reason: 'Unauthorized' });
    expect(imagePolls([image('Reconciling', 'Importing')])[0]!.labels).toMatchObject({ result: 'success', reason: '' });
  });
});
