// KubeVirt's and CDI's CRD schemas, generated from their Go API modules by
// hack/kubevirt-crds/generate.sh, are what VMFleet templates are checked against offline.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { ManifestValidator } from './validator.ts';

export const KUBEVIRT_CRD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'schemas', 'kubevirt');

interface CrdVersion { name: string; schema?: { openAPIV3Schema?: Record<string, unknown> } }
interface Crd { spec: { group: string; names: { kind: string }; versions: CrdVersion[] } }

/** Registers every served version of every CRD in the directory. */
export function registerCrds(validator: ManifestValidator, dir = KUBEVIRT_CRD_DIR): number {
  let count = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const crd = parse(readFileSync(join(dir, file), 'utf8')) as Crd;
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema) continue;
      validator.register(`${crd.spec.group}/${version.name}`, crd.spec.names.kind, schema);
      count++;
    }
  }
  return count;
}
