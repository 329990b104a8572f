import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RelatedKeys } from './related-keys.ts';

const obj = (name: string) => ({ metadata: { namespace: 'ns', name } });

describe('RelatedKeys', () => {
  it('names the keys an object concerned before as well as now, once', () => {
    const keys = new RelatedKeys();
    expect(keys.keysFor('add', obj('vm'), ['ns/a'])).toEqual(['ns/a']);
    expect(keys.keysFor('update', obj('vm'), ['ns/b'])).toEqual(['ns/a', 'ns/b']);
    expect(keys.keysFor('update', obj('vm'), ['ns/b'])).toEqual(['ns/b']);
    expect(keys.keysFor('delete', obj('vm'), ['ns/b'])).toEqual(['ns/b']);
    expect(keys.size).toBe(0);
  });

  it('reaches every key an object concerned at its last event and its current ones, and forgets what is gone (a property over event sequences)', () => {
    const event = fc.record({ name: fc.constantFrom('x', 'y', 'z'), type: fc.constantFrom('add' as const, 'update' as const, 'delete' as const), keys: fc.uniqueArray(fc.constantFrom('ns/a', 'ns/b', 'ns/c'), { maxLength: 2 }) });
    fc.assert(fc.property(fc.array(event, { maxLength: 30 }), (events) => {
      const keys = new RelatedKeys();
      const last = new Map<string, string[]>();
      for (const e of events) {
        const got = keys.keysFor(e.type, obj(e.name), e.keys);
        expect(new Set(got)).toEqual(new Set([...(last.get(e.name) ?? []), ...e.keys]));
        expect(got.length).toBe(new Set(got).size);
        if (e.type === 'delete' || e.keys.length === 0) last.delete(e.name);
        else last.set(e.name, e.keys);
      }
      expect(keys.size).toBe(last.size);
    }));
  });
});
