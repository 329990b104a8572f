import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { FleetsByNode, NodeChanges } from './node-index.ts';

const vmi = (name: string, node: string | undefined, fleet: string | undefined): V1VirtualMachineInstance =>
  ({ metadata: { namespace: 'ns', name, ...(fleet ? { labels: { 'virtfleet.io/fleet': fleet } } : {}) }, spec: { domain: { devices: {} } }, status: node ? { nodeName: node } : {} }) as V1VirtualMachineInstance;
const fleetOf = (v: V1VirtualMachineInstance) => (v.metadata?.labels?.['virtfleet.io/fleet'] ? `ns/${v.metadata.labels['virtfleet.io/fleet']}` : undefined);

describe('FleetsByNode', () => {
  it('agrees with a scan of the VMIs after any sequence of events (property)', () => {
    const event = fc.record({ type: fc.constantFrom<'add' | 'update' | 'delete'>('add', 'update', 'delete'), name: fc.constantFrom('a', 'b', 'c', 'd'), node: fc.option(fc.constantFrom('n1', 'n2', 'n3'), { nil: undefined }), fleet: fc.option(fc.constantFrom('web', 'db'), { nil: undefined }) });
    fc.assert(fc.property(fc.array(event, { maxLength: 40 }), (events) => {
      const index = new FleetsByNode();
      const live = new Map<string, V1VirtualMachineInstance>();
      for (const e of events) {
        const v = vmi(e.name, e.node, e.fleet);
        index.observe(e.type, v, fleetOf);
        if (e.type === 'delete') live.delete(e.name);
        else live.set(e.name, v);
      }
      for (const node of ['n1', 'n2', 'n3']) {
        const scanned = new Set([...live.values()].filter((v) => v.status?.nodeName === node).flatMap((v) => fleetOf(v) ?? []));
        expect(new Set(index.fleetsOn(node))).toEqual(scanned);
      }
      expect(index.size).toBe([...live.values()].filter((v) => v.status?.nodeName && fleetOf(v)).length);
    }));
  });
});

describe('NodeChanges', () => {
  const node = (labels: Record<string, string>, heartbeat: string, ready = 'True'): V1Node => ({ metadata: { name: 'n1', labels }, spec: {}, status: { conditions: [{ type: 'Ready', status: ready, lastHeartbeatTime: heartbeat as unknown as Date }] } });
  it('ignores heartbeats, sees labels, taints, cordons and readiness', () => {
    const changes = new NodeChanges();
    expect(changes.changed('add', node({ zone: 'a' }, 't1'))).toBe(true);
    expect(changes.changed('update', node({ zone: 'a' }, 't2'))).toBe(false);
    expect(changes.changed('update', node({ zone: 'b' }, 't3'))).toBe(true);
    expect(changes.changed('update', node({ zone: 'b' }, 't4', 'False'))).toBe(true);
    expect(changes.changed('update', { ...node({ zone: 'b' }, 't5', 'False'), spec: { unschedulable: true } })).toBe(true);
    expect(changes.changed('delete', node({ zone: 'b' }, 't6'))).toBe(true);
    expect(changes.size).toBe(0);
  });
});
