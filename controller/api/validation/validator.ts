// Validates manifests offline with the same schemas the API server uses: VirtFleet's own (from
// the schema data) and KubeVirt's and CDI's (from their generated CRDs), including the
// VirtualMachine template embedded in a VMFleet.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { API_VERSION, KINDS, rootSchema, toOpenAPI } from '../crds.ts';
import { evaluateRules } from './cel.ts';
import { toAjvSchema } from './openapi-to-ajv.ts';
import { pruneNulls } from './prune-nulls.ts';
import { listTypeViolations, nameViolations } from './structural.ts';

type Node = Record<string, unknown>;
// ajv-formats is CommonJS; its default export arrives wrapped under native ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export interface Violation {
  /** JSON path in the document, for example `.spec.updateStrategy.rollingUpdate.maxSurge`. */
  path: string;
  /** The schema keyword or CEL rule that failed. */
  rule: string;
  message: string;
}

interface CompiledKind {
  openAPI: Node;
  check: ValidateFunction;
}

export class ManifestValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
  private readonly kinds = new Map<string, CompiledKind>();

  constructor() {
    addFormats(this.ajv);
    for (const def of Object.values(KINDS)) {
      this.register(API_VERSION, def.kind, toOpenAPI(rootSchema(def)));
    }
  }

  /** Registers the schema of another kind, for example KubeVirt's VirtualMachine. */
  register(apiVersion: string, kind: string, openAPI: Node): void {
    this.allowUnknownFormats(openAPI);
    this.kinds.set(`${apiVersion}/${kind}`, { openAPI, check: this.ajv.compile(toAjvSchema(openAPI)) });
  }

  knows(apiVersion: string, kind: string): boolean {
    return this.kinds.has(`${apiVersion}/${kind}`);
  }

  /** All violations of one object; an empty list means valid. Nulls are pruned and defaults applied first, as the API server does. */
  validate(object: Node): Violation[] {
    const compiled = this.kinds.get(`${String(object.apiVersion)}/${String(object.kind)}`);
    if (!compiled) return [{ path: '.kind', rule: 'known kind', message: `unknown kind ${String(object.apiVersion)}/${String(object.kind)}` }];
    const data = structuredClone(object);
    pruneNulls(compiled.openAPI, data);
    const violations: Violation[] = nameViolations(data);
    if (!compiled.check(data)) violations.push(...(compiled.check.errors ?? []).map(fromAjv));
    violations.push(...listTypeViolations(compiled.openAPI, data));
    violations.push(...evaluateRules(compiled.openAPI, data));
    if (object.apiVersion === API_VERSION && object.kind === 'VMFleet') violations.push(...this.validateTemplate(data));
    return violations;
  }

  // The template is a VirtualMachine in all but name: check it fully against KubeVirt's schema.
  private validateTemplate(fleet: Node): Violation[] {
    const template = (fleet.spec as Node | undefined)?.template as Node | undefined;
    if (!template || !this.knows('kubevirt.io/v1', 'VirtualMachine')) return [];
    const vm = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'template', ...(template.metadata as Node) }, spec: template.spec };
    return this.validate(vm)
      .filter((v) => v.path.startsWith('.spec'))
      .map((v) => ({ ...v, path: `.spec.template${v.path}`, rule: `KubeVirt VirtualMachine schema: ${v.rule}` }));
  }

  private allowUnknownFormats(node: unknown): void {
    if (Array.isArray(node)) return node.forEach((n) => this.allowUnknownFormats(n));
    if (node === null || typeof node !== 'object') return;
    const format = (node as Node).format;
    // The API server does not enforce the integer formats on custom resources (a VM with 2^40
    // sockets is admitted), so neither does this; other unknown formats are accepted as well.
    if (typeof format === 'string' && (!this.ajv.formats[format] || format === 'int32' || format === 'int64')) this.ajv.addFormat(format, true);
    Object.values(node).forEach((n) => this.allowUnknownFormats(n));
  }
}

// Messages follow the API server's wording, so offline and online refusals read alike.
function fromAjv(error: ErrorObject): Violation {
  const path = error.instancePath.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
  const params = error.params as Record<string, unknown>;
  const rule = `schema: ${error.keyword}`;
  switch (error.keyword) {
    case 'additionalProperties':
      return { path, rule: 'schema: unknown field', message: `unknown field "${String(params.additionalProperty)}"` };
    case 'required':
      return { path: `${path}.${String(params.missingProperty)}`, rule, message: 'Required value' };
    case 'enum':
      return { path, rule, message: `Unsupported value: supported values: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'minimum':
      return { path, rule, message: `should be greater than or equal to ${String(params.limit)}` };
    case 'maximum':
      return { path, rule, message: `should be less than or equal to ${String(params.limit)}` };
    case 'pattern':
      return { path, rule, message: `should match '${String(params.pattern)}'` };
    case 'maxLength':
      return { path, rule, message: `Too long: may not be more than ${String(params.limit)} bytes` };
    case 'maxItems':
      return { path, rule, message: `Too many: must have at most ${String(params.limit)} items` };
    case 'type':
      return { path, rule, message: `must be of type ${String(params.type)}` };
    default:
      return { path, rule, message: error.message ?? 'is invalid' };
  }
}
