// `virtfleet up`, `virtfleet down` and `virtfleet sim`: a local cluster made of a real
// kube-apiserver and etcd on 127.0.0.1 plus the KubeVirt/CDI simulator, for trying fleets on a
// laptop; or the simulator alone against the cluster a kubeconfig names.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureAssets } from '../local/assets.ts';
import { ControlPlane } from '../local/control-plane.ts';
import { installCrds } from '../local/install-crds.ts';
import { Simulator } from '../../sim/simulator.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import type { VirtFleetManager } from '../virtfleet.ts';
import { RUN_DEFAULTS } from './run-flags.ts';
import { startController, untilSignalled } from './run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CRD_DIRS = [join(ROOT, 'crds'), join(ROOT, 'schemas', 'kubevirt')];

export function stateDir(): string {
  return process.env.VIRTFLEET_HOME ?? join(homedir(), '.cache', 'virtfleet', 'local');
}

export interface SimFlags {
  nodes: string;
  speed: string;
  seed: string;
  namespace?: string[];
  /** up: also run the controller (default true; --no-controller). */
  controller?: boolean;
}

export function simConfig(flags: SimFlags): DeepPartial<SimConfig> {
  return {
    nodes: { count: Number(flags.nodes) },
    speed: Number(flags.speed),
    seed: Number(flags.seed),
    namespaces: flags.namespace ?? [],
  };
}

const log = {
  info: (m: string) => console.log(JSON.stringify({ level: 'info', component: 'sim', msg: m })),
  error: (m: string) => console.error(JSON.stringify({ level: 'error', component: 'sim', msg: m })),
};


export async function up(flags: SimFlags): Promise<void> {
  const dir = stateDir();
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'up.pid');
  if (existsSync(pidFile) && isAlive(Number(readFileSync(pidFile, 'utf8')))) {
    throw new Error(`a local cluster is already up (pid ${readFileSync(pidFile, 'utf8').trim()}); run virtfleet down first`);
  }
  console.log('starting etcd and kube-apiserver on 127.0.0.1 (the first run builds them from Go modules)...');
  const plane = await ControlPlane.start({ assets: await ensureAssets() });
  let sim: Simulator | undefined;
  let manager: VirtFleetManager | undefined;
  const kubeconfig = join(dir, 'kubeconfig');
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
    sim = new Simulator(plane.kubeConfig(), { config: simConfig(flags), log });
    await sim.start();
    if (flags.controller !== false) {
      manager = (await startController(plane.kubeConfig(), RUN_DEFAULTS)).manager;
    }
    copyFileSync(plane.kubeconfigPath, kubeconfig);
    writeFileSync(pidFile, String(process.pid));
    console.log(`local cluster up: ${plane.apiServerURL}, ${flags.nodes} simulated nodes, speed ${flags.speed}x${manager ? ', controller running' : ''}`);
    console.log(`kubeconfig: ${kubeconfig}`);
    console.log(`try: kubectl --kubeconfig ${kubeconfig} get nodes,vms`);
    console.log('stop with Ctrl-C or virtfleet down');
    await untilSignalled();
  } finally {
    console.log('stopping...');
    await manager?.stop().catch((e: unknown) => console.error(`controller: ${(e as Error).message}`));
    await sim?.stop().catch((e: unknown) => console.error(`simulator: ${(e as Error).message}`));
    await plane.stop();
    rmSync(kubeconfig, { force: true });
    rmSync(pidFile, { force: true });
    console.log('local cluster stopped');
  }
}

export async function down(): Promise<void> {
  const pidFile = join(stateDir(), 'up.pid');
  if (!existsSync(pidFile)) {
    console.log('no local cluster is up');
    return;
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (!isAlive(pid)) {
    rmSync(pidFile, { force: true });
    console.log('no local cluster is up');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`virtfleet up (pid ${pid}) did not stop within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log('local cluster stopped');
}

export async function simulate(flags: SimFlags & { kubeconfig?: string }): Promise<void> {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  const sim = new Simulator(kc, { config: simConfig(flags), log });
  await sim.start();
  console.log(`simulating KubeVirt and CDI against ${kc.getCurrentCluster()?.server}; stop with Ctrl-C`);
  await untilSignalled();
  await sim.stop();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
