// Invariant 4 over random pre-existing objects: whatever VMs others hold under a fleet's names,
// and whatever the fleet's own VMs and rollout state, no planned action names an object the fleet
// does not own, and new VMs take exactly the lowest names that are free.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { indexesHeldByOthers, lowestFreeIndexes, vmName } from './names.ts';
import { planRollout, rolloutLimits, type ObservedVM, type RolloutSpec } from './rollout.ts';

const NEW = 'new';

const observed = fc.record({
  revision: fc.constantFrom(NEW, 'old'),
  ready: fc.boolean(),
  deleting: fc.boolean(),
  failed: fc.boolean(),
  drifted: fc.boolean(),
});

const world = fc.record({
  replicas: fc.integer({ min: 0, max: 12 }),
  maxSurge: fc.integer({ min: 0, max: 3 }),
  maxUnavailable: fc.integer({ min: 0, max: 3 }),
  partition: fc.integer({ min: 0, max: 4 }),
  strategy: fc.constantFrom<RolloutSpec['strategy']>('RollingUpdate', 'OnDelete'),
  // Index → who holds the name: the fleet (with its VM's state), someone else, or nobody.
  names: fc.array(fc.oneof(fc.constant('free' as const), fc.constant('other' as const), observed), { maxLength: 24 }),
});

describe('ownership (invariant 4)', () => {
  it('never plans an action on a name held by an object the fleet does not own', () => {
    fc.assert(
      fc.property(world, (w) => {
        const others = new Set<string>();
        const vms: ObservedVM[] = [];
        w.names.forEach((held, index) => {
          const name = vmName('web', index);
          if (held === 'other') others.add(name);
          else if (held !== 'free') {
            vms.push({
              name, index, createdAt: index, ready: held.ready, readySince: 0, deleting: held.deleting, restarting: false, restartPending: false,
              startFailureCount: held.failed ? 3 : 0, failed: held.failed, drifted: held.drifted, revision: held.revision,
              change: held.revision === NEW ? 'none' : 'restartRequired',
            });
          }
        });
        const spec: RolloutSpec = {
          replicas: w.replicas, strategy: w.strategy, maxUnavailable: w.maxUnavailable, maxSurge: w.maxSurge, partition: w.partition,
          pauseOnFailure: true, paused: false, minReadySeconds: 0, scaleDownPriorities: ['NotReady', 'OutdatedRevision', 'HighestIndex'],
        };
        const taken = indexesHeldByOthers('web', w.replicas + rolloutLimits(spec).maxSurge, (name) => others.has(name));
        const plan = planRollout({ fleet: 'web', spec, updateRevision: NEW, now: 1_000, vms, taken });

        for (const a of plan.actions) expect(others.has(a.name)).toBe(false);
        const creates = plan.actions.filter((a) => a.type === 'Create').map((a) => (a as { index: number }).index);
        // The lowest names neither the fleet nor anyone else holds, in order.
        const othersIndexes = [...others].map((n) => Number(n.slice('web-'.length)));
        expect(creates).toEqual(lowestFreeIndexes([...vms.map((vm) => vm.index), ...othersIndexes], creates.length));
      }),
      { numRuns: 2000 },
    );
  });

  it('scans only as far as the names the fleet needs', () => {
    const seen: string[] = [];
    const held = indexesHeldByOthers('web', 2, (name) => (seen.push(name), name === 'web-0' || name === 'web-2'));
    expect(held).toEqual([0, 2]);
    expect(seen).toEqual(['web-0', 'web-1', 'web-2', 'web-3']);
  });
});
