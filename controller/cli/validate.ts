// `virtfleet validate`: offline validation of GoldenImage and VMFleet manifests (and of any
// KubeVirt or CDI object beside them) with the schemas the API server uses.
import { ManifestValidator } from '../api/validation/validator.ts';
import { registerCrds } from '../api/validation/kubevirt.ts';
import { listManifestFiles, readDocuments, UnreadableInputError, type Document } from './manifests.ts';

export const EXIT_VALID = 0;
export const EXIT_INVALID = 1;
export const EXIT_UNREADABLE = 2;

export interface ValidateReport {
  exitCode: number;
  lines: string[];
}

let shared: ManifestValidator | undefined;
function validator(): ManifestValidator {
  if (!shared) {
    shared = new ManifestValidator();
    registerCrds(shared);
  }
  return shared;
}

export function validatePaths(paths: string[]): ValidateReport {
  const lines: string[] = [];
  let documents: Document[];
  try {
    documents = paths.flatMap(listManifestFiles).flatMap(readDocuments);
  } catch (err) {
    if (err instanceof UnreadableInputError) return { exitCode: EXIT_UNREADABLE, lines: [`error: ${err.message}`] };
    throw err;
  }
  let checked = 0;
  let invalid = 0;
  for (const doc of documents) {
    const { apiVersion, kind } = doc.object;
    const name = ((doc.object.metadata as Record<string, unknown> | undefined)?.name as string | undefined) ?? '<unnamed>';
    const where = `${doc.file}: document ${doc.index} (${String(kind)}/${name})`;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      lines.push(`${where}: .: apiVersion and kind are required [schema: required]`);
      invalid++;
      continue;
    }
    if (!validator().knows(apiVersion, kind)) {
      lines.push(`${where}: skipped, no schema for ${apiVersion} ${kind}`);
      continue;
    }
    checked++;
    const violations = validator().validate(doc.object);
    if (violations.length > 0) invalid++;
    for (const v of violations) lines.push(`${where}: ${v.path || '.'}: ${v.message} [${v.rule}]`);
  }
  lines.push(`${checked} document(s) checked, ${invalid} invalid`);
  return { exitCode: invalid > 0 ? EXIT_INVALID : EXIT_VALID, lines };
}
