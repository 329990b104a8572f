// Runs the KubeVirt/CDI simulator in a process of its own, with a full SimConfig, so a benchmark
// can give the controller an event loop the simulator does not share (as in a real cluster).
//   node bench/lib/sim-child.ts <kubeconfig> '<DeepPartial<SimConfig> as JSON>'
// Prints "ready" once the node pool exists and the informers have synced; stops on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { Simulator } from '../../sim/simulator.ts';

/** Starts this file as a child process and resolves once the simulator reports ready. */
export async function spawnSimulator(kubeconfigPath: string, config: DeepPartial<SimConfig>): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [import.meta.filename, kubeconfigPath, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('simulator not ready after 120 s')), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited with ${code}`));
    });
  });
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === import.meta.filename) {
  const [kubeconfigPath, configJson] = process.argv.slice(2);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath!);
  const sim = new Simulator(kc, {
    config: JSON.parse(configJson ?? '{}') as DeepPartial<SimConfig>,
    log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) },
  });
  await sim.start();
  console.log('ready');
  process.once('SIGTERM', () => {
    void sim.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
