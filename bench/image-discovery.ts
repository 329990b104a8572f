// Benchmark: GoldenImage discovery from a registry tag. A containerDisk GoldenImage tracks tag
// `latest` with pollInterval 1s, a channel follows latest, and a one-VM fleet follows the channel.
// Each of N pushes (crane, straight to the registry) is timed from the end of the push to the
// version Ready in the image's status, to the fleet's VM restarted onto the new digest (its spec
// names it), and to that VM ready again. The controller reaches the registry through a loopback
// TLS proxy that counts every request, so the cost at rest is measured too: requests per image per
// poll over a quiet window (the goal: one HEAD, no GET).
//   node bench/image-discovery.ts [--pushes 5] [--rest 10] [--speed 20]
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage } from '../controller/api/objects.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { generateControlPlaneCerts } from '../controller/local/certs.ts';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import { Simulator } from '../sim/simulator.ts';
import { vmFleet } from '../test/fixtures/fleets.ts';
import { pushContainerDisk } from '../test/harness/registry.ts';
import { Cleanup, createRegistryAccess, median, startImageWorld, until as untilWithin } from './lib/image-world.ts';

const { values } = parseArgs({ options: { pushes: { type: 'string', default: '5' }, rest: { type: 'string', default: '10' }, speed: { type: 'string', default: '20' } } });
const pushes = Math.min(20, Math.max(1, Number(values.pushes)));
const restMs = Math.min(120, Math.max(3, Number(values.rest))) * 1000;
const speed = Number(values.speed);
const namespace = 'bench-image';
const repository = 'disks/bench';
/** One push's figures may take this long before the benchmark gives up. */
const STEP_TIMEOUT_MS = 60_000;
const UPSTREAM_TIMEOUT_MS = 10_000;

const until = <T>(what: string, probe: () => Promise<T | undefined>) => untilWithin(what, probe, STEP_TIMEOUT_MS);

const cleanup = new Cleanup();
try {
  const { registry, plane, client } = await startImageWorld(namespace, cleanup);
  // The proxy: TLS with its own loopback certificate (the image's CA ConfigMap holds its CA),
  // forwarding each request to the registry and counting it by method.
  const proxyCerts = await generateControlPlaneCerts();
  const [registryHost, registryPort] = registry.host.split(':');
  const counted: { method: string; path: string; status?: number }[] = [];
  const proxy = createHttpsServer({ key: proxyCerts.serving.key, cert: proxyCerts.serving.cert }, (req, res) => {
    const entry: { method: string; path: string; status?: number } = { method: req.method ?? '', path: req.url ?? '' };
    counted.push(entry);
    const upstream = httpsRequest({ host: registryHost, port: Number(registryPort), method: req.method, path: req.url, headers: { ...req.headers, host: registry.host }, ca: registry.caPEM, timeout: UPSTREAM_TIMEOUT_MS }, (answer) => {
      entry.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  cleanup.add(() => new Promise((r) => { proxy.closeAllConnections(); proxy.close(r); }));
  const access = await createRegistryAccess(client, namespace, { ...registry, host: proxyHost }, proxyCerts.ca.cert);

  const sim = new Simulator(plane.kubeConfig(), { config: { namespaces: [namespace], speed, nodes: { count: 2, prefix: 'node' }, vmi: { pendingMs: 100, schedulingMs: 100, scheduledMs: 200 } }, log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) } });
  await sim.start();
  cleanup.add(() => sim.stop({ deleteNodes: true }));
  const manager = new VirtFleetManager({ kubeConfig: plane.kubeConfig(), namespace, qps: 0, log: { info: () => undefined, error: (m, f) => console.error(m, f) } });

  let digest = await pushContainerDisk(registry, repository, 'latest', { seed: 'bench-0' });
  await client.create(RESOURCES.goldenImage, {
    apiVersion: 'virtfleet.io/v1alpha1',
    kind: 'GoldenImage',
    metadata: { name: 'bench', namespace },
    spec: {
      source: { registry: { repository: `${proxyHost}/${repository}`, tag: 'latest', pollInterval: '1s', ...access } },
      channels: [{ name: 'stable', follows: 'latest' }],
    },
  });
  await manager.start();
  cleanup.add(() => manager.stop());
  await client.create(RESOURCES.vmFleet, vmFleet(namespace, 'web', { replicas: 1, image: 'bench', channel: 'stable', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));

  const image = () => client.get<GoldenImage>(RESOURCES.goldenImage, { namespace, name: 'bench' });
  const fleetVM = async () => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace, labelSelector: `${FLEET_LABEL}=web` })).items[0];
  const boots = (vm: V1VirtualMachine | undefined, d: string) => vm?.spec?.template?.spec?.volumes?.some((v) => v.containerDisk?.image === `${proxyHost}/${repository}@${d}`) ?? false;
  await until('the first version on the fleet\'s ready VM', async () => {
    const vm = await fleetVM();
    return boots(vm, digest) && vm?.status?.ready === true ? true : undefined;
  });

  const figures: { ready: number; restarted: number; vmReady: number }[] = [];
  for (let i = 1; i <= pushes; i++) {
    digest = await pushContainerDisk(registry, repository, 'latest', { seed: `bench-${i}` });
    const pushed = performance.now();
    const ready = await until(`push ${i} Ready`, async () => ((await image())?.status?.versions ?? []).some((v) => v.digest === digest && v.phase === 'Ready') || undefined);
    const restarted = await until(`push ${i} on the VM's spec`, async () => (boots(await fleetVM(), digest) ? true : undefined));
    const vmReady = await until(`push ${i}'s VM ready`, async () => {
      const vm = await fleetVM();
      return boots(vm, digest) && vm?.status?.ready === true ? true : undefined;
    });
    figures.push({ ready: ready.at - pushed, restarted: restarted.at - pushed, vmReady: vmReady.at - pushed });
    console.log(`push ${i}: Ready after ${(ready.at - pushed).toFixed(0)} ms, VM restarted onto it after ${(restarted.at - pushed).toFixed(0)} ms, VM ready on it after ${(vmReady.at - pushed).toFixed(0)} ms`);
  }

  // At rest: nothing pushed, the fleet converged; count what the controller asks the registry.
  await new Promise((r) => setTimeout(r, 2_000));
  const from = counted.length;
  const restStarted = performance.now();
  await new Promise((r) => setTimeout(r, restMs));
  const window = counted.slice(from);
  const seconds = (performance.now() - restStarted) / 1000;
  const heads = window.filter((r) => r.method === 'HEAD').length;
  const gets = window.filter((r) => r.method === 'GET').length;
  const others = window.length - heads - gets;
  const challenged = window.filter((r) => r.status === 401).length;

  const row = (what: string, xs: number[]) => console.log(`${what.padEnd(44)} median ${median(xs).toFixed(0).padStart(6)} ms   max ${Math.max(...xs).toFixed(0).padStart(6)} ms   median ÷ pollInterval ${(median(xs) / 1000).toFixed(2)}`);
  console.log(`\n${pushes} pushes, pollInterval 1s, simulator at ${speed}×`);
  row('push → version Ready', figures.map((f) => f.ready));
  row('push → the fleet\'s VM restarted onto it', figures.map((f) => f.restarted));
  row('push → that VM ready on it', figures.map((f) => f.vmReady));
  console.log(`at rest over ${seconds.toFixed(1)} s (1 image, ~${Math.round(seconds)} polls): ${heads} HEAD, ${gets} GET, ${others} other → ${(heads / seconds).toFixed(2)} HEAD and ${(gets / seconds).toFixed(2)} GET per poll; ${challenged} of them answered 401 (an auth challenge before the credentials are sent)`);
  console.log(`requests during the pushes (discovery of ${pushes} digests): ${from} in all, ${counted.slice(0, from).filter((r) => r.method === 'GET').length} GET`);
} finally {
  await cleanup.run();
}
