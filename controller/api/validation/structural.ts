// The checks the API server makes beyond JSON Schema that ajv cannot express: the items of a list
// of type map (x-kubernetes-list-map-keys) or set must be unique, and an object's metadata.name
// must be a DNS subdomain (ObjectMeta is decoded into Go types first, so a name that is not a
// string never reaches the schema).
import type { Violation } from './validator.ts';

type Node = Record<string, unknown>;
const isObject = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Violations of metadata.name (string, at most 253 characters, a lowercase RFC 1123 subdomain), unless generateName stands in. */
export function nameViolations(object: Node): Violation[] {
  const metadata = object.metadata;
  if (!isObject(metadata)) return [{ path: '.metadata', rule: 'ObjectMeta', message: 'metadata must be an object' }];
  const name = metadata.name;
  if (name === undefined || name === null || name === '') {
    return typeof metadata.generateName === 'string' && metadata.generateName !== '' ? [] : [{ path: '.metadata.name', rule: 'ObjectMeta', message: 'Required value: name or generateName is required' }];
  }
  if (typeof name !== 'string') return [{ path: '.metadata.name', rule: 'ObjectMeta', message: `cannot unmarshal ${Array.isArray(name) ? 'array' : typeof name} into ObjectMeta.name of type string` }];
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) return [{ path: '.metadata.name', rule: 'ObjectMeta', message: "Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253 characters)" }];
  return [];
}

/** Duplicate items of `x-kubernetes-list-type: map` (by their keys) and `set` lists, anywhere in the value. */
export function listTypeViolations(schema: Node | undefined, value: unknown, path = ''): Violation[] {
  if (!schema) return [];
  const found: Violation[] = [];
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'];
    if (listType === 'map' || listType === 'set') {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const identity = listType === 'map' && Array.isArray(keys) && isObject(item) ? JSON.stringify(Object.fromEntries((keys as string[]).map((k) => [k, item[k]]))) : JSON.stringify(item);
        if (seen.has(identity)) found.push({ path: `${path}[${i}]`, rule: `x-kubernetes-list-type: ${listType}`, message: `Duplicate value: ${identity}` });
        seen.add(identity);
      });
    }
    const items = schema.items;
    if (isObject(items)) value.forEach((item, i) => found.push(...listTypeViolations(items, item, `${path}[${i}]`)));
    return found;
  }
  if (!isObject(value)) return found;
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, Node>) : undefined;
  const additional = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
  for (const [key, child] of Object.entries(value)) found.push(...listTypeViolations(properties?.[key] ?? additional, child, `${path}.${key}`));
  return found;
}
