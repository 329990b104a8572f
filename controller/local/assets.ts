// Finds kube-apiserver, etcd and kubectl the way envtest does (TEST_ASSET_* variables, then
// KUBEBUILDER_ASSETS, then /usr/local/kubebuilder/bin) and otherwise builds them from the Go
// module proxy at pinned versions with hack/build-tools.sh, which caches them outside the repo.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ControlPlaneAssets {
  kubeApiServer: string;
  etcd: string;
  kubectl: string;
}

const TOOLS = { kubeApiServer: 'kube-apiserver', etcd: 'etcd', kubectl: 'kubectl' } as const;
export const BUILD_TOOLS_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'hack', 'build-tools.sh');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where envtest's conventions point for one binary, if anywhere. */
export function conventionalPath(tool: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[`TEST_ASSET_${tool.toUpperCase().replaceAll('-', '_')}`];
  if (explicit) return explicit;
  const candidates = [env.KUBEBUILDER_ASSETS && join(env.KUBEBUILDER_ASSETS, tool), join('/usr/local/kubebuilder/bin', tool)];
  return candidates.find((c): c is string => !!c && executable(c));
}

/** Runs hack/build-tools.sh for the tools (reusing its cache) and returns their paths in order. */
export async function buildTools(tools: string[]): Promise<string[]> {
  const { stdout } = await run('bash', [BUILD_TOOLS_SCRIPT, ...tools], { maxBuffer: 1 << 20, timeout: 60 * 60 * 1000 });
  const paths = stdout.trim().split('\n').filter(Boolean);
  if (paths.length !== tools.length) throw new Error(`build-tools.sh printed ${paths.length} paths for ${tools.length} tools`);
  return paths;
}

export async function ensureAssets(env: NodeJS.ProcessEnv = process.env): Promise<ControlPlaneAssets> {
  const found: Partial<Record<keyof ControlPlaneAssets, string>> = {};
  const missing: (keyof ControlPlaneAssets)[] = [];
  for (const key of Object.keys(TOOLS) as (keyof ControlPlaneAssets)[]) {
    const path = conventionalPath(TOOLS[key], env);
    if (path) found[key] = path;
    else missing.push(key);
  }
  if (missing.length > 0) {
    const built = await buildTools(missing.map((k) => TOOLS[k]));
    missing.forEach((key, i) => (found[key] = built[i]));
  }
  return found as ControlPlaneAssets;
}
