import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { getPath, withoutPaths } from './semantic.ts';

/** The reference: a deep clone with the leaf of each path deleted where its parent is an object. */
function cloneAndDelete(o: unknown, paths: string[][]): unknown {
  const copy = structuredClone(o);
  for (const path of paths) {
    const parent = getPath(copy, path.slice(0, -1));
    if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[path[path.length - 1]!];
  }
  return copy;
}

const key = fc.constantFrom('domain', 'cpu', 'memory', 'sockets', 'guest', 'nodeSelector', 'disks', 'a');
const json = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('obj'), fc.array(tie('obj'), { maxLength: 2 })),
  obj: fc.dictionary(key, tie('node'), { maxKeys: 4 }),
}));

describe('withoutPaths', () => {
  it('equals a deep clone with those leaves deleted, and leaves the object as it was', () => {
    fc.assert(fc.property(json.obj, fc.array(fc.array(key, { minLength: 1, maxLength: 3 }), { maxLength: 6 }), (o, paths) => {
      const before = structuredClone(o);
      expect(withoutPaths(o, paths)).toEqual(cloneAndDelete(o, paths));
      expect(o).toEqual(before);
    }), { numRuns: 500 });
  });

  it('shares what no path touches', () => {
    const spec = { domain: { cpu: { sockets: 2, cores: 1 }, devices: { disks: [{ name: 'root' }] } }, volumes: [{ name: 'root' }] };
    const rest = withoutPaths(spec, [['domain', 'cpu', 'sockets'], ['nodeSelector']]);
    expect(rest).toEqual({ domain: { cpu: { cores: 1 }, devices: { disks: [{ name: 'root' }] } }, volumes: [{ name: 'root' }] });
    expect(rest.domain.devices).toBe(spec.domain.devices);
    expect(rest.volumes).toBe(spec.volumes);
    expect(spec.domain.cpu.sockets).toBe(2);
    expect(withoutPaths(spec, [['nodeSelector']])).toBe(spec); // nothing to remove: nothing copied
  });
});
