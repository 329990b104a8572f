import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SeededChance } from './random.ts';

it('decides the same way for the same seed and key, whatever was asked before', () => {
  fc.assert(fc.property(fc.integer(), fc.array(fc.string()), fc.string(), (seed, before, key) => {
    const a = new SeededChance(seed);
    const b = new SeededChance(seed);
    before.forEach((k) => a.value(k));
    expect(a.value(key)).toBe(b.value(key));
  }));
});

it('hits a probability about as often as it says', () => {
  const r = new SeededChance(7);
  const hits = Array.from({ length: 10_000 }, (_, i) => r.chance(0.3, `m-${i}`)).filter(Boolean).length;
  expect(hits).toBeGreaterThan(2_700);
  expect(hits).toBeLessThan(3_300);
  expect(r.chance(0, 'x')).toBe(false);
});
