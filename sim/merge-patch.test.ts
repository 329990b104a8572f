import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { applyMergePatch as apply, changedBy, mergePatchFor } from './merge-patch.ts';

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

describe('changedBy', () => {
  it('is false exactly when applying the patch leaves the object as it was', () => {
    fc.assert(fc.property(value.obj, value.obj, (stored, to) => {
      const patch = mergePatchFor(stored, to);
      expect(changedBy(stored, patch ?? {})).toBe(patch !== undefined);
    }));
  });

  it('drops nulls as the API server stores them: a status with lastProbeTime: null, once stored, changes nothing', () => {
    const status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] };
    const stored = apply({ phase: 'Pending', conditions: [] }, status);
    expect(stored).toEqual({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    expect(changedBy(stored, status)).toBe(false);
    expect(changedBy(stored, { conditions: [{ type: 'Ready', status: 'False', lastProbeTime: null }] })).toBe(true);
    const storedObject = apply({}, { phase: 'Running', migrationState: { endTimestamp: null, completed: true } });
    expect(storedObject).toEqual({ phase: 'Running', migrationState: { completed: true } });
    expect(changedBy(storedObject, { phase: 'Running', migrationState: { endTimestamp: null, completed: true } })).toBe(false);
    expect(changedBy(storedObject, { phase: 'Succeeded' })).toBe(true);
  });
});
