// The API server drops a null in a field whose schema is not nullable before it validates (the
// structural-schema defaulting step): `replicas: null` is as if replicas were absent, not a wrong
// type. Offline validation does the same, so that its verdict matches the API server's.
type Node = Record<string, unknown>;

const isObject = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Removes, in place, every null object field whose schema is not `nullable: true`; recurses through properties, additionalProperties and items. */
export function pruneNulls(schema: Node | undefined, value: unknown): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (isObject(items)) for (const item of value) pruneNulls(items, item);
    return;
  }
  if (!isObject(value)) return;
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, Node>) : undefined;
  const additional = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
  for (const [key, child] of Object.entries(value)) {
    const childSchema = properties?.[key] ?? additional;
    if (!childSchema) continue; // unknown fields are reported by the schema check, not pruned here
    if (child === null) {
      if (childSchema.nullable !== true) delete value[key];
      continue;
    }
    pruneNulls(childSchema, child);
  }
}
