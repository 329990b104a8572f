import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1Node, V1Taint, V1Toleration } from '@kubernetes/client-node';
import { DRIFT_KINDS, PENDING_LIVE_UPDATE_CONDITIONS, detectDrift, type DriftInput } from './drift.ts';
import { KUBEVIRT_DRAIN_TAINT_KEY, UNSCHEDULABLE_TAINT_KEY, type Affinity, type PlacementSpec } from '../placement.ts';

function node(name: string, opts: { labels?: Record<string, string>; taints?: V1Taint[]; unschedulable?: boolean; ready?: string } = {}): V1Node {
  return {
    metadata: { name, labels: opts.labels ?? {} },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { conditions: [{ type: 'Ready', status: opts.ready ?? 'True' }] },
  };
}
const drift = (over: Partial<DriftInput> = {}) => detectDrift({ placement: {}, node: node('n1'), vmiConditions: [], ...over });
const kinds = (input: Partial<DriftInput>) => drift(input).map((d) => `${d.kind}/${d.detail}`);
const zoneA: Affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } };
const drain: V1Taint = { key: KUBEVIRT_DRAIN_TAINT_KEY, effect: 'NoSchedule' };

describe('detectDrift: placement', () => {
  it('finds nothing for a VM on a node that satisfies its placement, or on a node the cache lacks', () => {
    const placement: PlacementSpec = { nodeSelector: { zone: 'a' }, affinity: zoneA };
    expect(drift({ placement, node: node('n1', { labels: { zone: 'a' } }) })).toEqual([]);
    expect(drift({ placement, node: undefined })).toEqual([]);
    expect(drift({ placement: {}, node: undefined, vmiConditions: undefined })).toEqual([]);
  });

  it('reports a relabelled node against the nodeSelector or the required node affinity', () => {
    const n = node('n1', { labels: { zone: 'b' } });
    expect(drift({ placement: { nodeSelector: { zone: 'a' } }, node: n })).toEqual([
      { kind: 'placement', detail: 'NodeSelector', message: 'node "n1" does not match nodeSelector zone=a' },
    ]);
    expect(kinds({ placement: { affinity: zoneA }, node: n })).toEqual(['placement/NodeAffinity']);
  });

  it('reports untolerated NoSchedule/NoExecute taints, not tolerated or PreferNoSchedule ones', () => {
    const taint: V1Taint = { key: 'dedicated', value: 'db', effect: 'NoExecute' };
    expect(kinds({ node: node('n1', { taints: [taint] }) })).toEqual(['placement/Taint']);
    expect(drift({ node: node('n1', { taints: [taint] }) })[0]!.message).toBe('node "n1" has untolerated taint dedicated=db:NoExecute');
    const tolerate: V1Toleration = { key: 'dedicated', operator: 'Equal', value: 'db' };
    expect(drift({ placement: { tolerations: [tolerate] }, node: node('n1', { taints: [taint] }) })).toEqual([]);
    expect(drift({ node: node('n1', { taints: [{ key: 'dedicated', effect: 'PreferNoSchedule' }] }) })).toEqual([]);
  });

  it('reports a cordoned node unless the VM tolerates the unschedulable taint', () => {
    expect(kinds({ node: node('n1', { unschedulable: true }) })).toEqual(['placement/Unschedulable']);
    const tolerate: V1Toleration = { key: UNSCHEDULABLE_TAINT_KEY, operator: 'Exists', effect: 'NoSchedule' };
    expect(drift({ placement: { tolerations: [tolerate] }, node: node('n1', { unschedulable: true }) })).toEqual([]);
  });

  it("reports KubeVirt's drain taint whatever its effect and even when tolerated", () => {
    expect(kinds({ node: node('n1', { taints: [drain] }) })).toEqual(['placement/DrainTaint']);
    expect(kinds({ node: node('n1', { taints: [{ key: KUBEVIRT_DRAIN_TAINT_KEY, effect: 'PreferNoSchedule' }] }) })).toEqual(['placement/DrainTaint']);
    expect(kinds({ placement: { tolerations: [{ operator: 'Exists' }] }, node: node('n1', { taints: [drain] }) })).toEqual(['placement/DrainTaint']);
  });

  it('leaves a NotReady node to autohealing, and keeps its message out of other findings', () => {
    expect(drift({ node: node('n1', { ready: 'Unknown' }) })).toEqual([]);
    const found = drift({ placement: { nodeSelector: { zone: 'a' } }, node: node('n1', { ready: 'False' }) });
    expect(found.map((d) => d.detail)).toEqual(['NodeSelector']);
    expect(found[0]!.message).not.toContain('not ready');
  });

  it('gives one placement finding named after the most urgent rule, with every broken rule in the message, most urgent first', () => {
    const n = node('n1', { labels: { zone: 'b' }, unschedulable: true, taints: [drain, { key: 'gpu', effect: 'NoSchedule' }] });
    const found = drift({ placement: { nodeSelector: { zone: 'a' }, affinity: zoneA }, node: n });
    expect(found).toHaveLength(1);
    expect(found[0]!.detail).toBe('DrainTaint');
    expect(found[0]!.message.split('; ')).toEqual([
      'node "n1" is being drained (taint kubevirt.io/drain:NoSchedule)',
      'node "n1" is unschedulable (cordoned)',
      'node "n1" has untolerated taint gpu:NoSchedule',
      'node "n1" does not match nodeSelector zone=a',
      'node "n1" does not match the required node affinity',
    ]);
    // Without the drain taint, cordoning is the most urgent; then taints, nodeSelector, affinity.
    expect(kinds({ placement: { nodeSelector: { zone: 'a' }, affinity: zoneA }, node: node('n1', { unschedulable: true, taints: [{ key: 'gpu', effect: 'NoSchedule' }] }) })).toEqual(['placement/Unschedulable']);
    expect(kinds({ placement: { nodeSelector: { zone: 'a' }, affinity: zoneA }, node: node('n1', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }) })).toEqual(['placement/Taint']);
    expect(kinds({ placement: { nodeSelector: { zone: 'a' }, affinity: zoneA }, node: node('n1') })).toEqual(['placement/NodeSelector']);
  });
});

describe('detectDrift: pending live update and manual edits', () => {
  it('reports a VMI condition that waits for a migration, with its message', () => {
    const found = drift({ vmiConditions: [{ type: 'HotMemoryChange', status: 'True', message: 'memory 4Gi → 8Gi' }] });
    expect(found).toEqual([{ kind: 'pendingLiveUpdate', detail: 'HotMemoryChange', message: "the VMI has HotMemoryChange (memory 4Gi → 8Gi): a live migration brings it to the VM's spec" }]);
    expect(drift({ vmiConditions: [{ type: 'MigrationRequired', status: 'True' }] })[0]!.message).toBe("the VMI has MigrationRequired: a live migration brings it to the VM's spec");
  });

  it('ignores those conditions unless True, and other conditions', () => {
    expect(drift({ vmiConditions: [{ type: 'HotVCPUChange', status: 'False' }, { type: 'MigrationRequired', status: 'Unknown' }, { type: 'Ready', status: 'True' }, { type: 'LiveMigratable', status: 'True' }] })).toEqual([]);
  });

  it('makes several pending conditions one finding, named after the first in KubeVirt order', () => {
    const conditions = [{ type: 'MigrationRequired', status: 'True' }, { type: 'HotMemoryChange', status: 'True' }, { type: 'HotVCPUChange', status: 'True' }];
    expect(kinds({ vmiConditions: conditions })).toEqual(['pendingLiveUpdate/HotVCPUChange']);
    expect(kinds({ vmiConditions: conditions.slice(0, 2) })).toEqual(['pendingLiveUpdate/HotMemoryChange']);
  });

  it('reports hand edits with their reasons, and nothing for an empty list', () => {
    expect(drift({ manualEdit: ['spec.template.spec.domain.cpu.cores changed', 'label app changed'] })).toEqual([
      { kind: 'manualEdit', detail: 'ManualEdit', message: 'edited by hand: spec.template.spec.domain.cpu.cores changed; label app changed' },
    ]);
    expect(drift({ manualEdit: [] })).toEqual([]);
  });

  it('lists placement, then pending live update, then manual edit', () => {
    expect(kinds({ node: node('n1', { taints: [drain] }), vmiConditions: [{ type: 'HotVCPUChange', status: 'True' }], manualEdit: ['x'] })).toEqual([
      'placement/DrainTaint',
      'pendingLiveUpdate/HotVCPUChange',
      'manualEdit/ManualEdit',
    ]);
  });
});

describe('detectDrift: properties', () => {
  const taintArb = fc.record({
    key: fc.constantFrom('dedicated', 'gpu', KUBEVIRT_DRAIN_TAINT_KEY, UNSCHEDULABLE_TAINT_KEY),
    effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'),
  });
  const inputArb = fc.record({
    labels: fc.dictionary(fc.constantFrom('zone', 'disk'), fc.constantFrom('a', 'b')),
    selector: fc.dictionary(fc.constantFrom('zone', 'disk'), fc.constantFrom('a', 'b')),
    taints: fc.array(taintArb, { maxLength: 3 }),
    tolerateAll: fc.boolean(),
    unschedulable: fc.boolean(),
    ready: fc.constantFrom('True', 'False', 'Unknown'),
    hasNode: fc.boolean(),
    conditions: fc.uniqueArray(fc.record({ type: fc.constantFrom(...PENDING_LIVE_UPDATE_CONDITIONS, 'Ready', 'Paused'), status: fc.constantFrom('True', 'False') }), { selector: (c) => c.type, maxLength: 4 }),
    manual: fc.array(fc.constantFrom('cpu', 'memory', 'label'), { maxLength: 2 }),
  });

  it('one finding per kind, in order, never imbalance; each present exactly when its cause is', () => {
    fc.assert(
      fc.property(inputArb, (r) => {
        const n = node('n1', { labels: r.labels, taints: r.taints, unschedulable: r.unschedulable, ready: r.ready });
        const placement: PlacementSpec = { nodeSelector: r.selector, ...(r.tolerateAll ? { tolerations: [{ operator: 'Exists' }] } : {}) };
        const found = detectDrift({ placement, node: r.hasNode ? n : undefined, vmiConditions: r.conditions, manualEdit: r.manual });
        const order = found.map((d) => DRIFT_KINDS.indexOf(d.kind));
        expect(order).toEqual([...new Set(order)].sort((a, b) => a - b));
        expect(found.some((d) => d.kind === 'imbalance')).toBe(false);

        const selectorBroken = Object.entries(r.selector).some(([k, v]) => r.labels[k] !== v);
        const drained = r.taints.some((t) => t.key === KUBEVIRT_DRAIN_TAINT_KEY);
        const tainted = !r.tolerateAll && r.taints.some((t) => t.key !== KUBEVIRT_DRAIN_TAINT_KEY && t.effect !== 'PreferNoSchedule');
        const cordoned = r.unschedulable && !r.tolerateAll;
        const expected = !r.hasNode ? undefined : drained ? 'DrainTaint' : cordoned ? 'Unschedulable' : tainted ? 'Taint' : selectorBroken ? 'NodeSelector' : undefined;
        expect(found.find((d) => d.kind === 'placement')?.detail).toBe(expected);

        const pending = PENDING_LIVE_UPDATE_CONDITIONS.filter((t) => r.conditions.some((c) => c.type === t && c.status === 'True'));
        expect(found.find((d) => d.kind === 'pendingLiveUpdate')?.detail).toBe(pending[0]);
        expect(found.some((d) => d.kind === 'manualEdit')).toBe(r.manual.length > 0);
      }),
      { numRuns: 1000 },
    );
  });
});
