import { describe, expect, it } from '@jest/globals';
import { KINDS, customResourceDefinition, rootSchema, toOpenAPI } from './crds.ts';
import type { Schema } from './schema/dsl.ts';

// Short names KubeVirt and CDI already use.
const TAKEN = ['vm', 'vms', 'vmi', 'vmis', 'vmpool', 'vmpools', 'vmp', 'vmps', 'vmf', 'vmfs', 'vmim', 'vmims', 'vminstancetype', 'vminstancetypes', 'vmpref', 'vmprefs', 'dv', 'dvs', 'das', 'dic', 'dics'];

/** Every place a schema breaks the house rules: descriptions everywhere, every string, list and map bounded. */
function audit(schema: Schema, path: string): string[] {
  const problems: string[] = [];
  if (!schema.description) problems.push(`${path}: no description`);
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (schema.type === 'string' && schema.maxLength === undefined && !schema.enum) problems.push(`${path}: unbounded string`);
  if (schema.type === 'array' && schema.maxItems === undefined) problems.push(`${path}: unbounded list`);
  if (schema.additionalProperties) {
    if (schema.maxProperties === undefined) problems.push(`${path}: unbounded map`);
    problems.push(...audit(schema.additionalProperties, `${path}[*]`));
  }
  if (!schema.type && !intOrString) problems.push(`${path}: untyped`);
  for (const [k, v] of Object.entries(schema.properties ?? {})) problems.push(...audit(v, `${path}.${k}`));
  if (schema.items) problems.push(...audit(schema.items, `${path}[]`));
  return problems;
}

describe.each(Object.values(KINDS))('$kind CRD', (def) => {
  const crd = customResourceDefinition(def) as { spec: { names: { shortNames: string[]; categories: string[] } } };

  it('describes and bounds every field', () => {
    expect(audit(def.spec, '.spec')).toEqual([]);
    expect(audit(def.status, '.status')).toEqual([]);
  });

  it('stays far below the 256 KiB last-applied-configuration limit of client-side kubectl apply', () => {
    expect(JSON.stringify(crd).length).toBeLessThan(128 * 1024);
  });

  it('uses short names no KubeVirt or CDI resource uses, and the virtfleet category', () => {
    for (const name of crd.spec.names.shortNames) expect(TAKEN).not.toContain(name);
    expect(crd.spec.names.categories).toEqual(['virtfleet']);
  });

  it('sends no code-generation hints to the API server', () => {
    expect(JSON.stringify(toOpenAPI(rootSchema(def)))).not.toContain('tsType');
  });
});

it('offers kubectl scale on VMFleet through a string label selector', () => {
  const crd = customResourceDefinition(KINDS.VMFleet) as { spec: { versions: { subresources: Record<string, unknown> }[] } };
  expect(crd.spec.versions[0]!.subresources.scale).toEqual({
    specReplicasPath: '.spec.replicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.labelSelector',
  });
  expect(KINDS.VMFleet.status.properties?.labelSelector?.type).toBe('string');
});
