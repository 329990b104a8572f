// Turns a Kubernetes structural schema into a JSON Schema that ajv checks the way the API server
// does, with one deliberate difference: a field the schema does not name is an error (as
// `kubectl apply --validate=strict` reports it) instead of being pruned silently.
type Node = Record<string, unknown>;

export function toAjvSchema(node: Node, name = ''): Node {
  const out: Node = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case 'properties':
        out[key] = Object.fromEntries(Object.entries(value as Record<string, Node>).map(([k, v]) => [k, toAjvSchema(v, k)]));
        break;
      case 'items':
      case 'additionalProperties':
      case 'not':
        out[key] = typeof value === 'object' && value !== null ? toAjvSchema(value as Node) : value;
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[key] = (value as Node[]).map((v) => toAjvSchema(v));
        break;
      default:
        if (key.startsWith('x-kubernetes-') || key === 'tsType' || key === 'nullable') continue;
        out[key] = value;
    }
  }
  if (node['x-kubernetes-int-or-string'] && !node.anyOf) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (node.nullable && typeof out.type === 'string') {
    out.type = [out.type, 'null'];
  }
  const preservesUnknown = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-embedded-resource'] === true;
  // An object without properties (KubeVirt's `masquerade: {}`) prunes every field too; metadata
  // is the exception, the API server checks it as ObjectMeta.
  if ((node.properties || (node.type === 'object' && name !== 'metadata')) && !node.additionalProperties && !preservesUnknown) {
    out.additionalProperties = false;
  }
  return out;
}
