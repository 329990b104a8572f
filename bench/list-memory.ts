// Benchmark: what one LIST of many objects leaves in the controller process's memory, listed whole
// (client.list, one response) or in pages (listInPages, 500 a page), each object shrunk by the
// VM cache's transform as the informer does. A loopback HTTPS server on 127.0.0.1 serves N
// VirtualMachines as the API server writes them (managed fields included, about 6.5 KiB of JSON
// each) and pages as it does (limit/continue). Each way runs in a child process of its own, which
// reports its RSS, VmHWM and V8 heap after the list and again after a few idle seconds. Each size
// N is served in a namespace of its own (`bench-N`), and a last table sets the sizes side by side.
//   node bench/list-memory.ts [--sizes 1000,5000,10000 | --objects 10000] [--reps 2] [--settle 5]
// The figures depend on the machine and Node's version; compare the rows of one run.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { listInPages } from '../controller/cache/paged-list.ts';
import { cachedVM } from '../controller/cache/vms.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { selfSignedServingCert, startLoopbackServer } from '../controller/sources/test-servers.ts';
import { loadNote, max, median, MiB } from './lib/fleet-world.ts';
import { processFigures } from './lib/controller-child.ts';
import { parseSizes } from './lib/sizes.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,5000,10000' }, objects: { type: 'string' }, reps: { type: 'string', default: '2' }, settle: { type: 'string', default: '5' }, child: { type: 'string' }, way: { type: 'string' } } });

/** A fleet VM as the API server returns it: spec, status and three managed-field entries. */
function vm(i: number) {
  const fields = (prefix: string) => Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`f:${prefix}${k}`, { 'f:name': {}, 'f:value': {}, [`k:{"type":"c${k}"}`]: { '.': {}, 'f:status': {} } }]));
  return {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine',
    metadata: {
      name: `fleet-${Math.floor(i / 100)}-${i % 100}`, namespace: 'bench', uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resourceVersion: String(1000 + i), generation: 1,
      creationTimestamp: '2026-12-02T00:29:32Z', finalizers: ['kubevirt.io/virtualMachineControllerFinalize'],
      labels: { app: `fleet-${Math.floor(i / 100)}`, 'virtfleet.io/fleet': `fleet-${Math.floor(i / 100)}`, 'virtfleet.io/index': String(i % 100), 'virtfleet.io/revision': 'efde297bb5' },
      ownerReferences: [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', name: `fleet-${Math.floor(i / 100)}`, uid: '9c2b1094-7a71-49bd-bc4c-8151979e13af', controller: true, blockOwnerDeletion: true }],
      managedFields: ['virtfleet', 'virt-controller', 'virt-handler'].map((manager) => ({ manager, operation: 'Update', apiVersion: 'kubevirt.io/v1', time: '2026-12-02T00:29:34Z', fieldsType: 'FieldsV1', fieldsV1: fields(manager) })),
    },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: { app: `fleet-${Math.floor(i / 100)}`, 'virtfleet.io/fleet': `fleet-${Math.floor(i / 100)}`, 'virtfleet.io/index': String(i % 100) } },
        spec: {
          domain: { cpu: { cores: 1, maxSockets: 4, sockets: 1, threads: 1 }, devices: { disks: [{ disk: { bus: 'virtio' }, name: 'rootdisk' }] }, memory: { guest: '1Gi' } },
          volumes: [{ name: 'rootdisk', containerDisk: { image: '127.0.0.1:41379/containerdisks/fedora@sha256:991284369cb96861268d804a160b466e1cc5e401585039a5956f732d94cd759f' } }],
        },
      },
    },
    status: { conditions: [{ lastTransitionTime: '2026-12-02T00:29:34Z', status: 'True', type: 'Ready' }, { lastTransitionTime: '2026-12-02T00:29:34Z', status: 'True', type: 'LiveMigratable' }], created: true, desiredGeneration: 1, observedGeneration: 1, printableStatus: 'Running', ready: true, runStrategy: 'Always' },
  };
}

interface Figures { rss: number; hwm: number; heapUsed: number; heapTotal: number; external: number }

if (values.child) {
  // The child: list once, keep the shrunk objects (as a cache does), report, idle, report again.
  const kc = new KubeConfig();
  kc.loadFromString(values.child);
  const client = new KubeClient(kc, { qps: 0 });
  type VM = V1VirtualMachine & KubernetesObject;
  const namespace = `bench-${values.objects}`;
  const list = values.way === 'pages'
    ? await listInPages<VM>(client, RESOURCES.vm, { namespace, transform: cachedVM })
    : await client.list<VM>(RESOURCES.vm, { namespace });
  list.items.forEach(cachedVM);
  const cache = new Map(list.items.map((o) => [o.metadata?.name, o]));
  const report = () => {
    const m = process.memoryUsage();
    const f = processFigures(process.pid);
    console.log(JSON.stringify({ rss: f.rss, hwm: f.hwm, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, cached: cache.size }));
  };
  report();
  await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
  report();
  process.exit(0);
}

const sizes = parseSizes(values.objects ?? values.sizes!, 'numbers of VMs');
const reps = Number(values.reps);
const tls = await selfSignedServingCert();
/** Pages by size and start, made once (the server is not what is measured); a whole list is made per request. */
const pages = new Map<string, string>();
const body = (from: number, to: number, token?: string) => JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineList', metadata: { resourceVersion: '99999', ...(token ? { continue: token } : {}) }, items: Array.from({ length: to - from }, (_, k) => vm(from + k)) });
const server = await startLoopbackServer((req, res) => {
  const url = new URL(req.url ?? '', 'https://x');
  const count = Number(/\/namespaces\/bench-(\d+)\//.exec(url.pathname)?.[1] ?? 0);
  const limit = Number(url.searchParams.get('limit') ?? 0);
  const from = Number(url.searchParams.get('continue') ?? 0);
  const to = limit > 0 ? Math.min(count, from + limit) : count;
  res.setHeader('Content-Type', 'application/json');
  if (limit === 0) return res.end(body(0, count));
  const key = `${count}/${from}`;
  if (!pages.has(key)) pages.set(key, body(from, to, to < count ? String(to) : undefined));
  res.end(pages.get(key));
}, tls);
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'loopback', server: server.url, caData: Buffer.from(tls.cert).toString('base64') }],
  users: [{ name: 'bench', token: 'bench' }],
  contexts: [{ name: 'loopback', cluster: 'loopback', user: 'bench' }],
  currentContext: 'loopback',
});
const kubeconfig = kc.exportConfig();
const runChild = (way: string, objects: number) => new Promise<Figures[]>((resolve, reject) => {
  const child = spawn(process.execPath, ['--max-semi-space-size=2', import.meta.filename, '--child', kubeconfig, '--way', way, '--objects', String(objects), '--settle', values.settle!], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Figures[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => out.push(JSON.parse(l) as Figures));
  child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
});
const WAYS = { whole: 'one response', pages: 'pages of 500' } as const;
try {
  console.log(`sizes ${sizes.join(', ')} VMs of about ${(body(0, 1).length / 1024).toFixed(1)} KiB of JSON each; ${reps} repetitions; ${loadNote()}`);
  const fmt = (xs: number[]) => `${median(xs).toFixed(0)} / ${max(xs).toFixed(0)}`;
  const flags = `child flags --max-semi-space-size=2${process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : ''}`;
  const bySize = new Map<number, Record<keyof typeof WAYS, Figures[][]>>();
  for (const count of sizes) {
    const rows: Record<keyof typeof WAYS, Figures[][]> = { whole: [], pages: [] };
    for (let rep = 0; rep < reps; rep++) for (const way of ['whole', 'pages'] as const) rows[way].push(await runChild(way, count));
    bySize.set(count, rows);
    console.log(`\n${count} VMs — MiB, median / max of ${reps}, ${flags}\n`);
    console.log('| list | peak RSS | RSS after the list | heap used | heap committed | external | RSS after idling |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [way, runs] of Object.entries(rows) as [keyof typeof WAYS, Figures[][]][]) {
      const at = (i: number, k: keyof Figures) => runs.map((r) => r[i]![k] / MiB);
      console.log(`| ${WAYS[way]} | ${fmt(at(0, 'hwm'))} | ${fmt(at(0, 'rss'))} | ${fmt(at(0, 'heapUsed'))} | ${fmt(at(0, 'heapTotal'))} | ${fmt(at(0, 'external'))} | ${fmt(at(1, 'rss'))} |`);
    }
  }
  if (sizes.length > 1) {
    // Growth: the medians side by side, and what each further 1,000 objects adds between the
    // smallest and the largest size (the slope, free of the process's fixed cost).
    const [first, last] = [sizes[0]!, sizes.at(-1)!];
    const med = (count: number, way: keyof typeof WAYS, i: number, k: keyof Figures) => median(bySize.get(count)![way].map((r) => r[i]![k] / MiB));
    console.log(`\nhow it grows — MiB, medians of ${reps}; slope: MiB per 1,000 VMs from ${first} to ${last}\n`);
    console.log(`| list | ${sizes.map((n) => `peak RSS at ${n}`).join(' | ')} | slope | ${sizes.map((n) => `heap used at ${n}`).join(' | ')} | slope |`);
    console.log(`|---|${sizes.map(() => '---|').join('')}---|${sizes.map(() => '---|').join('')}---|`);
    for (const way of ['whole', 'pages'] as const) {
      const cells = (k: keyof Figures) => [...sizes.map((n) => med(n, way, 0, k).toFixed(0)), ((med(last, way, 0, k) - med(first, way, 0, k)) / ((last - first) / 1000)).toFixed(1)];
      console.log(`| ${WAYS[way]} | ${cells('hwm').join(' | ')} | ${cells('heapUsed').join(' | ')} |`);
    }
  }
} finally {
  await server.close();
}
