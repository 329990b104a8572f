// A small vocabulary for writing the API schema once. Every constructor takes the field's
// description first, so a field without one cannot be written, and every string, list and map
// constructor requires its bound, so CEL cost estimates stay finite.

/** One CEL rule as the API server's `x-kubernetes-validations` entry. */
export interface Rule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The structural-schema subset of JSONSchemaProps that VirtFleet's CRDs use. */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  enum?: string[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  default?: unknown;
  nullable?: boolean;
  'x-kubernetes-validations'?: Rule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-embedded-resource'?: true;
  /** The TypeScript type to emit instead of one derived from the schema; never sent to the API server. */
  tsType?: string;
}

interface Common {
  default?: unknown;
  rules?: Rule[];
}

export interface StringOptions extends Common {
  maxLength: number;
  minLength?: number;
  pattern?: string;
  format?: string;
}

export function str(description: string, opts: StringOptions): Schema {
  return compact({ type: 'string', description, ...common(opts), maxLength: opts.maxLength, minLength: opts.minLength, pattern: opts.pattern, format: opts.format });
}

export function enumOf(description: string, values: readonly string[], opts: Common = {}): Schema {
  return compact({ type: 'string', description, enum: [...values], ...common(opts) });
}

export function int(description: string, opts: Common & { minimum?: number; maximum?: number; format?: 'int32' | 'int64' } = {}): Schema {
  return compact({ type: 'integer', description, format: opts.format ?? 'int32', minimum: opts.minimum, maximum: opts.maximum, ...common(opts) });
}

export function bool(description: string, opts: Common = {}): Schema {
  return compact({ type: 'boolean', description, ...common(opts) });
}

/** An integer or a percentage string, as Deployments' maxSurge/maxUnavailable. */
export function intOrPercent(description: string, opts: Common = {}): Schema {
  return compact({
    description,
    'x-kubernetes-int-or-string': true,
    ...common(opts),
    'x-kubernetes-validations': [
      {
        rule: "type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",
        message: 'must be a non-negative integer or a percentage between 0% and 100%',
      },
      ...(opts.rules ?? []),
    ],
    tsType: 'number | string',
  });
}

export interface ObjectOptions extends Common {
  required?: string[];
  /** Keep fields the schema does not name (used only for embedded KubeVirt specs). */
  preserveUnknown?: boolean;
  minProperties?: number;
  tsType?: string;
}

export function obj(description: string, properties: Record<string, Schema>, opts: ObjectOptions = {}): Schema {
  return compact({
    type: 'object',
    description,
    properties,
    required: opts.required,
    minProperties: opts.minProperties,
    ...common(opts),
    'x-kubernetes-preserve-unknown-fields': opts.preserveUnknown ? true : undefined,
    tsType: opts.tsType,
  });
}

export interface ListOptions extends Common {
  maxItems: number;
  minItems?: number;
  /** Key fields of a list-map; the list is then merged by key and items are correlated in transition rules. */
  mapKeys?: string[];
  set?: boolean;
}

export function list(description: string, items: Schema, opts: ListOptions): Schema {
  const listType = opts.mapKeys ? 'map' : opts.set ? 'set' : undefined;
  return compact({
    type: 'array',
    description,
    items,
    maxItems: opts.maxItems,
    minItems: opts.minItems,
    ...common(opts),
    'x-kubernetes-list-type': listType,
    'x-kubernetes-list-map-keys': opts.mapKeys,
  });
}

export function stringMap(description: string, opts: Common & { maxProperties: number; valueMaxLength: number }): Schema {
  return compact({
    type: 'object',
    description,
    additionalProperties: { type: 'string', description: 'A value.', maxLength: opts.valueMaxLength },
    maxProperties: opts.maxProperties,
    ...common(opts),
  });
}

/** Adds CEL rules to an existing schema node. */
export function withRules(schema: Schema, ...rules: Rule[]): Schema {
  return { ...schema, 'x-kubernetes-validations': [...(schema['x-kubernetes-validations'] ?? []), ...rules] };
}

function common(opts: Common): Partial<Schema> {
  return {
    default: opts.default,
    'x-kubernetes-validations': opts.rules && opts.rules.length > 0 ? opts.rules : undefined,
  };
}

/** Drops undefined keys so generated manifests carry no noise. */
function compact(schema: Record<string, unknown>): Schema {
  return Object.fromEntries(Object.entries(schema).filter(([, v]) => v !== undefined)) as unknown as Schema;
}
