// Evaluates a schema's CEL rules (`x-kubernetes-validations`) over plain data, so offline
// validation reports the same messages as the API server. Transition rules (those reading
// oldSelf) need the stored object and are left to the API server.
import { parse } from '@marcbachmann/cel-js';

type Node = Record<string, unknown>;

export interface CelViolation {
  path: string;
  rule: string;
  message: string;
}

type Compiled = ReturnType<typeof parse>;
const cache = new Map<string, Compiled>();

function compiled(rule: string): Compiled {
  let fn = cache.get(rule);
  if (!fn) {
    fn = parse(rule);
    cache.set(rule, fn);
  }
  return fn;
}

/** CEL distinguishes int from double; YAML integers must reach it as int. */
export function toCelValue(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  // Array.from and Object.fromEntries build values of this realm; jest runs modules in a separate one.
  if (Array.isArray(value)) return Array.from(value, toCelValue);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCelValue(v)]));
  }
  return value;
}

export function evaluateRules(schema: Node, data: unknown, path = ''): CelViolation[] {
  const violations: CelViolation[] = [];
  if (data === undefined || data === null) return violations;
  const rules = (schema['x-kubernetes-validations'] as { rule: string; message?: string; fieldPath?: string }[] | undefined) ?? [];
  for (const { rule, message, fieldPath } of rules) {
    if (/\boldSelf\b/.test(rule)) continue;
    let ok: unknown;
    try {
      ok = compiled(rule)({ self: toCelValue(data) });
    } catch (err) {
      ok = `error: ${(err as Error).message.split('\n')[0]}`;
    }
    if (ok !== true) {
      violations.push({
        path: path + (fieldPath ?? ''),
        rule,
        message: typeof ok === 'string' ? `${message ?? 'failed rule'} (${ok})` : (message ?? `failed rule: ${rule}`),
      });
    }
  }
  const properties = schema.properties as Record<string, Node> | undefined;
  if (Array.isArray(data)) {
    const items = schema.items as Node | undefined;
    if (items) data.forEach((item, i) => violations.push(...evaluateRules(items, item, `${path}[${i}]`)));
  } else if (typeof data === 'object') {
    const record = data as Record<string, unknown>;
    if (properties) {
      for (const [key, sub] of Object.entries(properties)) violations.push(...evaluateRules(sub, record[key], `${path}.${key}`));
    } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      for (const [key, value] of Object.entries(record)) violations.push(...evaluateRules(schema.additionalProperties as Node, value, `${path}[${JSON.stringify(key)}]`));
    }
  }
  return violations;
}
