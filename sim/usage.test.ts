import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Usage } from './usage.ts';

const R = { cpuMillis: 100, memoryBytes: 1024 };

it('books an assumed node until an event shows the VMI there', () => {
  const u = new Usage();
  u.assume('ns/a', 'n1', R);
  expect(u.perNode().get('n1')).toMatchObject({ cpuMillis: 100 });
  u.observe('ns/a', [], R); // an older event, from before the placement was written
  expect(u.perNode().get('n1')).toMatchObject({ cpuMillis: 100 });
  u.observe('ns/a', ['n1'], R);
  expect(u.perNode().get('n1')).toMatchObject({ cpuMillis: 100, memoryBytes: 1024 });
  expect(u.vmisOn('n1')).toEqual(['ns/a']);
  u.forget('ns/a');
  expect(u.perNode().size).toBe(0);
});

it('counts a migrating VMI on both its nodes', () => {
  const u = new Usage();
  u.observe('ns/a', ['n1', 'n2'], R);
  expect(u.vmisOn('n1')).toEqual(['ns/a']);
  expect(u.vmisOn('n2')).toEqual(['ns/a']);
});

it('always sums to what the VMIs hold, whatever the sequence of events', () => {
  const op = fc.record({
    kind: fc.constantFrom('observe', 'assume', 'unassume', 'forget'),
    vmi: fc.constantFrom('a', 'b', 'c'),
    nodes: fc.subarray(['n1', 'n2', 'n3']),
  });
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
    const u = new Usage();
    const model = new Map<string, { observed: string[]; assumed?: string }>();
    for (const { kind, vmi, nodes } of ops) {
      const m = model.get(vmi) ?? { observed: [] };
      if (kind === 'observe') {
        u.observe(vmi, nodes, R);
        m.observed = nodes;
        if (m.assumed && nodes.includes(m.assumed)) m.assumed = undefined;
      } else if (kind === 'assume' && nodes[0]) {
        u.assume(vmi, nodes[0], R);
        m.assumed = nodes[0];
      } else if (kind === 'unassume') {
        u.unassume(vmi);
        m.assumed = undefined;
      } else if (kind === 'forget') {
        u.forget(vmi);
        m.observed = [];
        m.assumed = undefined;
      }
      model.set(vmi, m);
    }
    for (const node of ['n1', 'n2', 'n3']) {
      const holders = [...model].filter(([, m]) => m.observed.includes(node) || m.assumed === node).map(([k]) => k).sort();
      expect(u.vmisOn(node).sort()).toEqual(holders);
      expect(u.perNode().get(node)?.cpuMillis ?? 0).toBe(holders.length * 100);
    }
  }));
});
