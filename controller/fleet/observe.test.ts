import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { nodeLostSince, observeVM } from './observe.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';
const vm = (status: V1VirtualMachine['status'] = {}, labels: Record<string, string> = { 'virtfleet.io/revision': 'r1' }): V1VirtualMachine => ({
  metadata: { name: 'web-3', namespace: 'ns', labels, creationTimestamp: T0 },
  spec: { template: {} },
  status,
});
const vmi = (uid: string, phase = 'Running', ready = true, extra: Partial<V1VirtualMachineInstance['metadata']> = {}): V1VirtualMachineInstance => ({
  metadata: { name: 'web-3', uid, ...extra },
  spec: { domain: { devices: {} } },
  status: { phase, nodeName: 'n1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const readyVM = vm({ ready: true, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T1 }] as never });
const observe = (over: Partial<Parameters<typeof observeVM>[0]> = {}) =>
  observeVM({ vm: readyVM, index: 3, vmi: vmi('a'), node: undefined, restartedVmiUid: undefined, change: 'none', ...over });

describe('observeVM', () => {
  it('reads a ready VM', () => {
    expect(observe()).toMatchObject({ name: 'web-3', index: 3, revision: 'r1', ready: true, readySince: Date.parse(T1), restarting: false, deleting: false, startFailureCount: 0, failed: false });
  });

  it('does not trust a Ready VM status whose VMI is being deleted, missing or not running', () => {
    expect(observe({ vmi: vmi('a', 'Running', true, { deletionTimestamp: T1 }) }).ready).toBe(false);
    expect(observe({ vmi: undefined }).ready).toBe(false);
    expect(observe({ vmi: vmi('a', 'Scheduled', false) }).ready).toBe(false);
  });

  it('counts a restart as under way until a new VMI shows', () => {
    expect(observe({ restartedVmiUid: 'a' })).toMatchObject({ restarting: true, ready: false });
    expect(observe({ restartedVmiUid: 'a', vmi: undefined })).toMatchObject({ restarting: true });
    expect(observe({ restartedVmiUid: 'a', vmi: vmi('b') })).toMatchObject({ restarting: false, ready: true });
  });

  it('reads start failures, failure statuses and RestartRequired', () => {
    const failing = vm({ printableStatus: 'CrashLoopBackOff', startFailure: { consecutiveFailCount: 3 }, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: T1 }, { type: 'RestartRequired', status: 'True' }] as never });
    expect(observe({ vm: failing, vmi: undefined })).toMatchObject({ ready: false, failed: true, startFailureCount: 3, restartPending: false, notReadySince: Date.parse(T1) });
    expect(observe({ vm: failing, vmi: vmi('a') })).toMatchObject({ restartPending: true });
  });

  it('takes RestartRequired for a running VMI only: one written before the VMI that a restart just started is stale', () => {
    // The VM status the watch shows still says RestartRequired (and Ready) from the old VMI; the new one is starting.
    const stale = vm({ ready: true, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }, { type: 'RestartRequired', status: 'True', lastTransitionTime: T1 }] as never });
    expect(observe({ vm: stale, vmi: vmi('b', 'Pending', false) })).toMatchObject({ restartPending: false, ready: false, restarting: false });
    expect(observe({ vm: stale, vmi: vmi('b', 'Scheduled', false) }).restartPending).toBe(false);
    expect(observe({ vm: stale, vmi: vmi('a', 'Running', true, { deletionTimestamp: T1 }) }).restartPending).toBe(false);
    expect(observe({ vm: stale, vmi: vmi('a') }).restartPending).toBe(true);
  });

  it('notes when the node of its VMI was lost', () => {
    const lost: V1Node = { status: { conditions: [{ type: 'Ready', status: 'Unknown', lastTransitionTime: T1 as unknown as Date, reason: 'NodeStatusUnknown' }] } };
    expect(nodeLostSince(lost)).toBe(Date.parse(T1));
    expect(nodeLostSince({ status: { conditions: [{ type: 'Ready', status: 'True' }] } } as V1Node)).toBeUndefined();
    expect(observe({ node: lost }).nodeLostSince).toBe(Date.parse(T1));
  });
});
