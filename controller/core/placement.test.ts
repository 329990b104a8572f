import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1Node, V1NodeSelectorRequirement, V1Taint, V1Toleration } from '@kubernetes/client-node';
import {
  KUBEVIRT_DRAIN_TAINT_KEY,
  isNodeReady,
  matchesNodeSelector,
  matchesNodeSelectorRequirement,
  matchesRequiredNodeAffinity,
  placementViolations,
  toleratesTaint,
  untoleratedTaints,
  type Affinity,
} from './placement.ts';

function node(name: string, opts: { labels?: Record<string, string>; taints?: V1Taint[]; unschedulable?: boolean; ready?: string | null } = {}): V1Node {
  const ready = opts.ready === undefined ? 'True' : opts.ready;
  return {
    metadata: { name, labels: opts.labels ?? {} },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { conditions: ready === null ? [] : [{ type: 'Ready', status: ready }] },
  };
}

function required(...terms: { matchExpressions?: V1NodeSelectorRequirement[]; matchFields?: V1NodeSelectorRequirement[] }[]): Affinity {
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
}

describe('matchesNodeSelector', () => {
  const n = node('n1', { labels: { zone: 'a', disk: 'ssd' } });
  it('matches when every key has the same value', () => {
    expect(matchesNodeSelector({ zone: 'a' }, n)).toBe(true);
    expect(matchesNodeSelector({ zone: 'a', disk: 'ssd' }, n)).toBe(true);
  });
  it('fails on a different value or a missing label', () => {
    expect(matchesNodeSelector({ zone: 'b' }, n)).toBe(false);
    expect(matchesNodeSelector({ gpu: 'true' }, n)).toBe(false);
    expect(matchesNodeSelector({ zone: '' }, n)).toBe(false);
  });
  it('matches anything when empty or undefined', () => {
    expect(matchesNodeSelector(undefined, n)).toBe(true);
    expect(matchesNodeSelector({}, node('bare', { labels: undefined }))).toBe(true);
  });
  it('a node whose labels include the selector always matches (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 })), fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 })), (selector, extra) => {
        expect(matchesNodeSelector(selector, node('n', { labels: { ...extra, ...selector } }))).toBe(true);
      }),
    );
  });
});

describe('matchesNodeSelectorRequirement', () => {
  const req = (operator: string, values?: string[]): V1NodeSelectorRequirement => ({ key: 'k', operator, values });
  it.each([
    ['In', ['a', 'b'], 'a', true],
    ['In', ['a', 'b'], 'c', false],
    ['In', ['a'], undefined, false],
    ['NotIn', ['a'], 'b', true],
    ['NotIn', ['a'], 'a', false],
    ['NotIn', ['a'], undefined, true],
    ['Exists', undefined, '', true],
    ['Exists', undefined, undefined, false],
    ['DoesNotExist', undefined, undefined, true],
    ['DoesNotExist', undefined, 'x', false],
    ['Gt', ['5'], '6', true],
    ['Gt', ['5'], '5', false],
    ['Gt', ['5'], 'abc', false],
    ['Gt', ['5'], undefined, false],
    ['Gt', ['5', '6'], '7', false],
    ['Lt', ['5'], '4', true],
    ['Lt', ['5'], '-10', true],
    ['Lt', ['5'], '5', false],
    ['Lt', ['x'], '1', false],
    ['Gt', ['9007199254740993'], '9007199254740994', true],
    ['Bogus', ['a'], 'a', false],
    // Requirements labels.NewRequirement refuses match nothing (found by the differential test).
    ['NotIn', [], 'a', false],
    ['NotIn', undefined, undefined, false],
    ['In', [], 'a', false],
    ['Exists', ['a'], 'a', false],
    ['DoesNotExist', ['a'], undefined, false],
    ['DoesNotExist', [], undefined, true],
    ['NotIn', ['-x'], 'a', false],
    ['NotIn', ['a'.repeat(64)], 'a', false],
    ['In', ['a', 'x y'], 'a', false],
    ['Gt', ['-5'], '1', false],
    ['Lt', ['+5'], '1', false],
    ['Gt', ['9223372036854775806'], '9223372036854775807', true],
    ['Lt', ['9223372036854775808'], '1', false],
    ['Gt', ['1'], '9223372036854775808', false],
    ['Gt', ['1'], '+7', true],
  ] as const)('%s %j against %j is %s', (op, values, value, want) => {
    expect(matchesNodeSelectorRequirement(req(op, values ? [...values] : undefined), value)).toBe(want);
  });
  it('In and NotIn are complements when they have values (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1 }), fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }), (values, value) => {
        expect(matchesNodeSelectorRequirement(req('In', values), value)).toBe(!matchesNodeSelectorRequirement(req('NotIn', values), value));
      }),
    );
  });
  it('Exists and DoesNotExist are complements (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), (value) => {
        expect(matchesNodeSelectorRequirement(req('Exists'), value)).toBe(!matchesNodeSelectorRequirement(req('DoesNotExist'), value));
      }),
    );
  });
  it('Gt and Lt agree with integer comparison (property)', () => {
    // The requirement's value must also be a label value, so it has no sign; the node's need not.
    fc.assert(
      fc.property(fc.integer(), fc.nat(), (a, b) => {
        expect(matchesNodeSelectorRequirement(req('Gt', [String(b)]), String(a))).toBe(a > b);
        expect(matchesNodeSelectorRequirement(req('Lt', [String(b)]), String(a))).toBe(a < b);
      }),
    );
  });
});

describe('node affinity agrees with Kubernetes on malformed requirements (found by the differential test)', () => {
  const n = node('worker-1', { labels: { zone: 'a' } });
  it('refuses a label key that is no qualified name', () => {
    for (const key of ['', 'bad key', '-zone', 'a/b/c', 'example.com/', 'Example.com/zone', 'x'.repeat(64)]) {
      expect(matchesRequiredNodeAffinity(required({ matchExpressions: [{ key, operator: 'DoesNotExist' }] }), n)).toBe(false);
    }
    expect(matchesRequiredNodeAffinity(required({ matchExpressions: [{ key: 'example.com/Zone_1', operator: 'DoesNotExist' }] }), n)).toBe(true);
  });
  it('matchFields take exactly one value', () => {
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1', 'worker-2'] }] }), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: [] }] }), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-2'] }] }), n)).toBe(true);
  });
  it('matchFields read any other field as empty', () => {
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.namespace', operator: 'NotIn', values: ['x'] }] }), n)).toBe(true);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'spec.unschedulable', operator: 'In', values: [''] }] }), n)).toBe(true);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.namespace', operator: 'In', values: ['x'] }] }), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'Exists' }] }), n)).toBe(false);
  });
  it('a malformed term fails alone; another term can still match', () => {
    const affinity = required({ matchExpressions: [{ key: 'zone', operator: 'NotIn' }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] });
    expect(matchesRequiredNodeAffinity(affinity, n)).toBe(true);
    expect(placementViolations({ affinity: required({ matchExpressions: [{ key: 'zone', operator: 'Exists', values: ['a'] }] }) }, n).map((v) => v.kind)).toEqual(['NodeAffinity']);
  });
});

describe('matchesRequiredNodeAffinity', () => {
  const n = node('worker-1', { labels: { zone: 'a', cpus: '16' } });
  it('matches every node without a required node affinity', () => {
    expect(matchesRequiredNodeAffinity(undefined, n)).toBe(true);
    expect(matchesRequiredNodeAffinity({}, n)).toBe(true);
    expect(matchesRequiredNodeAffinity({ nodeAffinity: {} }, n)).toBe(true);
    expect(matchesRequiredNodeAffinity({ podAntiAffinity: {} }, n)).toBe(true);
  });
  it('matches nothing with an empty term list or an empty term', () => {
    expect(matchesRequiredNodeAffinity(required(), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({}), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchExpressions: [], matchFields: [] }), n)).toBe(false);
  });
  it('ANDs the expressions of a term', () => {
    const both = required({
      matchExpressions: [
        { key: 'zone', operator: 'In', values: ['a'] },
        { key: 'cpus', operator: 'Gt', values: ['8'] },
      ],
    });
    expect(matchesRequiredNodeAffinity(both, n)).toBe(true);
    const oneFails = required({
      matchExpressions: [
        { key: 'zone', operator: 'In', values: ['a'] },
        { key: 'cpus', operator: 'Gt', values: ['32'] },
      ],
    });
    expect(matchesRequiredNodeAffinity(oneFails, n)).toBe(false);
  });
  it('ORs the terms', () => {
    const aff = required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'zone', operator: 'Exists' }] });
    expect(matchesRequiredNodeAffinity(aff, n)).toBe(true);
  });
  it('matches fields on metadata.name with In and NotIn only', () => {
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }), n)).toBe(true);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-1'] }] }), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'Exists' }] }), n)).toBe(false);
    expect(matchesRequiredNodeAffinity(required({ matchFields: [{ key: 'metadata.uid', operator: 'In', values: ['worker-1'] }] }), n)).toBe(false);
  });
  it('ANDs fields with expressions in one term', () => {
    const aff = required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['other'] }] });
    expect(matchesRequiredNodeAffinity(aff, n)).toBe(false);
  });
  it('ignores preferred terms', () => {
    expect(matchesRequiredNodeAffinity({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }] } }, n)).toBe(true);
  });
});

describe('toleratesTaint and untoleratedTaints', () => {
  const taint = (key: string, effect: string, value?: string): V1Taint => ({ key, effect, value });
  it('follows Kubernetes toleration matching', () => {
    expect(toleratesTaint({ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, taint('k', 'NoSchedule', 'v'))).toBe(true);
    expect(toleratesTaint({ key: 'k', value: 'v' }, taint('k', 'NoExecute', 'v'))).toBe(true); // empty operator is Equal, empty effect matches all
    expect(toleratesTaint({ key: 'k', operator: 'Equal', value: 'v' }, taint('k', 'NoSchedule', 'w'))).toBe(false);
    expect(toleratesTaint({ key: 'k', operator: 'Equal' }, taint('k', 'NoSchedule'))).toBe(true); // both values empty
    expect(toleratesTaint({ key: 'k', operator: 'Exists' }, taint('k', 'NoSchedule', 'anything'))).toBe(true);
    expect(toleratesTaint({ key: 'k', operator: 'Exists', effect: 'NoExecute' }, taint('k', 'NoSchedule'))).toBe(false);
    expect(toleratesTaint({ key: 'other', operator: 'Exists' }, taint('k', 'NoSchedule'))).toBe(false);
    expect(toleratesTaint({ operator: 'Exists' }, taint('k', 'NoExecute', 'v'))).toBe(true); // empty key + Exists tolerates everything
    expect(toleratesTaint({ operator: 'Exists', effect: 'NoSchedule' }, taint('k', 'NoExecute'))).toBe(false);
    expect(toleratesTaint({ key: 'k', operator: 'Lt', value: '1' }, taint('k', 'NoSchedule', '0'))).toBe(false);
  });
  it('lists untolerated taints with the requested effects', () => {
    const n = node('n', { taints: [taint('a', 'NoSchedule'), taint('b', 'NoExecute'), taint('c', 'PreferNoSchedule')] });
    expect(untoleratedTaints(undefined, n).map((t) => t.key)).toEqual(['a', 'b']);
    expect(untoleratedTaints([{ key: 'a', operator: 'Exists' }], n).map((t) => t.key)).toEqual(['b']);
    expect(untoleratedTaints([], n, ['PreferNoSchedule']).map((t) => t.key)).toEqual(['c']);
    expect(untoleratedTaints([{ operator: 'Exists' }], n)).toEqual([]);
    expect(untoleratedTaints(undefined, node('clean'))).toEqual([]);
  });
  it('a universal toleration tolerates any taint (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'), fc.option(fc.string(), { nil: undefined }), (key, effect, value) => {
        expect(toleratesTaint({ operator: 'Exists' }, taint(key, effect, value))).toBe(true);
      }),
    );
  });
  it('adding tolerations never adds untolerated taints (property)', () => {
    const arbTaint = fc.record({ key: fc.constantFrom('a', 'b', 'c'), effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'), value: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }) });
    const arbToleration: fc.Arbitrary<V1Toleration> = fc.record(
      { key: fc.constantFrom('a', 'b', 'c', ''), operator: fc.constantFrom('Equal', 'Exists'), effect: fc.constantFrom('NoSchedule', 'NoExecute', ''), value: fc.constantFrom('x', 'y', '') },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(arbTaint), fc.array(arbToleration), fc.array(arbToleration), (taints, some, more) => {
        const n = node('n', { taints });
        const before = untoleratedTaints(some, n);
        const after = untoleratedTaints([...some, ...more], n);
        expect(after.every((t) => before.includes(t))).toBe(true);
      }),
    );
  });
});

describe('placementViolations', () => {
  it('is empty for a ready, untainted node that matches', () => {
    const n = node('n1', { labels: { zone: 'a' } });
    expect(placementViolations({ nodeSelector: { zone: 'a' } }, n)).toEqual([]);
    expect(isNodeReady(n)).toBe(true);
  });
  it('reports each kind of violation', () => {
    const n = node('n1', {
      labels: { zone: 'b' },
      unschedulable: true,
      ready: 'Unknown',
      taints: [
        { key: 'dedicated', value: 'db', effect: 'NoSchedule' },
        { key: KUBEVIRT_DRAIN_TAINT_KEY, effect: 'NoSchedule' },
      ],
    });
    const v = placementViolations({ nodeSelector: { zone: 'a' }, affinity: required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }) }, n);
    expect(v.map((x) => x.kind)).toEqual(['Unschedulable', 'NodeNotReady', 'NodeSelector', 'NodeAffinity', 'Taint', 'DrainTaint']);
    expect(v.find((x) => x.kind === 'Taint')!.message).toContain('dedicated=db:NoSchedule');
    expect(v.find((x) => x.kind === 'NodeSelector')!.message).toContain('zone=a');
    expect(v.find((x) => x.kind === 'NodeNotReady')!.message).toContain('Ready=Unknown');
  });
  it('treats a node without a Ready condition as not ready', () => {
    expect(placementViolations({}, node('n', { ready: null })).map((x) => x.kind)).toEqual(['NodeNotReady']);
  });
  it('reports the drain taint whatever its effect and even when tolerated, never as a plain Taint', () => {
    const n = node('n', { taints: [{ key: KUBEVIRT_DRAIN_TAINT_KEY, effect: 'PreferNoSchedule' }] });
    expect(placementViolations({}, n).map((x) => x.kind)).toEqual(['DrainTaint']);
    const n2 = node('n', { taints: [{ key: KUBEVIRT_DRAIN_TAINT_KEY, effect: 'NoSchedule', value: 'draining' }] });
    expect(placementViolations({ tolerations: [{ operator: 'Exists' }] }, n2).map((x) => x.kind)).toEqual(['DrainTaint']);
  });
  it('lets a toleration of node.kubernetes.io/unschedulable through a cordon, as the scheduler does', () => {
    const n = node('n', { unschedulable: true });
    expect(placementViolations({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }, n)).toEqual([]);
  });
  it('ignores PreferNoSchedule taints', () => {
    expect(placementViolations({}, node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }))).toEqual([]);
  });
});
