import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { ResolvedImage } from './image.ts';
import { desiredVM } from './desired.ts';
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

  it('changes with the PVC of a DataVolume image, not with the phase of a version', () => {
    const dv: RevisionInput = { ...base, image: { version: 'v1', pvc: { namespace: 'images', name: 'img-v1' } } };
    expect(revisionHash({ ...dv, image: { ...dv.image, pvc: { namespace: 'images', name: 'img-v1b' } } })).not.toBe(revisionHash(dv));
    expect(revisionHash({ ...dv, image: { ...dv.image, pvc: { namespace: 'other', name: 'img-v1' } } })).not.toBe(revisionHash(dv));
    expect(revisionHash({ ...dv, image: { ...dv.image, phase: 'Obsolete' } })).toBe(revisionHash({ ...dv, image: { ...dv.image, phase: 'Ready' } }));
    expect(revisionHash(dv)).not.toBe(revisionHash({ ...dv, image: { version: 'v1', containerDisk: 'reg/img@sha256:aa' } }));
  });
  it('keeps the revision of a ContainerDisk image as it was before DataVolume images (no spurious rollout)', () => {
    // What the revision hashed before `pvc` and `phase` existed.
    const before = { template: base.template, imageVolume: base.imageVolume, nameGeneration: { appendIndexToSecretRefs: false, appendIndexToConfigMapRefs: false }, image: { version: base.image.version, containerDisk: base.image.containerDisk } };
    const previous = createHash('sha256').update(canonicalJson(before)).digest('hex').slice(0, REVISION_LENGTH);
    expect(revisionHash({ ...base, image: { ...base.image, phase: 'Ready' } })).toBe(previous);
  });

  const images: fc.Arbitrary<ResolvedImage> = fc.record(
    {
      version: fc.constantFrom('v1', 'v2'),
      containerDisk: fc.constantFrom('reg/img@sha256:aa', 'reg/img@sha256:bb'),
      pvc: fc.record({ namespace: fc.constantFrom('images', 'team'), name: fc.constantFrom('img-a', 'img-b') }),
      phase: fc.constantFrom('Ready', 'Deprecated', 'Obsolete'),
    },
    { requiredKeys: ['version'] },
  ).map((i) => (i.pvc ? { ...i, containerDisk: undefined } : i));
  const templates = fc.record({ cores: fc.constantFrom(1, 2), app: fc.constantFrom('web', 'api') }).map(({ cores, app }): RevisionInput['template'] => ({
    metadata: { labels: { app } },
    spec: { template: { spec: { domain: { cpu: { cores }, devices: {} }, volumes: [{ name: 'root', containerDisk: { image: 'x' } }] } } },
  }));
  const withoutPhase = ({ phase: _phase, ...rest }: ResolvedImage) => rest;
  /** Equal as data (fast-check builds some objects without a prototype; JSON drops the difference). */
  const sameData = (x: unknown, y: unknown) => isDeepStrictEqual(JSON.parse(JSON.stringify(x)), JSON.parse(JSON.stringify(y)));
  it('changes iff the template or the resolved image (version, containerDisk, PVC) changes, and so does the desired VM (property)', () => {
    fc.assert(
      fc.property(templates, templates, images, images, (ta, tb, ia, ib) => {
        const a: RevisionInput = { template: ta, imageVolume: 'root', image: ia };
        const b: RevisionInput = { template: tb, imageVolume: 'root', image: ib };
        const same = sameData(ta, tb) && sameData(withoutPhase(ia), withoutPhase(ib));
        expect(revisionHash(a) === revisionHash(b)).toBe(same);
        const vm = (r: RevisionInput) => desiredVM({ fleet: { name: 'web', namespace: 'team', uid: 'u' }, spec: { template: r.template, image: { name: 'img', version: r.image.version, volume: 'root' } }, image: r.image, index: 0, revision: revisionHash(r) });
        expect(sameData(vm(a), vm(b))).toBe(same);
      }),
    );
  });
});
