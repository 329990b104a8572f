import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { autohealSpecOf, planAutohealing, type AutohealSpec } from './autoheal.ts';
import type { ObservedVM } from './rollout.ts';

const NOW = 10_000_000;
const MIN = 60_000;
const spec: AutohealSpec = { enabled: true, startupFailureThreshold: 3, minFailingToStartMs: 5 * MIN, nodeLostTimeoutMs: 5 * MIN };
function vm(index: number, over: Partial<ObservedVM> = {}): ObservedVM {
  return { name: `web-${index}`, index, revision: 'new', createdAt: 0, ready: true, deleting: false, restarting: false, restartPending: false, startFailureCount: 0, failed: false, drifted: false, change: 'none', ...over };
}
const heal = (vms: ObservedVM[], over: { pauseOnFailure?: boolean; spec?: Partial<AutohealSpec> } = {}) =>
  planAutohealing({ spec: { ...spec, ...over.spec }, updateRevision: 'new', pauseOnFailure: over.pauseOnFailure ?? true, now: NOW, vms });

describe('planAutohealing', () => {
  it('replaces a VM whose node has been lost for the timeout, and says when to look again otherwise', () => {
    const p = heal([vm(0, { nodeLostSince: NOW - 6 * MIN }), vm(1, { nodeLostSince: NOW - 2 * MIN })]);
    expect(p.replace.map((r) => [r.name, r.reason])).toEqual([['web-0', 'NodeLost']]);
    expect(p.nextCheckAt).toBe(NOW + 3 * MIN);
  });

  it('replaces a VM that failed to start past the threshold for long enough', () => {
    const p = heal([
      vm(0, { ready: false, startFailureCount: 3, notReadySince: NOW - 10 * MIN }),
      vm(1, { ready: false, startFailureCount: 2, notReadySince: NOW - 10 * MIN }),
      vm(2, { ready: false, startFailureCount: 4, notReadySince: NOW - MIN }),
    ]);
    expect(p.replace.map((r) => [r.name, r.reason])).toEqual([['web-0', 'StartFailure']]);
    expect(p.nextCheckAt).toBe(NOW + 4 * MIN);
  });

  it('leaves failing new-revision VMs to halt a pauseOnFailure rollout, but heals outdated ones', () => {
    const failing = { ready: false, startFailureCount: 5, notReadySince: NOW - 10 * MIN };
    const vms = [vm(0, failing), vm(1, { revision: 'old', ...failing })];
    expect(heal(vms).replace.map((r) => r.name)).toEqual(['web-1']);
    expect(heal(vms, { pauseOnFailure: false }).replace.map((r) => r.name)).toEqual(['web-0', 'web-1']);
  });

  it('does nothing when disabled or for VMs being deleted', () => {
    const lost = { nodeLostSince: 0 };
    expect(heal([vm(0, lost)], { spec: { enabled: false } }).replace).toEqual([]);
    expect(heal([vm(0, { ...lost, deleting: true })]).replace).toEqual([]);
  });

  it('never replaces a Ready VM on a Ready node', () => {
    fc.assert(fc.property(fc.array(fc.record({ startFailureCount: fc.nat(10), notReadySince: fc.nat(NOW) }), { maxLength: 20 }), (rows) => {
      expect(heal(rows.map((r, i) => vm(i, r))).replace).toEqual([]);
    }));
  });

  it('applies the schema defaults', () => {
    expect(autohealSpecOf({ selector: { matchLabels: {} }, image: { name: 'i', volume: 'v', version: 'x' }, template: { spec: { template: {} } } })).toEqual(spec);
  });
});
