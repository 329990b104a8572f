// Benchmark: the simulator starts N VMs on M simulated nodes against a real kube-apiserver.
// Prints, per size, the time to create the VMs, the time until every VMI is Running (as the API
// server reports it) and the simulator's peak memory (VmHWM of its own process); with several
// sizes, a table of them side by side, per VM, to show how the cost grows. Each size runs on a
// control plane and simulator of its own. A size that is not Running within --timeout seconds
// fails the run. The times depend on the machine.
//   node bench/sim-scale.ts [--sizes 1000/100,5000/500,10000/1000 | --nodes 1000 --vms 10000] [--speed 100] [--timeout 900]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import { CRD_DIRS } from '../controller/cli/local.ts';
import { Informer } from '../controller/runtime/informer.ts';
import { virtualMachine } from '../test/fixtures/vms.ts';
import { loadNote } from './lib/fleet-world.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string' }, nodes: { type: 'string', default: '1000' }, vms: { type: 'string', default: '10000' }, speed: { type: 'string', default: '100' }, timeout: { type: 'string', default: '900' } } });
const timeoutMs = Math.min(3600, Math.max(10, Number(values.timeout))) * 1000;
const sizes = (values.sizes ?? `${values.vms}/${values.nodes}`).split(',').map((s) => {
  const [vms, nodes] = s.split('/').map(Number);
  if (!Number.isInteger(vms) || !Number.isInteger(nodes) || vms! < 1 || nodes! < 1) throw new Error(`--sizes wants VMs/nodes,..., got ${s}`);
  return { vms: vms!, nodes: nodes! };
});
const root = join(import.meta.dirname, '..');
const namespace = 'bench';

type Vmi = V1VirtualMachineInstance & KubernetesObject;

interface Result {
  vms: number;
  nodes: number;
  createMs: number;
  runningMs: number;
  peakRssMiB: number;
}

function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

async function measure(vms: number, nodes: number): Promise<Result> {
  const plane = await ControlPlane.start({ assets: await ensureAssets() });
  let vmis: Informer<Vmi> | undefined;
  const sim = spawn(process.execPath, ['controller/cli/main.ts', 'sim', '--kubeconfig', plane.kubeconfigPath, '--nodes', String(nodes), '--speed', values.speed!, '-n', namespace], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
    const client = new KubeClient(plane.kubeConfig(), { qps: 0, maxSockets: 32 });
    await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
    // The simulator announces itself once its node pool exists and its informers have synced.
    await new Promise<void>((resolve, reject) => {
      sim.stdout!.on('data', (d: Buffer) => d.toString().includes('simulating KubeVirt') && resolve());
      sim.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
    });
    console.log(`${nodes} nodes ready; creating ${vms} VMs`);

    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < vms) await client.create(RESOURCES.vm, virtualMachine(namespace, `vm-${next++}`, { memory: '2Gi' }));
    }));
    const created = Date.now();
    // Count Running VMIs from an informer: listing 10,000 objects every second would load the API
    // server, and a bare watch that the server ends (or that drops under the load) would stop the
    // count for good, where the informer lists and watches again.
    const informer = new Informer<Vmi>(plane.kubeConfig(), { path: pathOf(RESOURCES.vmi, namespace), list: () => client.list<Vmi>(RESOURCES.vmi, { namespace }) as never });
    vmis = informer;
    const isRunning = () => informer.list().filter((v) => v.status?.phase === 'Running' && !v.metadata?.deletionTimestamp).length;
    await informer.start();
    let running = isRunning();
    while (running < vms) {
      if (Date.now() - started > timeoutMs) throw new Error(`${running} of ${vms} VMIs Running after ${timeoutMs / 1000} s (--timeout)`);
      await new Promise((r) => setTimeout(r, 1000));
      running = isRunning();
      process.stdout.write(`\r${running}/${vms} Running after ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    const done = Date.now();
    const result = { vms, nodes, createMs: created - started, runningMs: done - started, peakRssMiB: peakRssMiB(sim.pid!) };
    console.log('');
    console.log(`nodes=${nodes} vms=${vms} speed=${values.speed}x`);
    console.log(`create ${vms} VMs: ${(result.createMs / 1000).toFixed(1)} s`);
    console.log(`all VMIs Running: ${(result.runningMs / 1000).toFixed(1)} s after the first create`);
    console.log(`simulator peak RSS: ${result.peakRssMiB.toFixed(0)} MiB`);
    return result;
  } finally {
    await vmis?.stop();
    if (sim.exitCode === null && sim.signalCode === null) {
      const exited = new Promise((r) => sim.once('exit', r));
      sim.kill('SIGTERM');
      await exited;
    }
    await plane.stop();
  }
}

const results: Result[] = [];
for (const { vms, nodes } of sizes) results.push(await measure(vms, nodes));
if (results.length > 1) {
  console.log(`\nspeed ${values.speed}×, one run per size (${loadNote()})\n`);
  console.log('| VMs / nodes | create (s) | all VMIs Running (s) | ms per VM to Running | simulator peak RSS (MiB) |');
  console.log('|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.vms} / ${r.nodes} | ${(r.createMs / 1000).toFixed(1)} | ${(r.runningMs / 1000).toFixed(1)} | ${(r.runningMs / r.vms).toFixed(1)} | ${r.peakRssMiB.toFixed(0)} |`);
}
