// Benchmark: GoldenImage discovery from a registry tag, with 1, 10 or 50 images polled at once.
// Each of the size's containerDisk GoldenImages tracks tag `latest` of a repository of its own
// with pollInterval 1s, a channel follows latest, and a one-VM fleet follows the channel. Each of
// P pushes (crane, straight to the registry; push k to image k mod N, each after a random pause of
// up to one poll interval, so that it lands at a random point of the poll cycle rather than at
// the same point after the previous discovery) is timed from the end of the push to the version
// Ready in the image's status, to the fleet's VM restarted onto the new digest (its spec names
// it), and to that VM ready again. The controller reaches the registry through a loopback TLS
// proxy that counts and timestamps every request: the time from the push to the first poll of
// the tag after it is the wait the poll interval sets, the time from that poll to the version
// Ready is the controller's own, and the cost at rest is measured too: requests per image per poll
// over a quiet window (the goal: one HEAD, no GET). Each size runs in a namespace
// of its own with a simulator and controller of its own (one registry and control plane for all).
//   node bench/image-discovery.ts [--sizes 1,10,50] [--pushes 5] [--rest 10] [--speed 20]
// The figures depend on the machine; compare the rows of one run.
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
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1,10,50' }, pushes: { type: 'string', default: '5' }, rest: { type: 'string', default: '10' }, speed: { type: 'string', default: '20' } } });
const sizes = parseSizes(values.sizes!, 'numbers of images', { max: 200 });
const pushes = Math.min(20, Math.max(1, Number(values.pushes)));
const restMs = Math.min(120, Math.max(3, Number(values.rest))) * 1000;
const speed = Number(values.speed);
/** One push's figures may take this long before the benchmark gives up. */
const STEP_TIMEOUT_MS = 60_000;
const UPSTREAM_TIMEOUT_MS = 10_000;
/** Initial pushes in flight at once (each is a qemu-img and two crane runs). */
const PUSHES_AT_ONCE = 4;
/** The images' pollInterval. */
const POLL_MS = 1_000;

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS) => untilWithin(what, probe, timeoutMs);

/** What the proxy saw of one request. */
interface Counted { method: string; path: string; at: number; status?: number }
/** One size's figures. */
interface SizeFigures { pushes: { ready: number; pollWait: number; pollToReady: number; restarted: number; vmReady: number }[]; heads: number; gets: number; others: number; challenged: number; seconds: number; duringPushes: number; getsDuringPushes: number }

const cleanup = new Cleanup();
try {
  const { registry, plane, client } = await startImageWorld('bench-image', cleanup);
  // The proxy: TLS with its own loopback certificate (the image's CA ConfigMap holds its CA),
  // forwarding each request to the registry and counting it by method.
  const proxyCerts = await generateControlPlaneCerts();
  const [registryHost, registryPort] = registry.host.split(':');
  const counted: Counted[] = [];
  const proxy = createHttpsServer({ key: proxyCerts.serving.key, cert: proxyCerts.serving.cert }, (req, res) => {
    const entry: Counted = { method: req.method ?? '', path: req.url ?? '', at: performance.now() };
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

  const runSize = async (images: number): Promise<SizeFigures> => {
    const namespace = `bench-image-${images}`;
    const repository = (i: number) => `disks/bench-${images}-${i}`;
    const sizeCleanup = new Cleanup();
    try {
      await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
      const access = await createRegistryAccess(client, namespace, { ...registry, host: proxyHost }, proxyCerts.ca.cert);
      const sim = new Simulator(plane.kubeConfig(), { config: { namespaces: [namespace], speed, nodes: { count: Math.max(2, Math.ceil(images / 25)), prefix: `node-${images}` }, vmi: { pendingMs: 100, schedulingMs: 100, scheduledMs: 200 } }, log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) } });
      await sim.start();
      sizeCleanup.add(() => sim.stop({ deleteNodes: true }));
      const manager = new VirtFleetManager({ kubeConfig: plane.kubeConfig(), namespace, qps: 0, log: { info: () => undefined, error: (m, f) => console.error(m, f) } });

      const digests: string[] = new Array<string>(images);
      for (let from = 0; from < images; from += PUSHES_AT_ONCE) {
        await Promise.all(Array.from({ length: Math.min(PUSHES_AT_ONCE, images - from) }, async (_, k) => {
          digests[from + k] = await pushContainerDisk(registry, repository(from + k), 'latest', { seed: `bench-${images}-${from + k}-0` });
        }));
      }
      for (let i = 0; i < images; i++) {
        await client.create(RESOURCES.goldenImage, {
          apiVersion: 'virtfleet.io/v1alpha1',
          kind: 'GoldenImage',
          metadata: { name: `bench-${i}`, namespace },
          spec: {
            source: { registry: { repository: `${proxyHost}/${repository(i)}`, tag: 'latest', pollInterval: `${POLL_MS / 1000}s`, ...access } },
            channels: [{ name: 'stable', follows: 'latest' }],
          },
        });
      }
      await manager.start();
      sizeCleanup.add(() => manager.stop());
      for (let i = 0; i < images; i++) await client.create(RESOURCES.vmFleet, vmFleet(namespace, `web-${i}`, { replicas: 1, image: `bench-${i}`, channel: 'stable', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));

      const image = (i: number) => client.get<GoldenImage>(RESOURCES.goldenImage, { namespace, name: `bench-${i}` });
      const fleetVMs = async () => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace })).items;
      const fleetVM = async (i: number) => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace, labelSelector: `${FLEET_LABEL}=web-${i}` })).items[0];
      const boots = (vm: V1VirtualMachine | undefined, i: number, d: string) => vm?.spec?.template?.spec?.volumes?.some((v) => v.containerDisk?.image === `${proxyHost}/${repository(i)}@${d}`) ?? false;
      const started = performance.now();
      await until(`the first version on each of the ${images} fleets' ready VMs`, async () => {
        const all = await fleetVMs();
        const ready = (i: number) => all.some((vm) => vm.metadata?.labels?.[FLEET_LABEL] === `web-${i}` && vm.status?.ready === true && boots(vm, i, digests[i]!));
        return Array.from({ length: images }, (_, i) => i).every(ready) ? true : undefined;
      }, STEP_TIMEOUT_MS + images * 2_000);
      console.log(`\n${images} image${images === 1 ? '' : 's'}, each with a one-VM fleet on its first version after ${((performance.now() - started) / 1000).toFixed(1)} s`);

      const from = counted.length;
      const figures: SizeFigures['pushes'] = [];
      for (let k = 1; k <= pushes; k++) {
        const i = (k - 1) % images;
        await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
        const digest = await pushContainerDisk(registry, repository(i), 'latest', { seed: `bench-${images}-${i}-${k}` });
        digests[i] = digest;
        const pushed = performance.now();
        const ready = await until(`push ${k} Ready`, async () => ((await image(i))?.status?.versions ?? []).some((v) => v.digest === digest && v.phase === 'Ready') || undefined);
        const restarted = await until(`push ${k} on the VM's spec`, async () => (boots(await fleetVM(i), i, digest) ? true : undefined));
        const vmReady = await until(`push ${k}'s VM ready`, async () => {
          const vm = await fleetVM(i);
          return boots(vm, i, digest) && vm?.status?.ready === true ? true : undefined;
        });
        // The poll that found it: the first HEAD of the tag the proxy received after the push ended.
        const tagPath = `/v2/${repository(i)}/manifests/latest`;
        const poll = counted.find((e) => e.at >= pushed && e.method === 'HEAD' && e.path === tagPath)?.at ?? ready.at;
        figures.push({ ready: ready.at - pushed, pollWait: poll - pushed, pollToReady: ready.at - poll, restarted: restarted.at - pushed, vmReady: vmReady.at - pushed });
        console.log(`push ${k} (image bench-${i}): polled ${(poll - pushed).toFixed(0)} ms after the push, Ready ${(ready.at - poll).toFixed(0)} ms after that poll (${(ready.at - pushed).toFixed(0)} ms after the push), VM restarted onto it after ${(restarted.at - pushed).toFixed(0)} ms, VM ready on it after ${(vmReady.at - pushed).toFixed(0)} ms`);
      }
      const duringPushes = counted.slice(from);

      // At rest: nothing pushed, the fleets converged; count what the controller asks the registry.
      await new Promise((r) => setTimeout(r, 2_000));
      const restFrom = counted.length;
      const restStarted = performance.now();
      await new Promise((r) => setTimeout(r, restMs));
      const window = counted.slice(restFrom);
      const heads = window.filter((r) => r.method === 'HEAD').length;
      const gets = window.filter((r) => r.method === 'GET').length;
      return {
        pushes: figures, heads, gets, others: window.length - heads - gets, challenged: window.filter((r) => r.status === 401).length,
        seconds: (performance.now() - restStarted) / 1000, duringPushes: duringPushes.length, getsDuringPushes: duringPushes.filter((r) => r.method === 'GET').length,
      };
    } finally {
      await sizeCleanup.run();
    }
  };

  const results = new Map<number, SizeFigures>();
  for (const images of sizes) {
    const r = await runSize(images);
    results.set(images, r);
    const polls = r.seconds * images;
    console.log(`at rest over ${r.seconds.toFixed(1)} s (${images} image${images === 1 ? '' : 's'}, ~${Math.round(polls)} polls): ${r.heads} HEAD, ${r.gets} GET, ${r.others} other → ${(r.heads / polls).toFixed(2)} HEAD and ${(r.gets / polls).toFixed(2)} GET per image per poll; ${r.challenged} of them answered 401 (an auth challenge before the credentials are sent)`);
    console.log(`requests during the pushes (discovery of ${pushes} digests, while all ${images} images were polled): ${r.duringPushes} in all, ${r.getsDuringPushes} GET`);
  }

  const mm = (xs: number[]) => `${median(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`;
  console.log(`\n${pushes} pushes per size, pollInterval 1s, simulator at ${speed}×; ms, median / max of ${pushes}\n`);
  console.log('| images polled | push → next poll of the tag | that poll → version Ready | push → version Ready | push → VM restarted onto it | push → VM ready on it | HEAD per image per poll at rest | GET per image per poll at rest |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [images, r] of results) {
    const polls = r.seconds * images;
    console.log(`| ${images} | ${mm(r.pushes.map((f) => f.pollWait))} | ${mm(r.pushes.map((f) => f.pollToReady))} | ${mm(r.pushes.map((f) => f.ready))} | ${mm(r.pushes.map((f) => f.restarted))} | ${mm(r.pushes.map((f) => f.vmReady))} | ${(r.heads / polls).toFixed(2)} | ${(r.gets / polls).toFixed(2)} |`);
  }
} finally {
  await cleanup.run();
}
