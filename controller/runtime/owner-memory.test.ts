import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { OwnerMemory } from './owner-memory.ts';

describe('OwnerMemory', () => {
  it('keeps only what retain() keeps, and nothing of a forgotten owner', () => {
    const m = new OwnerMemory<number>();
    m.set('ns/a', 'a-0', 1);
    m.set('ns/a', 'a-1', 2);
    m.set('ns/b', 'b-0', 3);
    m.retain('ns/a', (child) => child === 'a-1');
    expect(m.entries('ns/a')).toEqual([['a-1', 2]]);
    m.forget('ns/b');
    expect(m.get('ns/b', 'b-0')).toBeUndefined();
    m.retain('ns/a', () => false);
    expect(m.size).toBe(0);
  });

  it('is bounded by the live children under any churn', () => {
    // Random churn of children per owner; after each owner's retain against its live set, the
    // memory holds exactly the live children that have entries.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 200 }), (ops) => {
        const m = new OwnerMemory<boolean>();
        const live = new Map<string, Set<string>>();
        for (const [owner, child, add] of ops) {
          const o = `ns/f${owner}`;
          const c = `f${owner}-${child}`;
          const set = live.get(o) ?? new Set<string>();
          live.set(o, set);
          if (add) {
            set.add(c);
            m.set(o, c, true);
          } else set.delete(c);
          m.retain(o, (name) => set.has(name));
        }
        for (const [o, set] of live) for (const [child] of m.entries(o)) expect(set.has(child)).toBe(true);
        expect(m.size).toBeLessThanOrEqual([...live.values()].reduce((n, s) => n + s.size, 0));
      }),
    );
  });
});
