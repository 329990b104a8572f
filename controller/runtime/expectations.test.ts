import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Expectations } from './expectations.ts';

describe('Expectations', () => {
  it('is unsatisfied until every expected create and delete has been observed', () => {
    const e = new Expectations();
    e.expectCreations('ns/f', ['f-0', 'f-1'], 0);
    e.expectDeletions('ns/f', ['f-7'], 0);
    expect(e.satisfied('ns/f', 1)).toBe(false);
    e.creationObserved('ns/f', 'f-0');
    e.creationObserved('ns/f', 'f-1');
    expect(e.satisfied('ns/f', 2)).toBe(false);
    e.deletionObserved('ns/f', 'f-7');
    expect(e.satisfied('ns/f', 3)).toBe(true);
    expect(e.satisfied('ns/other', 3)).toBe(true);
  });

  it('expires, so a lost event cannot wedge a fleet', () => {
    const e = new Expectations(1000);
    e.expectCreations('k', ['a'], 0);
    expect(e.satisfied('k', 999)).toBe(false);
    expect(e.satisfied('k', 1000)).toBe(true);
  });

  it('is satisfied exactly when every expected name was observed, in any order', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string(), { maxLength: 10 }), fc.uniqueArray(fc.string(), { maxLength: 10 }), (expected, observed) => {
      const e = new Expectations();
      e.expectCreations('k', expected, 0);
      observed.forEach((n) => e.creationObserved('k', n));
      expect(e.satisfied('k', 1)).toBe(expected.every((n) => observed.includes(n)));
    }));
  });
});
