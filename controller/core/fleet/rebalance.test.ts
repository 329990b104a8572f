import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { planRebalance, rebalanceSpecOf, type RebalanceInput, type RebalanceSpec, type RebalanceVM } from './rebalance.ts';

const NOW = 50_000_000;
const MIN = 60_000;
const KEY = 'topology.kubernetes.io/zone';

function spec(over: Partial<RebalanceSpec> = {}): RebalanceSpec {
  return { enabled: true, topologyKey: KEY, maxSkew: 1, coolDownMs: 10 * MIN, ...over };
}
/** VMs web-<first>… in the given domains, in order. */
function fleet(layout: Record<string, number>, over: Partial<RebalanceVM> = {}, first = 0): RebalanceVM[] {
  let index = first;
  return Object.entries(layout).flatMap(([domain, n]) => Array.from({ length: n }, () => ({ name: `web-${index}`, index: index++, domain, movable: true, ...over })));
}
const rebalance = (vms: RebalanceVM[], over: Partial<RebalanceInput> = {}) => planRebalance({ spec: spec(), domains: ['a', 'b', 'c'], vms, now: NOW, ...over });
const moves = (p: ReturnType<typeof planRebalance>) => p.moves.map((m) => `${m.vm}→${m.to}`);

describe('rebalance settings', () => {
  const base = { selector: { matchLabels: {} }, image: { name: 'i', volume: 'v', version: 'x' }, template: { spec: { template: {} } } };
  it('applies the schema defaults: disabled, by zone, skew 1, 10m cool-down', () => {
    expect(rebalanceSpecOf(base)).toEqual({ enabled: false, topologyKey: KEY, maxSkew: 1, coolDownMs: 10 * MIN });
  });
  it('reads the fleet spec', () => {
    expect(rebalanceSpecOf({ ...base, remediation: { rebalance: { enabled: true, topologyKey: 'rack', maxSkew: 3, coolDown: '90s' } } })).toEqual({ enabled: true, topologyKey: 'rack', maxSkew: 3, coolDownMs: 90_000 });
  });
});

describe('planRebalance', () => {
  it('does nothing when disabled or with fewer than two domains', () => {
    const vms = fleet({ a: 4 });
    expect(rebalance(vms, { spec: spec({ enabled: false }) })).toEqual({ excess: 0, moves: [] });
    expect(rebalance(vms, { domains: ['a'] })).toEqual({ excess: 0, moves: [] });
    expect(rebalance(vms, { domains: [] })).toEqual({ excess: 0, moves: [] });
  });

  it('leaves a spread within maxSkew alone, whatever the cool-down', () => {
    expect(rebalance(fleet({ a: 2, b: 1, c: 1 }))).toEqual({ excess: 0, moves: [] });
    expect(rebalance(fleet({ a: 3, b: 1, c: 2 }), { spec: spec({ maxSkew: 2 }), lastMoveAt: NOW })).toEqual({ excess: 0, moves: [] });
  });

  it('moves the highest-index movable VM from the fullest domain to the emptiest, recounting after each move', () => {
    const p = rebalance(fleet({ a: 4, b: 1 }));
    expect(p.excess).toBe(2);
    // a:4 b:1 c:0 → a:3 b:1 c:1 → a:2 b:2 c:1 (ties: the first domain by name is the emptiest).
    expect(moves(p)).toEqual(['web-3→c', 'web-2→b']);
    expect(p.moves[0]!.message).toBe(`${KEY}=a has 4 VMs and c has 0 (maxSkew 1): move to c`);
    expect(p.moves[1]!.message).toBe(`${KEY}=a has 3 VMs and b has 1 (maxSkew 1): move to b`);
    expect(p.nextCheckAt).toBeUndefined();
  });

  it('counts an eligible domain without VMs as empty, and ignores VMs outside the eligible domains', () => {
    const vms = [...fleet({ a: 3 }), ...fleet({ gone: 5 }, {}, 3), { name: 'web-9', index: 9, domain: undefined, movable: true }];
    const p = rebalance(vms, { domains: ['a', 'b'] });
    expect(p.excess).toBe(1);
    expect(moves(p)).toEqual(['web-2→b']);
  });

  it('spreads over several empty domains, the first by name first', () => {
    expect(moves(rebalance(fleet({ a: 5 }), { domains: ['d', 'a', 'c', 'b'] }))).toEqual(['web-4→b', 'web-3→c', 'web-2→d']);
  });

  it('respects a larger maxSkew', () => {
    const p = rebalance(fleet({ a: 5, b: 0, c: 1 }), { spec: spec({ maxSkew: 2 }) });
    expect(p.excess).toBe(2);
    expect(moves(p)).toEqual(['web-4→b', 'web-3→b']);
  });

  it('moves only movable VMs, and reports the excess when none can move', () => {
    const vms = fleet({ a: 3 }).map((v) => ({ ...v, movable: v.index !== 2 }));
    expect(moves(rebalance(vms, { domains: ['a', 'b'] }))).toEqual(['web-1→b']);
    expect(rebalance(fleet({ a: 3 }, { movable: false }), { domains: ['a', 'b'] })).toEqual({ excess: 1, moves: [] });
  });

  it('waits for the cool-down after the previous move, then moves', () => {
    const vms = fleet({ a: 3 });
    expect(rebalance(vms, { lastMoveAt: NOW - 4 * MIN })).toEqual({ excess: 2, moves: [], nextCheckAt: NOW + 6 * MIN });
    expect(moves(rebalance(vms, { lastMoveAt: NOW - 10 * MIN }))).toEqual(['web-2→b', 'web-1→c']);
  });
});

// ---- Properties. ----

const inputArb = fc
  .record({
    domains: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 0, maxLength: 5 }),
    vms: fc.array(fc.record({ domain: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'x'), { nil: undefined }), movable: fc.boolean() }), { maxLength: 20 }),
    maxSkew: fc.integer({ min: 1, max: 3 }),
    lastMoveAgo: fc.option(fc.integer({ min: 0, max: 20 * MIN }), { nil: undefined }),
  })
  .map((r) => ({
    spec: spec({ maxSkew: r.maxSkew }),
    domains: r.domains,
    vms: r.vms.map((v, i) => ({ name: `web-${i}`, index: i, ...v })),
    ...(r.lastMoveAgo !== undefined ? { lastMoveAt: NOW - r.lastMoveAgo } : {}),
    now: NOW,
  }));

const countsOf = (domains: readonly string[], vms: readonly RebalanceVM[]) => domains.map((d) => vms.filter((v) => v.domain === d).length);
const skewOf = (counts: number[]) => (counts.length === 0 ? 0 : Math.max(...counts) - Math.min(...counts));
const applyMoves = (vms: readonly RebalanceVM[], p: ReturnType<typeof planRebalance>) =>
  vms.map((v) => {
    const m = p.moves.find((x) => x.vm === v.name);
    return m ? { ...v, domain: m.to } : v;
  });

describe('planRebalance: properties', () => {
  it('moves each movable VM at most once, between eligible domains, never more VMs than the excess, never during the cool-down', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const p = planRebalance(input);
        expect(planRebalance(structuredClone(input))).toEqual(p);
        expect(new Set(p.moves.map((m) => m.vm)).size).toBe(p.moves.length);
        expect(p.moves.length).toBeLessThanOrEqual(p.excess);
        for (const m of p.moves) {
          const v = input.vms.find((x) => x.name === m.vm)!;
          expect(v.movable).toBe(true);
          expect(input.domains).toContain(v.domain);
          expect(input.domains).toContain(m.to);
          expect(m.to).not.toBe(v.domain);
        }
        const cooling = input.lastMoveAt !== undefined && NOW < input.lastMoveAt + input.spec.coolDownMs;
        if (cooling) expect(p.moves).toEqual([]);
        expect(p.nextCheckAt !== undefined).toBe(cooling && p.excess > 0);
        const counts = countsOf(input.domains, input.vms);
        expect(p.excess === 0).toBe(input.domains.length < 2 || skewOf(counts) <= input.spec.maxSkew);
      }),
      { numRuns: 2000 },
    );
  });

  it('never widens the spread; with every VM movable it brings it within maxSkew, and a re-plan then finds nothing to do', () => {
    fc.assert(
      fc.property(inputArb, fc.boolean(), (input0, allMovable) => {
        const input = { ...input0, vms: allMovable ? input0.vms.map((v) => ({ ...v, movable: true })) : input0.vms };
        delete input.lastMoveAt;
        const p = planRebalance(input);
        const after = applyMoves(input.vms, p);
        const before = skewOf(countsOf(input.domains, input.vms));
        const skew = skewOf(countsOf(input.domains, after));
        expect(skew).toBeLessThanOrEqual(before);
        if (allMovable && input.domains.length >= 2) {
          expect(skew).toBeLessThanOrEqual(input.spec.maxSkew);
          expect(p.moves.length).toBe(p.excess);
          expect(planRebalance({ ...input, vms: after, lastMoveAt: NOW - input.spec.coolDownMs })).toEqual({ excess: 0, moves: [] });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
