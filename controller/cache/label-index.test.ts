import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Cache } from './cache.ts';
import { LabelIndex } from './label-index.ts';

const LABEL = 'virtfleet.io/fleet';
const obj = (namespace: string, name: string, value: string | undefined): KubernetesObject => ({ metadata: { namespace, name, ...(value ? { labels: { [LABEL]: value, other: 'x' } } : { labels: { other: 'x' } }) } });

/** A cache as the informer keeps it: by namespace, then name. */
class MapCache implements Cache<KubernetesObject> {
  readonly objects = new Map<string, KubernetesObject>();
  get(name: string, namespace?: string) {
    return this.objects.get(`${namespace}/${name}`);
  }
  list(namespace?: string) {
    return [...this.objects.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
}

describe('LabelIndex', () => {
  it('returns what a scan of the cache by the label returns, after any sequence of events (property)', () => {
    const event = fc.record({
      type: fc.constantFrom<'add' | 'update' | 'delete'>('add', 'update', 'delete'),
      namespace: fc.constantFrom('a', 'b'),
      name: fc.constantFrom('web-0', 'web-1', 'db-0', 'x'),
      value: fc.option(fc.constantFrom('web', 'db'), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(event, { maxLength: 60 }), (events) => {
      const cache = new MapCache();
      const index = new LabelIndex(LABEL);
      for (const e of events) {
        const o = obj(e.namespace, e.name, e.value);
        // The informer updates its cache before it tells the handlers.
        if (e.type === 'delete') cache.objects.delete(`${e.namespace}/${e.name}`);
        else cache.objects.set(`${e.namespace}/${e.name}`, o);
        index.observe(e.type, o);
      }
      for (const namespace of ['a', 'b']) {
        for (const value of ['web', 'db']) {
          const scanned = cache.list(namespace).filter((o) => o.metadata?.labels?.[LABEL] === value);
          expect(new Set(index.list(cache, namespace, value))).toEqual(new Set(scanned));
        }
      }
      // Pruned: nothing is held for deleted or unlabelled objects.
      expect(index.size).toBe([...cache.objects.values()].filter((o) => o.metadata?.labels?.[LABEL] !== undefined).length);
    }));
  });

  it('moves an object whose label changes and forgets it on delete', () => {
    const index = new LabelIndex(LABEL);
    index.observe('add', obj('a', 'vm-1', 'web'));
    expect(index.names('a', 'web')).toEqual(['vm-1']);
    index.observe('update', obj('a', 'vm-1', 'db'));
    expect(index.names('a', 'web')).toEqual([]);
    expect(index.names('a', 'db')).toEqual(['vm-1']);
    expect(index.names('b', 'db')).toEqual([]);
    index.observe('delete', obj('a', 'vm-1', 'db'));
    expect(index.size).toBe(0);
  });
});
