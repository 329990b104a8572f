// A VMFleet or GoldenImage manifest as the API server would store it: nulls in non-nullable fields
// dropped and the CRD schema's defaults filled in (structural-schema defaulting). The defaults are
// read from the same schema data the CRDs and the offline validator are generated from, and the
// nulls are pruned by the validator's own pruneNulls, so `plan` sees what the controller will see.
import { Ajv, type ValidateFunction } from 'ajv';
import { API_VERSION, KINDS, rootSchema, toOpenAPI } from '../api/crds.ts';
import { toAjvSchema } from '../api/validation/openapi-to-ajv.ts';
import { pruneNulls } from '../api/validation/prune-nulls.ts';

type Node = Record<string, unknown>;

interface Defaulter {
  openAPI: Node;
  fill: ValidateFunction;
}

let compiled: Map<string, Defaulter> | undefined;

/** Compiled once, on first use: ajv's `useDefaults` fills a missing property with its schema default. */
function defaulters(): Map<string, Defaulter> {
  if (!compiled) {
    // Formats and the verdict do not matter here (validate reports those): only the defaults.
    const ajv = new Ajv({ strict: false, useDefaults: true, validateFormats: false, allErrors: true });
    compiled = new Map(Object.values(KINDS).map((def) => {
      const openAPI = toOpenAPI(rootSchema(def));
      return [def.kind, { openAPI, fill: ajv.compile(toAjvSchema(openAPI)) }];
    }));
  }
  return compiled;
}

/**
 * A copy of `object` with the CRD defaults applied, when it is a virtfleet.io VMFleet or
 * GoldenImage; any other object is returned as it is.
 */
export function withSchemaDefaults<T extends object>(object: T): T {
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  const defaulter = apiVersion === API_VERSION && typeof kind === 'string' ? defaulters().get(kind) : undefined;
  if (!defaulter) return object;
  const copy = structuredClone(object) as Node;
  pruneNulls(defaulter.openAPI, copy);
  // The result is ignored on purpose: an invalid manifest still gets every default that applies.
  void defaulter.fill(copy);
  return copy as T;
}
