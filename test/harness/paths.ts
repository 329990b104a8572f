import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VIRTFLEET_CRD_DIR = join(REPO_ROOT, 'crds');
export const KUBEVIRT_FIXTURE_CRD_DIR = join(REPO_ROOT, 'schemas', 'kubevirt');
export const CRD_DIRS = [VIRTFLEET_CRD_DIR, KUBEVIRT_FIXTURE_CRD_DIR];
export const EXAMPLES_DIR = join(REPO_ROOT, 'examples');
