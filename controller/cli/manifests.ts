// Reads manifests from files and directories: multi-document YAML or JSON.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Document {
  file: string;
  /** 1-based position of the document in its file. */
  index: number;
  object: Record<string, unknown>;
}

/** Input that cannot be read or parsed as manifests (exit code 2). */
export class UnreadableInputError extends Error {}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export function listManifestFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new UnreadableInputError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const full = join(path, entry.name);
      if (entry.isDirectory()) return listManifestFiles(full);
      return MANIFEST_EXTENSIONS.has(extname(entry.name)) ? [full] : [];
    });
}

export function readDocuments(file: string): Document[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UnreadableInputError(`${file}: ${(err as Error).message}`);
  }
  return parseDocuments(text, file);
}

/** The manifests in `text` (multi-document YAML or JSON), named `file` in errors ("-" for stdin). */
export function parseDocuments(text: string, file: string): Document[] {
  const documents: Document[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      throw new UnreadableInputError(`${file}: document ${i + 1}: not valid YAML: ${first.message.split('\n')[0]}`);
    }
    const object: unknown = doc.toJS();
    if (object === null || object === undefined) return; // an empty document, e.g. after a trailing ---
    if (typeof object !== 'object' || Array.isArray(object)) {
      throw new UnreadableInputError(`${file}: document ${i + 1}: not a Kubernetes object`);
    }
    documents.push({ file, index: i + 1, object: object as Record<string, unknown> });
  });
  return documents;
}
