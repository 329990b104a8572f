// Differential test: node placement as judged by this repo's TypeScript (the controller's
// core/placement.ts and the simulator's scheduler filters) against Kubernetes' own Go code
// (k8s.io/component-helpers/scheduling/corev1 and k8s.io/api's toleration matching, as the
// kube-scheduler's NodeUnschedulable, TaintToleration and NodeAffinity filters call them), run as
// hack/placement-oracle. Thousands of generated node/VMI pairs; every disagreement fails.
//
// The oracle is built from the Go module proxy into ~/.cache/virtfleet by hack/build-tools.sh on
// first use (seconds once Go's module and build caches are warm). PLACEMENT_DIFF_SEED and
// PLACEMENT_DIFF_RUNS override the fixed seed and the number of pairs.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import type { V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Taint, V1Toleration } from '@kubernetes/client-node';
import { buildTools } from '../local/assets.ts';
import { filterReasons, type ScheduleInput } from '../../sim/rules/scheduler.ts';
import { placementViolations, type Affinity, type PlacementSpec } from './placement.ts';

const SEED = Number(process.env.PLACEMENT_DIFF_SEED ?? 20260416);
const RUNS = Number(process.env.PLACEMENT_DIFF_RUNS ?? 20000);

interface Case {
  node: V1Node;
  placement: PlacementSpec;
}

interface Verdict {
  unschedulable: boolean;
  untoleratedTaints: V1Taint[];
  firstUntoleratedTaint: V1Taint | null;
  nodeSelector: boolean;
  requiredNodeAffinity: boolean;
  nodeAffinity: boolean;
  firstFailure: '' | 'NodeUnschedulable' | 'TaintToleration' | 'NodeAffinity';
  fits: boolean;
}

// --- Generators ---------------------------------------------------------------------------
// Small pools so that labels, selectors, taints and tolerations collide often.

const LABEL_KEYS = ['zone', 'rack', 'disk', 'example.com/tier', 'kubernetes.io/hostname', 'cpus', 'gen'];
/** Keys a label selector refuses (labels.NewRequirement: not a qualified name). */
const INVALID_LABEL_KEYS = ['', 'bad key', '-lead', 'a/b/c', 'example.com/', 'x'.repeat(64)];
/** Valid label values, numeric ones included for Gt/Lt (9223372036854775807 is int64's max). */
const LABEL_VALUES = ['', 'a', 'b', 'ssd', '0', '1', '7', '42', '010', '9223372036854775807', '9223372036854775808'];
/** Values that are no valid label value (a selector refuses them), some of them integers. */
const INVALID_LABEL_VALUES = ['-3', '+5', 'x y', '-9223372036854775808', 'a'.repeat(64), '1.5', 'ssd_'];
const NODE_NAMES = ['node-a', 'node-b', 'n1'];
const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'];
const TAINT_KEYS = ['dedicated', 'example.com/gpu', 'node.kubernetes.io/unschedulable', 'node.kubernetes.io/unreachable'];
const TAINT_VALUES = ['', 'a', 'b', '5'];
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

const nodeArb: fc.Arbitrary<V1Node> = fc
  .record({
    name: fc.constantFrom(...NODE_NAMES),
    labels: fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 5 }),
    taints: fc.option(
      fc.array(fc.record({ key: fc.constantFrom(...TAINT_KEYS), value: fc.option(fc.constantFrom(...TAINT_VALUES), { nil: undefined }), effect: fc.constantFrom(...EFFECTS) }, { requiredKeys: ['key', 'effect'] }), { maxLength: 3 }),
      { nil: undefined },
    ),
    unschedulable: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: fc.constant(false) }, { weight: 2, arbitrary: fc.constant(true) }),
  })
  .map(({ name, labels, taints, unschedulable }) => ({
    metadata: { name, labels },
    spec: { ...(taints ? { taints } : {}), ...(unschedulable !== undefined ? { unschedulable } : {}) },
    // Ready, roomy nodes: readiness and capacity are the simulator's own rules, not compared here.
    status: { allocatable: { cpu: '64', memory: '256Gi' }, conditions: [{ type: 'Ready', status: 'True' }] },
  }));

/** Values fitting the operator (mostly) or any list, malformed ones included. */
function valuesFor(operator: string, pool: string[]): fc.Arbitrary<string[] | undefined> {
  const wellFormed =
    operator === 'In' || operator === 'NotIn'
      ? fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 3 })
      : operator === 'Gt' || operator === 'Lt'
        ? fc.tuple(fc.constantFrom(...pool)).map((v) => [...v])
        : fc.constantFrom<string[] | undefined>(undefined, []);
  const anyList = fc.option(fc.array(fc.constantFrom(...pool, ...INVALID_LABEL_VALUES), { maxLength: 3 }), { nil: undefined });
  return fc.oneof({ weight: 6, arbitrary: wellFormed }, { weight: 1, arbitrary: anyList });
}

const expressionArb: fc.Arbitrary<V1NodeSelectorRequirement> = fc
  .record({
    key: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...LABEL_KEYS) }, { weight: 1, arbitrary: fc.constantFrom(...INVALID_LABEL_KEYS) }),
    operator: fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...OPERATORS) }, { weight: 1, arbitrary: fc.constantFrom('Equals', 'in', '') }),
  })
  .chain(({ key, operator }) => valuesFor(operator, LABEL_VALUES).map((values) => ({ key, operator, ...(values ? { values } : {}) })));

const fieldArb: fc.Arbitrary<V1NodeSelectorRequirement> = fc
  .record({
    key: fc.oneof({ weight: 10, arbitrary: fc.constant('metadata.name') }, { weight: 1, arbitrary: fc.constantFrom('metadata.namespace', 'spec.unschedulable', '') }),
    operator: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('In', 'NotIn') }, { weight: 1, arbitrary: fc.constantFrom(...OPERATORS) }),
  })
  .chain(({ key, operator }) =>
    fc
      .oneof(
        { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...NODE_NAMES, '')).map((v) => [...v]) },
        { weight: 1, arbitrary: fc.option(fc.array(fc.constantFrom(...NODE_NAMES, ''), { maxLength: 3 }), { nil: undefined }) },
      )
      .map((values) => ({ key, operator, ...(values ? { values } : {}) })),
  );

const termArb: fc.Arbitrary<V1NodeSelectorTerm> = fc.record(
  {
    matchExpressions: fc.array(expressionArb, { maxLength: 3 }),
    matchFields: fc.array(fieldArb, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const affinityArb: fc.Arbitrary<Affinity | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom<Affinity>({}, { nodeAffinity: {} }, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }) },
  {
    weight: 12,
    arbitrary: fc.array(termArb, { minLength: 1, maxLength: 3 }).map((nodeSelectorTerms) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } })),
  },
);

const tolerationArb: fc.Arbitrary<V1Toleration> = fc.record(
  {
    key: fc.constantFrom('', ...TAINT_KEYS),
    operator: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('', 'Equal', 'Exists') }, { weight: 1, arbitrary: fc.constantFrom('Lt', 'Gt', 'exists') }),
    value: fc.constantFrom(...TAINT_VALUES),
    effect: fc.constantFrom('', ...EFFECTS),
    tolerationSeconds: fc.constantFrom(0, 300),
  },
  { requiredKeys: [] },
);

const placementArb: fc.Arbitrary<PlacementSpec> = fc
  .record({
    nodeSelector: fc.option(fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 2 }), { nil: undefined, freq: 2 }),
    affinity: affinityArb,
    tolerations: fc.option(fc.array(tolerationArb, { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ nodeSelector, affinity, tolerations }) => ({
    ...(nodeSelector ? { nodeSelector } : {}),
    ...(affinity ? { affinity } : {}),
    ...(tolerations ? { tolerations } : {}),
  }));

const caseArb: fc.Arbitrary<Case> = fc.record({ node: nodeArb, placement: placementArb });

// --- The oracle ---------------------------------------------------------------------------

let oracle: string;

function judge(cases: Case[]): Verdict[] {
  const input = cases.map((c) => JSON.stringify(c)).join('\n') + '\n';
  const r = spawnSync(oracle, [], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`placement-oracle exited ${r.status ?? r.signal}: ${r.stderr}`);
  const verdicts = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as Verdict);
  if (verdicts.length !== cases.length) throw new Error(`placement-oracle judged ${verdicts.length} of ${cases.length} cases`);
  return verdicts;
}

/** The simulator's first filter reason, as the plugin that fails first. */
function simFirstFailure(reasons: string[]): { plugin: Verdict['firstFailure']; taint?: string } {
  const [first] = reasons;
  if (first === undefined) return { plugin: '' };
  if (first === 'node(s) were unschedulable') return { plugin: 'NodeUnschedulable' };
  if (first === "node(s) didn't match Pod's node affinity/selector") return { plugin: 'NodeAffinity' };
  const taint = /^node\(s\) had untolerated taint \{(.*): (.*)\}$/.exec(first);
  if (taint) return { plugin: 'TaintToleration', taint: `${taint[1]}=${taint[2]}` };
  throw new Error(`unexpected simulator filter reason: ${first}`);
}

/** Every way the TypeScript disagrees with the oracle on one case. */
function disagreements(c: Case, v: Verdict): string[] {
  const out: string[] = [];
  const check = (what: string, ts: unknown, go: unknown) => {
    if (JSON.stringify(ts) !== JSON.stringify(go)) out.push(`${what}: ts=${JSON.stringify(ts)} go=${JSON.stringify(go)}`);
  };

  // The controller's drift detection (core/placement.ts), check by check.
  const violations = placementViolations(c.placement, c.node);
  const kinds = new Set(violations.map((x) => x.kind));
  check('controller Unschedulable', kinds.has('Unschedulable'), v.unschedulable);
  check('controller NodeSelector', !kinds.has('NodeSelector'), v.nodeSelector);
  check('controller NodeAffinity', !kinds.has('NodeAffinity'), v.requiredNodeAffinity);
  const taintViolations = violations.filter((x) => x.kind === 'Taint').map((x) => x.message.replace(/^.* untolerated taint /, ''));
  const expectedTaints = v.untoleratedTaints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`);
  check('controller untolerated taints', taintViolations, expectedTaints);
  check('controller fits', violations.length === 0, v.fits);

  // The simulator's scheduler filters (sim/rules/scheduler.ts): verdict and first failing plugin.
  // The generated operators are strings, KubeVirt's types enumerate them: the same JSON either way.
  const spec = c.placement as ScheduleInput['spec'];
  const reasons = filterReasons({ spec, requests: { cpuMillis: 0, memoryBytes: 0 }, nodes: [c.node], usage: new Map() }, c.node);
  const sim = simFirstFailure(reasons);
  check('simulator first failing filter', sim.plugin, v.firstFailure);
  if (sim.plugin === 'TaintToleration' && v.firstFailure === 'TaintToleration') {
    const go = v.firstUntoleratedTaint!;
    check('simulator untolerated taint', sim.taint, `${go.key}=${go.value ?? ''}`);
  }
  return out;
}

describe('placement agrees with Kubernetes (differential, hack/placement-oracle)', () => {
  beforeAll(async () => {
    [oracle] = (await buildTools(['placement-oracle'])) as [string];
  }, 15 * 60 * 1000);

  it(`judges ${RUNS} generated node/VMI pairs as the kube-scheduler's filters do (seed ${SEED})`, () => {
    console.log(`placement differential: seed ${SEED}, ${RUNS} pairs (PLACEMENT_DIFF_SEED / PLACEMENT_DIFF_RUNS to change)`);
    const cases = fc.sample(caseArb, { seed: SEED, numRuns: RUNS });
    const verdicts = judge(cases);

    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    const byCheck = new Map<string, number>();
    const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    cases.forEach((c, i) => {
      const v = verdicts[i]!;
      count(outcomes, v.firstFailure || 'fits');
      const d = disagreements(c, v);
      for (const what of d) count(byCheck, what.replace(/:.*/, ''));
      if (d.length > 0) failures.push(`case ${i}: ${d.join('; ')}\n  ${JSON.stringify(c.placement)}\n  node ${JSON.stringify({ metadata: c.node.metadata, spec: c.node.spec })}`);
    });
    console.log(`placement differential: ${RUNS - failures.length}/${RUNS} agree; oracle outcomes ${JSON.stringify(Object.fromEntries(outcomes))}` +
        (byCheck.size > 0 ? `; disagreements by check ${JSON.stringify(Object.fromEntries(byCheck))}` : ''),
    );

    // The generator must reach every outcome often, or agreement proves little.
    for (const outcome of ['fits', 'NodeUnschedulable', 'TaintToleration', 'NodeAffinity']) {
      expect(outcomes.get(outcome) ?? 0).toBeGreaterThan(RUNS / 50);
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it('covers every operator, effect and shape the cases are meant to', () => {
    const cases = fc.sample(caseArb, { seed: SEED, numRuns: RUNS });
    const seen = new Set<string>();
    for (const { node, placement } of cases) {
      if (placement.nodeSelector && Object.keys(placement.nodeSelector).length > 0) seen.add('nodeSelector');
      const terms = placement.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      if (terms.length > 1) seen.add('several terms');
      for (const t of terms) {
        if (!t.matchExpressions?.length && !t.matchFields?.length) seen.add('empty term');
        if ((t.matchExpressions?.length ?? 0) > 1) seen.add('several expressions');
        for (const e of t.matchExpressions ?? []) seen.add(`expression ${e.operator}`);
        for (const f of t.matchFields ?? []) seen.add(`field ${f.key} ${f.operator}`);
      }
      for (const t of node.spec?.taints ?? []) seen.add(`taint ${t.effect}`);
      for (const t of placement.tolerations ?? []) {
        seen.add(`toleration ${t.operator || 'Equal'}${t.key ? '' : ' empty key'}${t.effect ? '' : ' any effect'}`);
      }
    }
    const wanted = [
      'nodeSelector', 'several terms', 'empty term', 'several expressions',
      ...OPERATORS.map((o) => `expression ${o}`),
      'field metadata.name In', 'field metadata.name NotIn',
      ...EFFECTS.map((e) => `taint ${e}`),
      'toleration Equal', 'toleration Exists', 'toleration Exists empty key', 'toleration Exists any effect', 'toleration Exists empty key any effect',
    ];
    expect(wanted.filter((w) => !seen.has(w))).toEqual([]);
  });
});
