import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { REVISION_LENGTH, canonicalJson, revisionHash, type RevisionInput } from './revision.ts';

const base: RevisionInput = {
  template: { metadata: { labels: { app: 'web' } }, spec: { template: { spec: { domain: { devices: {} }, volumes: [{ name: 'root', containerDisk: { image: 'x' } }] } } } },
  imageVolume: 'root',
  image: { version: 'v1', containerDisk: 'reg/img@sha256:aa' },
};

/** A deep copy with every object's keys in reverse order. */
function reorder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorder);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)]));
  return v;
}

describe('canonicalJson', () => {
  it('sorts keys and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: undefined, c: [2, { z: 1, y: 2 }] } })).toBe('{"a":{"c":[2,{"y":2,"z":1}]},"b":1}');
  });
  it('is independent of key order (property)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(canonicalJson(reorder(v))).toBe(canonicalJson(v))));
  });
});

describe('revisionHash', () => {
  it('is short lowercase hex, a valid label value', () => {
    expect(revisionHash(base)).toMatch(new RegExp(`^[0-9a-f]{${REVISION_LENGTH}}$`));
  });
  it('changes with the template, the image version, the digest, the volume and nameGeneration', () => {
    const h = revisionHash(base);
    expect(revisionHash({ ...base, image: { ...base.image, version: 'v2' } })).not.toBe(h);
    expect(revisionHash({ ...base, image: { ...base.image, containerDisk: 'reg/img@sha256:bb' } })).not.toBe(h);
    expect(revisionHash({ ...base, imageVolume: 'other' })).not.toBe(h);
    expect(revisionHash({ ...base, nameGeneration: { appendIndexToSecretRefs: true } })).not.toBe(h);
    expect(revisionHash({ ...base, template: { ...base.template, metadata: { labels: { app: 'api' } } } })).not.toBe(h);
  });
  it('treats unset nameGeneration flags as false', () => {
    expect(revisionHash({ ...base, nameGeneration: { appendIndexToSecretRefs: false } })).toBe(revisionHash(base));
  });
  it('equal inputs give equal hashes, whatever the key order (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })), fc.string({ maxLength: 8 }), (extra, version) => {
        const input: RevisionInput = { ...base, template: { ...base.template, spec: { ...base.template.spec, ...(extra as object) } }, image: { version } };
        expect(revisionHash(reorder(structuredClone(input)) as RevisionInput)).toBe(revisionHash(input));
      }),
    );
  });
  it('different versions give different hashes (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(revisionHash({ ...base, image: { version: a } })).not.toBe(revisionHash({ ...base, image: { version: b } }));
      }),
    );
  });
});
