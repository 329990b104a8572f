// Kubernetes node-placement matching, shared by the controller's drift detection and the
// simulator's scheduler. Pure: plain objects in, plain data out.
import type { V1Affinity, V1Node, V1NodeSelectorRequirement, V1Taint, V1Toleration } from '@kubernetes/client-node';
import type { K8sIoApiCoreV1Affinity } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';

/** KubeVirt: pkg/virt-config (MigrationConfiguration.NodeDrainTaintKey default). */
export const KUBEVIRT_DRAIN_TAINT_KEY = 'kubevirt.io/drain';
/** Kubernetes: the taint the scheduler's NodeUnschedulable plugin checks for cordoned nodes. */
export const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable';

/** The VMI spec's affinity (KubeVirt embeds core/v1 Affinity) or client-node's V1Affinity. */
export type Affinity = K8sIoApiCoreV1Affinity | V1Affinity;

export interface PlacementSpec {
  nodeSelector?: Record<string, string>;
  affinity?: Affinity;
  tolerations?: V1Toleration[];
}

export type PlacementViolationKind = 'NodeSelector' | 'NodeAffinity' | 'Taint' | 'Unschedulable' | 'NodeNotReady' | 'DrainTaint';

export interface PlacementViolation {
  kind: PlacementViolationKind;
  message: string;
}

const SCHEDULING_EFFECTS = ['NoSchedule', 'NoExecute'];

/**
 * The placement fields of a VMI spec (a VM template's or a running VMI's), unset ones left out.
 * KubeVirt's and client-node's core/v1 types differ only nominally, hence the loose parameter.
 */
export function placementOf(vmiSpec: { nodeSelector?: unknown; affinity?: unknown; tolerations?: unknown } | undefined): PlacementSpec {
  const spec = vmiSpec as PlacementSpec | undefined;
  return {
    ...(spec?.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec?.affinity ? { affinity: spec.affinity } : {}),
    ...(spec?.tolerations ? { tolerations: spec.tolerations } : {}),
  };
}

/** Kubernetes: every nodeSelector key must be a node label with exactly that value. */
export function matchesNodeSelector(selector: Record<string, string> | undefined, node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  return Object.entries(selector ?? {}).every(([key, value]) => Object.hasOwn(labels, key) && labels[key] === value);
}

/**
 * Kubernetes: k8s.io/component-helpers/scheduling/corev1/nodeaffinity — one matchExpressions
 * requirement against a label value; `undefined` means the node has no such label. A requirement
 * that labels.NewRequirement refuses (a key that is no label key, a value that is no label value,
 * In/NotIn without values, Exists/DoesNotExist with values, Gt/Lt without exactly one int64, an
 * unknown operator) makes its term match no node, as the scheduler ignores the parse error.
 */
export function matchesNodeSelectorRequirement(req: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  if (!isLabelKey(req.key) || !values.every(isLabelValue)) return false;
  switch (req.operator) {
    case 'In':
      return values.length > 0 && value !== undefined && values.includes(value);
    case 'NotIn':
      return values.length > 0 && (value === undefined || !values.includes(value));
    case 'Exists':
      return values.length === 0 && value !== undefined;
    case 'DoesNotExist':
      return values.length === 0 && value === undefined;
    case 'Gt':
    case 'Lt': {
      // Both sides must parse as int64 (strconv.ParseInt) and exactly one value is given.
      if (value === undefined || values.length !== 1) return false;
      const actual = parseInt64(value);
      const wanted = parseInt64(values[0]!);
      if (actual === undefined || wanted === undefined) return false;
      return req.operator === 'Gt' ? actual > wanted : actual < wanted;
    }
    default:
      return false;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go: strconv.ParseInt(s, 10, 64) — an optional sign, decimal digits, within int64. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n >= INT64_MIN && n <= INT64_MAX ? n : undefined;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes: apimachinery content.IsLabelKey — an optional DNS-subdomain prefix and `/`, then a name. */
function isLabelKey(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1)!;
  if (parts.length === 2 && !(parts[0]!.length <= 253 && DNS1123_SUBDOMAIN.test(parts[0]!))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** Kubernetes: apimachinery content.IsLabelValue — empty, or a label name of at most 63 characters. */
function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && LABEL_NAME.test(value));
}

/**
 * Kubernetes: nodeaffinity's nodeSelectorRequirementsAsFieldSelector — a matchFields requirement
 * is In or NotIn with exactly one value, compared with the node's fields, of which there is only
 * `metadata.name` (any other key reads as ""). Keys and values are not validated here.
 */
function matchesNodeSelectorField(req: V1NodeSelectorRequirement, nodeName: string): boolean {
  const values = req.values ?? [];
  if ((req.operator !== 'In' && req.operator !== 'NotIn') || values.length !== 1) return false;
  const field = req.key === 'metadata.name' ? nodeName : '';
  return req.operator === 'In' ? field === values[0] : field !== values[0];
}

type NodeSelectorTerm = { matchExpressions?: V1NodeSelectorRequirement[]; matchFields?: V1NodeSelectorRequirement[] };

/**
 * Kubernetes: a term's expressions and fields are ANDed; a term with neither matches nothing.
 * A node without a name has no fields, and then matchFields (if they parse) are not checked.
 */
export function matchesNodeSelectorTerm(term: NodeSelectorTerm, node: V1Node): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false;
  const labels = node.metadata?.labels ?? {};
  const labelOf = (key: string) => (Object.hasOwn(labels, key) ? labels[key] : undefined);
  const name = node.metadata?.name ?? '';
  return (
    expressions.every((req) => matchesNodeSelectorRequirement(req, labelOf(req.key))) &&
    (name === ''
      ? fields.every((req) => (req.operator === 'In' || req.operator === 'NotIn') && req.values?.length === 1)
      : fields.every((req) => matchesNodeSelectorField(req, name)))
  );
}

/**
 * Kubernetes: requiredDuringSchedulingIgnoredDuringExecution — nodeSelectorTerms are ORed; no
 * required node affinity matches every node, an empty term list matches none.
 */
export function matchesRequiredNodeAffinity(affinity: Affinity | undefined, node: V1Node): boolean {
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((term) => matchesNodeSelectorTerm(term, node));
}

/** Kubernetes: core/v1 Toleration.ToleratesTaint (k8s.io/api/core/v1/toleration.go). */
export function toleratesTaint(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** Kubernetes: the node's taints with one of `effects` that no toleration tolerates. */
export function untoleratedTaints(tolerations: V1Toleration[] | undefined, node: V1Node, effects: string[] = SCHEDULING_EFFECTS): V1Taint[] {
  return (node.spec?.taints ?? []).filter((taint) => effects.includes(taint.effect) && !(tolerations ?? []).some((t) => toleratesTaint(t, taint)));
}

/** Kubernetes: the node's Ready condition has status True (a missing condition is not ready). */
export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/**
 * Kubernetes: scheduler plugin NodeUnschedulable — a cordoned node admits only pods tolerating
 * `node.kubernetes.io/unschedulable:NoSchedule`.
 */
export function isUnschedulableFor(tolerations: V1Toleration[] | undefined, node: V1Node): boolean {
  if (!node.spec?.unschedulable) return false;
  const taint: V1Taint = { key: UNSCHEDULABLE_TAINT_KEY, effect: 'NoSchedule' };
  return !(tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/** The node carries KubeVirt's drain taint (any effect): KubeVirt evacuates VMIs from it. */
export function drainTaint(node: V1Node): V1Taint | undefined {
  return node.spec?.taints?.find((t) => t.key === KUBEVIRT_DRAIN_TAINT_KEY);
}

export function formatTaint(taint: V1Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}

/**
 * Everything that keeps `spec` (a VMI's placement fields) from running on `node`, in the order the
 * scheduler would find them. The drain taint is reported as DrainTaint (whatever its effect and
 * whether or not it is tolerated), never also as Taint.
 */
export function placementViolations(spec: PlacementSpec, node: V1Node): PlacementViolation[] {
  const name = node.metadata?.name ?? '';
  const violations: PlacementViolation[] = [];
  if (isUnschedulableFor(spec.tolerations, node)) {
    violations.push({ kind: 'Unschedulable', message: `node "${name}" is unschedulable (cordoned)` });
  }
  if (!isNodeReady(node)) {
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const detail = ready ? `Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}` : 'no Ready condition';
    violations.push({ kind: 'NodeNotReady', message: `node "${name}" is not ready: ${detail}` });
  }
  if (!matchesNodeSelector(spec.nodeSelector, node)) {
    const labels = node.metadata?.labels ?? {};
    const mismatched = Object.entries(spec.nodeSelector ?? {})
      .filter(([k, v]) => labels[k] !== v)
      .map(([k, v]) => `${k}=${v}`);
    violations.push({ kind: 'NodeSelector', message: `node "${name}" does not match nodeSelector ${mismatched.join(', ')}` });
  }
  if (!matchesRequiredNodeAffinity(spec.affinity, node)) {
    violations.push({ kind: 'NodeAffinity', message: `node "${name}" does not match the required node affinity` });
  }
  for (const taint of untoleratedTaints(spec.tolerations, node)) {
    if (taint.key === KUBEVIRT_DRAIN_TAINT_KEY) continue;
    violations.push({ kind: 'Taint', message: `node "${name}" has untolerated taint ${formatTaint(taint)}` });
  }
  const drain = drainTaint(node);
  if (drain) {
    violations.push({ kind: 'DrainTaint', message: `node "${name}" is being drained (taint ${formatTaint(drain)})` });
  }
  return violations;
}
