import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mergePatchFor } from './merge-patch.ts';

/** RFC 7386 MergePatch(target, patch). */
function apply(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = apply(out[k], v);
  }
  return out;
}

// JSON objects without nulls (a merge patch cannot set a value to null).
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 3 })),
  obj: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'phase', 'status'), fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('obj')), { maxKeys: 4 }),
}));

describe('mergePatchFor', () => {
  it('is empty for equal objects and turns `from` into `to` otherwise', () => {
    fc.assert(fc.property(value.obj, value.obj, (from, to) => {
      const patch = mergePatchFor(from, to);
      expect(apply(from, patch ?? {})).toEqual(to);
      expect(mergePatchFor(to, structuredClone(to))).toBeUndefined();
    }));
  });

  it('sends vanished keys as null and only the changed parts of nested objects', () => {
    expect(mergePatchFor({ phase: 'A', claimName: 'x', source: { pvc: { name: 'p', namespace: 'n' } } }, { phase: 'B', source: {} }))
      .toEqual({ phase: 'B', claimName: null, source: { pvc: null } });
    expect(mergePatchFor({ a: { b: 1, c: 2 } }, { a: { b: 1, c: 3 } })).toEqual({ a: { c: 3 } });
  });

  it('ignores keys whose value is undefined', () => {
    expect(mergePatchFor({ a: 1 }, { a: 1, b: undefined })).toBeUndefined();
  });
});
