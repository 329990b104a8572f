import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import fc from 'fast-check';
import { awaitedRestarts, restartsLapseAt, RESTART_DELETE_UNSEEN_MS, RESTART_EXPECTATION_MS } from './decide.ts';

const vmi = (name: string, uid: string, terminating = false): V1VirtualMachineInstance =>
  ({ metadata: { name, uid, ...(terminating ? { deletionTimestamp: '2026-12-02T00:00:00Z' } : {}) } }) as V1VirtualMachineInstance;

describe('awaitedRestarts', () => {
  const at = 1_000_000;
  const restarts = { 'web-0': { uid: 'old', at } };
  const vms = new Set(['web-0']);

  it('awaits a restart while its old VMI terminates, is gone, or was just deleted', () => {
    expect(awaitedRestarts(restarts, vms, new Map([['web-0', vmi('web-0', 'old', true)]]), at + 60_000)).toEqual(restarts);
    expect(awaitedRestarts(restarts, vms, new Map(), at + 60_000)).toEqual(restarts);
    expect(awaitedRestarts(restarts, vms, new Map([['web-0', vmi('web-0', 'old')]]), at + 1_000)).toEqual(restarts);
  });

  it('stops awaiting one whose old VMI still runs untouched well after the delete (the delete did not happen)', () => {
    expect(awaitedRestarts(restarts, vms, new Map([['web-0', vmi('web-0', 'old')]]), at + RESTART_DELETE_UNSEEN_MS + 1)).toEqual({});
  });

  it('forgets restarts of VMs gone, and every restart after the expectation window', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 * RESTART_EXPECTATION_MS }), fc.boolean(), fc.constantFrom('none', 'old', 'oldTerminating', 'new'), (elapsed, vmExists, shown) => {
      const vmis = new Map(shown === 'none' ? [] : [['web-0', vmi('web-0', shown === 'new' ? 'new' : 'old', shown === 'oldTerminating')] as const]);
      const kept = 'web-0' in awaitedRestarts(restarts, vmExists ? vms : new Set(), vmis, at + elapsed);
      const expected = vmExists && elapsed <= RESTART_EXPECTATION_MS && !(shown === 'old' && elapsed > RESTART_DELETE_UNSEEN_MS);
      expect(kept).toBe(expected);
    }));
  });
});

describe('restartsLapseAt', () => {
  it('is when the first awaited restart would stop counting, so a reconcile comes back then without any event', () => {
    const restarts = { 'web-0': { uid: 'old', at: 1_000 }, 'web-1': { uid: 'gone', at: 500 } };
    const vmis = new Map([['web-0', vmi('web-0', 'old')]]);
    expect(restartsLapseAt(restarts, vmis)).toBe(1_000 + RESTART_DELETE_UNSEEN_MS + 1);
    expect(restartsLapseAt({ 'web-1': restarts['web-1'] }, vmis)).toBe(500 + RESTART_EXPECTATION_MS + 1);
    expect(restartsLapseAt({}, vmis)).toBe(Infinity);
  });

  it('falls after every restart it keeps awaiting, and at a time awaitedRestarts drops one', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 400_000 }), fc.constantFrom('none', 'old', 'oldTerminating', 'new')), { maxLength: 6 }), (entries) => {
      const restarts = Object.fromEntries(entries.map(([i, at]) => [`web-${i}`, { uid: 'old', at }]));
      const vmis = new Map(entries.flatMap(([i, , shown]) => (shown === 'none' ? [] : [[`web-${i}`, vmi(`web-${i}`, shown === 'new' ? 'new' : 'old', shown === 'oldTerminating')] as const])));
      const names = new Set(Object.keys(restarts));
      const lapse = restartsLapseAt(restarts, vmis);
      if (names.size === 0) return expect(lapse).toBe(Infinity);
      expect(Object.keys(awaitedRestarts(restarts, names, vmis, lapse)).length).toBeLessThan(names.size);
      expect(Object.keys(awaitedRestarts(restarts, names, vmis, lapse - 1)).length).toBe(Object.keys(awaitedRestarts(restarts, names, vmis, Math.min(...Object.values(restarts).map((r) => r.at)))).length);
    }));
  });
});
