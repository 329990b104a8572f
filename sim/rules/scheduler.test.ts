import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { isNodeReady, isUnschedulableFor, matchesNodeSelector, matchesRequiredNodeAffinity, untoleratedTaints } from '../../controller/core/placement.ts';
import { chooseNode, effectiveNodeSelector, freeResources, unschedulableMessage, type ScheduleInput } from './scheduler.ts';
import type { ResourceRequests } from './resources.ts';

const Gi = 1024 ** 3;

interface NodeOpts {
  labels?: Record<string, string>;
  taints?: V1Taint[];
  unschedulable?: boolean;
  ready?: boolean;
  cpu?: string;
  memory?: string;
}

function node(name: string, o: NodeOpts = {}): V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: {
      allocatable: { cpu: o.cpu ?? '8', memory: o.memory ?? '32Gi' },
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

const small: ResourceRequests = { cpuMillis: 100, memoryBytes: 2 * Gi };

function input(nodes: V1Node[], extra: Partial<ScheduleInput> = {}): ScheduleInput {
  return { spec: {}, requests: small, nodes, usage: new Map(), ...extra };
}

describe('chooseNode', () => {
  it('picks the node with the largest free memory fraction', () => {
    const usage = new Map([
      ['a', { cpuMillis: 0, memoryBytes: 20 * Gi }],
      ['b', { cpuMillis: 0, memoryBytes: 4 * Gi }],
    ]);
    // a: 10/32 free after, b: 26/32, c: 6/8
    expect(chooseNode(input([node('a'), node('b'), node('c', { memory: '8Gi' })], { usage }))).toEqual({ node: 'b' });
  });
  it('compares fractions, not absolute free memory', () => {
    // big: 64Gi with 40Gi used (~34% free after), little: 8Gi empty (75% free after)
    const usage = new Map([['big', { cpuMillis: 0, memoryBytes: 40 * Gi }]]);
    expect(chooseNode(input([node('big', { memory: '64Gi' }), node('little', { memory: '8Gi' })], { usage }))).toEqual({ node: 'little' });
  });
  it('breaks ties by node name', () => {
    expect(chooseNode(input([node('n3'), node('n1'), node('n2')]))).toEqual({ node: 'n1' });
  });
  it('honours nodeSelector, affinity, taints, cordons and readiness', () => {
    const nodes = [
      node('cordoned', { labels: { zone: 'a' }, unschedulable: true }),
      node('notready', { labels: { zone: 'a' }, ready: false }),
      node('tainted', { labels: { zone: 'a' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
      node('wrongzone', { labels: { zone: 'b' } }),
      node('good', { labels: { zone: 'a', disk: 'ssd' }, memory: '8Gi' }),
    ];
    const spec: V1VirtualMachineInstanceSpec = {
      domain: { devices: {} },
      nodeSelector: { zone: 'a' },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } } },
    };
    expect(chooseNode(input(nodes, { spec }))).toEqual({ node: 'good' });
  });
  it('lets a toleration admit a tainted node', () => {
    const tainted = node('tainted', { taints: [{ key: 'dedicated', value: 'vms', effect: 'NoExecute' }] });
    expect(chooseNode(input([tainted]))).toEqual({ unschedulable: '0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: vms}.' });
    expect(chooseNode(input([tainted], { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vms', effect: 'NoExecute' }] } }))).toEqual({ node: 'tainted' });
  });
  it('ignores PreferNoSchedule taints', () => {
    expect(chooseNode(input([node('soft', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })]))).toEqual({ node: 'soft' });
  });
  it('never picks an excluded node', () => {
    expect(chooseNode(input([node('src'), node('dst', { memory: '4Gi' })], { exclude: ['src'] }))).toEqual({ node: 'dst' });
    expect(chooseNode(input([node('src')], { exclude: ['src'] }))).toEqual({ unschedulable: "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules." });
  });
  it('applies a migration addedNodeSelector, which cannot override the VMI selector', () => {
    const nodes = [node('a', { labels: { zone: 'a', rack: '1' } }), node('b', { labels: { zone: 'b', rack: '2' } })];
    expect(chooseNode(input(nodes, { addedNodeSelector: { rack: '2' } }))).toEqual({ node: 'b' });
    expect(chooseNode(input(nodes, { spec: { nodeSelector: { zone: 'a' } }, addedNodeSelector: { zone: 'b' } }))).toEqual({ node: 'a' });
    expect(effectiveNodeSelector({ zone: 'a' }, { zone: 'b', rack: '1' })).toEqual({ zone: 'a', rack: '1' });
  });
  it('checks CPU and memory capacity against allocatable minus usage', () => {
    const usage = new Map([['a', { cpuMillis: 7950, memoryBytes: 0 }]]);
    expect(chooseNode(input([node('a')], { usage }))).toEqual({ unschedulable: '0/1 nodes are available: 1 Insufficient cpu.' });
    expect(chooseNode(input([node('a', { memory: '2Gi' })], { requests: { cpuMillis: 100, memoryBytes: 2 * Gi } }))).toEqual({ node: 'a' });
    expect(chooseNode(input([node('a', { memory: '2Gi', cpu: '50m' })], { requests: { cpuMillis: 100, memoryBytes: 2 * Gi + 1 } }))).toEqual({
      unschedulable: '0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.',
    });
  });
  it('explains unschedulability like the Kubernetes scheduler', () => {
    const nodes = [
      node('n1', { labels: { zone: 'b' } }),
      node('n2', { labels: { zone: 'b' } }),
      node('n3', { labels: { zone: 'a' }, memory: '1Gi' }),
      node('n4', { labels: { zone: 'a' }, memory: '1Gi' }),
      node('n5', { labels: { zone: 'a' }, memory: '1Gi' }),
    ];
    expect(chooseNode(input(nodes, { spec: { nodeSelector: { zone: 'a' } } }))).toEqual({
      unschedulable: "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 3 Insufficient memory.",
    });
    expect(chooseNode(input([node('x', { ready: false }), node('y', { unschedulable: true })]))).toEqual({
      unschedulable: '0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.',
    });
    expect(chooseNode(input([]))).toEqual({ unschedulable: 'no nodes available to schedule pods' });
  });
  it('formats the histogram sorted as strings', () => {
    expect(unschedulableMessage(3, [['b reason'], ['a reason'], ['b reason']])).toBe('0/3 nodes are available: 1 a reason, 2 b reason.');
  });
  it('treats a node without allocatable resources as full', () => {
    const bare: V1Node = { metadata: { name: 'bare' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    expect(freeResources(bare, new Map())).toEqual({ cpuMillis: 0, memoryBytes: 0 });
    expect('unschedulable' in chooseNode(input([bare]))).toBe(true);
  });
});

describe('chooseNode properties', () => {
  const zones = ['a', 'b', 'c'];
  const arbNode = (name: string) =>
    fc
      .record({
        zone: fc.constantFrom(...zones),
        tainted: fc.boolean(),
        unschedulable: fc.boolean(),
        ready: fc.boolean(),
        cpu: fc.integer({ min: 0, max: 4000 }),
        memGi: fc.integer({ min: 0, max: 16 }),
        usedCpu: fc.integer({ min: 0, max: 4000 }),
        usedMemGi: fc.integer({ min: 0, max: 16 }),
      })
      .map((o) => ({
        node: node(name, {
          labels: { zone: o.zone },
          taints: o.tainted ? [{ key: 'dedicated', effect: 'NoSchedule' }] : undefined,
          unschedulable: o.unschedulable,
          ready: o.ready,
          cpu: `${o.cpu}m`,
          memory: `${o.memGi}Gi`,
        }),
        used: { cpuMillis: o.usedCpu, memoryBytes: o.usedMemGi * Gi },
      }));
  const arbInput = fc
    .record({
      nodes: fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbNode(`node-${i}`)))),
      zone: fc.option(fc.constantFrom(...zones), { nil: undefined }),
      notZone: fc.option(fc.constantFrom(...zones), { nil: undefined }),
      tolerate: fc.boolean(),
      cpuMillis: fc.integer({ min: 0, max: 2000 }),
      memGi: fc.integer({ min: 0, max: 8 }),
      exclude: fc.array(fc.constantFrom('node-0', 'node-1', 'node-2'), { maxLength: 2 }),
      added: fc.option(fc.constantFrom(...zones), { nil: undefined }),
    })
    .map(
      (o): ScheduleInput => ({
        spec: {
          nodeSelector: o.zone ? { zone: o.zone } : undefined,
          affinity: o.notZone
            ? { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: [o.notZone] }] }] } } }
            : undefined,
          tolerations: o.tolerate ? [{ key: 'dedicated', operator: 'Exists' }] : undefined,
        },
        requests: { cpuMillis: o.cpuMillis, memoryBytes: o.memGi * Gi },
        nodes: o.nodes.map((n) => n.node),
        usage: new Map(o.nodes.map((n) => [n.node.metadata!.name!, n.used])),
        exclude: o.exclude,
        addedNodeSelector: o.added ? { zone: o.added } : undefined,
      }),
    );

  function satisfiesAll(i: ScheduleInput, n: V1Node): boolean {
    const free = freeResources(n, i.usage);
    return (
      isNodeReady(n) &&
      !isUnschedulableFor(i.spec.tolerations, n) &&
      untoleratedTaints(i.spec.tolerations, n).length === 0 &&
      matchesNodeSelector(effectiveNodeSelector(i.spec.nodeSelector, i.addedNodeSelector), n) &&
      matchesRequiredNodeAffinity(i.spec.affinity, n) &&
      free.cpuMillis >= i.requests.cpuMillis &&
      free.memoryBytes >= i.requests.memoryBytes &&
      !(i.exclude ?? []).includes(n.metadata!.name!)
    );
  }

  it('a chosen node satisfies every constraint and is never excluded', () => {
    fc.assert(
      fc.property(arbInput, (i) => {
        const r = chooseNode(i);
        if ('node' in r) {
          const chosen = i.nodes.find((n) => n.metadata!.name === r.node)!;
          expect(satisfiesAll(i, chosen)).toBe(true);
          expect(i.exclude).not.toContain(r.node);
        }
      }),
      { numRuns: 500 },
    );
  });
  it('is unschedulable exactly when no node satisfies every constraint', () => {
    fc.assert(
      fc.property(arbInput, (i) => {
        const r = chooseNode(i);
        expect('unschedulable' in r).toBe(!i.nodes.some((n) => satisfiesAll(i, n)));
        if ('unschedulable' in r && i.nodes.length > 0) {
          // every rejected node is counted at least once
          const counted = [...r.unschedulable.matchAll(/(\d+) /g)].slice(1).reduce((sum, m) => sum + Number(m[1]), 0);
          expect(counted).toBeGreaterThanOrEqual(i.nodes.length);
          expect(r.unschedulable.startsWith(`0/${i.nodes.length} nodes are available: `)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
  it('is deterministic and independent of node order', () => {
    fc.assert(
      fc.property(arbInput, (i) => {
        const reversed = { ...i, nodes: [...i.nodes].reverse() };
        const a = chooseNode(i);
        const b = chooseNode(reversed);
        if ('node' in a) expect(b).toEqual(a);
        else expect('unschedulable' in b).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
