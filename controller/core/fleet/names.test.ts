import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { childLabels, isArgoCdTrackingKey, lowestFreeIndexes, parseVmIndex, vmName, withoutArgoCdTracking } from './names.ts';

describe('vmName / parseVmIndex', () => {
  it('names VMs <fleet>-<index>', () => {
    expect(vmName('web', 0)).toBe('web-0');
    expect(vmName('web', 12)).toBe('web-12');
    expect(() => vmName('web', -1)).toThrow(RangeError);
    expect(() => vmName('web', 1.5)).toThrow(RangeError);
  });
  it('parses only canonical names of the fleet', () => {
    expect(parseVmIndex('web', 'web-3')).toBe(3);
    expect(parseVmIndex('web', 'web-0')).toBe(0);
    expect(parseVmIndex('web', 'web-03')).toBeUndefined();
    expect(parseVmIndex('web', 'web-')).toBeUndefined();
    expect(parseVmIndex('web', 'web-x')).toBeUndefined();
    expect(parseVmIndex('web', 'webx-1')).toBeUndefined();
    expect(parseVmIndex('web', 'other-1')).toBeUndefined();
    expect(parseVmIndex('web', 'web--1')).toBeUndefined();
  });
  it('a fleet whose name extends another fleet name with a dash is told apart only by its index part', () => {
    expect(parseVmIndex('web', 'web-a-1')).toBeUndefined();
    expect(parseVmIndex('web-a', 'web-a-1')).toBe(1);
  });
  it('round-trips (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/), fc.nat({ max: 1e9 }), (fleet, index) => {
        expect(parseVmIndex(fleet, vmName(fleet, index))).toBe(index);
      }),
    );
  });
});

describe('lowestFreeIndexes', () => {
  it('fills holes first, ascending', () => {
    expect(lowestFreeIndexes([0, 2, 3], 3)).toEqual([1, 4, 5]);
    expect(lowestFreeIndexes([], 2)).toEqual([0, 1]);
    expect(lowestFreeIndexes([5], 0)).toEqual([]);
  });
  it('returns distinct indexes never taken, the smallest possible (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat({ max: 30 })), fc.nat({ max: 20 }), (taken, count) => {
        const free = lowestFreeIndexes(taken, count);
        expect(free).toHaveLength(count);
        expect(new Set(free).size).toBe(count);
        for (const i of free) expect(taken).not.toContain(i);
        const max = Math.max(-1, ...free);
        for (let i = 0; i < max; i++) expect(taken.includes(i) || free.includes(i)).toBe(true);
      }),
    );
  });
});

describe('labels', () => {
  it('childLabels carries fleet, revision and index', () => {
    expect(childLabels('web', 4, 'abc')).toEqual({ 'virtfleet.io/fleet': 'web', 'virtfleet.io/revision': 'abc', 'virtfleet.io/index': '4' });
  });
  it('drops Argo CD tracking keys only', () => {
    expect(isArgoCdTrackingKey('app.kubernetes.io/instance')).toBe(true);
    expect(isArgoCdTrackingKey('argocd.argoproj.io/tracking-id')).toBe(true);
    expect(isArgoCdTrackingKey('argocd.argoproj.io/sync-options')).toBe(true);
    expect(isArgoCdTrackingKey('app.kubernetes.io/name')).toBe(false);
    expect(withoutArgoCdTracking({ 'app.kubernetes.io/instance': 'x', 'argocd.argoproj.io/tracking-id': 'y', app: 'web' })).toEqual({ app: 'web' });
    expect(withoutArgoCdTracking(undefined)).toBeUndefined();
  });
});
