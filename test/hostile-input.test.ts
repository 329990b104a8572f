// Hostile and wrong input (issue 16): a corpus of at least 500 VMFleets and GoldenImages, each one
// field away from a valid manifest (test/fixtures/mutations.ts), sent to the real API server and
// through `virtfleet validate`. Every case gets the same verdict from both (a change inside a
// fleet's VM template is judged by the API server on the VM it stamps, as validate judges it); the
// wrong ones the API server admits (references it cannot check) are reported Stalled with a
// reason; and a running fleet beside them is never touched: no VM deleted, restarted or migrated.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { stringify } from 'yaml';
import { validatePaths, EXIT_VALID } from '../controller/cli/validate.ts';
import { ApiError } from '../controller/kube/http.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { example } from './fixtures/invalid-resources.ts';
import { fleetSemanticMutations, imageSemanticMutations, mutationsOf, type Mutation, type Obj } from './fixtures/mutations.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { checkInvariants } from './harness/invariants.ts';

let c: FleetCluster;
let dir: string;
beforeAll(async () => {
  c = await fleetCluster('hostile', { nodes: { count: 3 } });
  dir = await mkdtemp(join(tmpdir(), 'virtfleet-hostile-'));
});
afterAll(async () => {
  await c?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Verdict = 'accepted' | 'refused';

/** The API server's verdict on creating it (dry run, unknown fields refused as kubectl does). */
async function apiVerdict(object: Obj): Promise<{ verdict: Verdict; message?: string }> {
  const resource = object.kind === 'VMFleet' ? RESOURCES.vmFleet : object.kind === 'GoldenImage' ? RESOURCES.goldenImage : RESOURCES.vm;
  try {
    await c.client.http.request('POST', `${pathOf(resource, c.namespace)}?dryRun=All&fieldValidation=Strict`, object);
    return { verdict: 'accepted' };
  } catch (err) {
    if (err instanceof ApiError && err.status >= 400 && err.status < 500) return { verdict: 'refused', message: err.statusMessage };
    throw err;
  }
}

/** For a change inside the template, the API server also judges the VirtualMachine the fleet would stamp. */
async function serverVerdict(m: Mutation): Promise<{ verdict: Verdict; message?: string }> {
  const fleet = await apiVerdict(m.object);
  if (fleet.verdict === 'refused' || !m.inTemplate) return fleet;
  const template = (m.object.spec as Obj).template as Obj;
  const metadata = template.metadata !== null && typeof template.metadata === 'object' ? template.metadata as Obj : {};
  return apiVerdict({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { ...metadata, name: 'template', namespace: c.namespace }, spec: template.spec });
}

async function validateVerdict(m: Mutation, index: number): Promise<{ verdict: Verdict; lines: string[] }> {
  const file = join(dir, `case-${index}.yaml`);
  await writeFile(file, stringify(m.object));
  const report = validatePaths([file]);
  return { verdict: report.exitCode === EXIT_VALID ? 'accepted' : 'refused', lines: report.lines };
}

/** Valid manifests to mutate, renamed and moved into the test's namespace. */
function bases(): Obj[] {
  const place = (o: Obj, name: string): Obj => ({ ...o, metadata: { ...(o.metadata as Obj), name, namespace: c.namespace } });
  return [
    place(example('goldenimage-fedora.yaml'), 'gimg'),
    place(example('vmfleet-ci-runners.yaml'), 'runners'),
    place(example('vmfleet-web-rollout.yaml'), 'web'),
    place(vmFleet(c.namespace, 'fixture', { replicas: 2, channel: 'stable' }) as unknown as Obj, 'fixture'),
  ];
}

/** Runs `work` over the items, `limit` at a time. */
async function eachLimited<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  }));
  return results;
}

it('gets the same verdict from the API server and virtfleet validate for 500+ one-field mutations, stalls the admitted wrong ones and leaves a running fleet alone', async () => {
  // The running fleet beside the corpus, watched throughout.
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'steady', { replicas: 3 }));
  await c.waitForFleet('steady', 'steady ready', (s) => s.readyReplicas === 3 && s.updatedReplicas === 3);
  const vmUids = new Map((await c.fleetVMs('steady')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const vmiUids = async () => new Map((await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace })).items.filter((v) => v.metadata!.name!.startsWith('steady-')).map((v) => [v.metadata!.name!, v.metadata!.uid!]));
  const vmisBefore = await vmiUids();
  const checker = await checkInvariants({ kubeConfig: kubeConfig(), namespace: c.namespace, fleets: [{ name: 'steady', replicas: 3, maxUnavailable: 0, maxConcurrent: 0 }], migrationBudget: 0 });

  try {
    const valid = bases();
    for (const b of valid) expect([b.kind, (await serverVerdict({ name: 'valid', path: '', kind: 'null', object: b, inTemplate: b.kind === 'VMFleet' })).verdict]).toEqual([b.kind, 'accepted']);
    const corpus = valid.flatMap((b) => [...mutationsOf(b), ...(b.kind === 'VMFleet' ? fleetSemanticMutations(b) : imageSemanticMutations(b))]);
    const judged = await eachLimited(corpus, 8, async (m, i) => ({ m, server: await serverVerdict(m), offline: await validateVerdict(m, i) }));
    const disagreements = judged.filter((j) => j.server.verdict !== j.offline.verdict);
    const refused = judged.filter((j) => j.server.verdict === 'refused');
    const byKind = new Map<string, number>();
    for (const j of judged) byKind.set(j.m.kind, (byKind.get(j.m.kind) ?? 0) + 1);
    console.log(`corpus: ${corpus.length} mutations (${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}); the API server refused ${refused.length} and admitted ${judged.length - refused.length}; virtfleet validate agreed on ${judged.length - disagreements.length} of ${judged.length}`);
    for (const d of disagreements.slice(0, 20)) console.log(`disagreement: ${d.m.name}: API server ${d.server.verdict}${d.server.message ? ` (${d.server.message.slice(0, 200)})` : ''}, validate ${d.offline.verdict}: ${d.offline.lines.slice(0, 2).join(' | ').slice(0, 300)}`);
    expect(corpus.length).toBeGreaterThanOrEqual(500);
    expect(refused.length).toBeGreaterThanOrEqual(300);
    expect(disagreements.map((d) => d.m.name)).toEqual([]);

    // What admission cannot check (references to other objects) is reported Stalled with a reason.
    const admittedWrong = judged.filter((j) => j.server.verdict === 'accepted' && j.m.kind === 'bad reference' && j.m.object.kind === 'VMFleet');
    expect(admittedWrong.length).toBeGreaterThanOrEqual(3);
    const names: string[] = [];
    for (const [i, j] of admittedWrong.entries()) {
      const name = `admitted-${i}`;
      names.push(name);
      await c.client.create(RESOURCES.vmFleet, { ...j.m.object, metadata: { ...(j.m.object.metadata as Obj), name } });
    }
    for (const [i, name] of names.entries()) {
      await c.waitForFleet(name, `${admittedWrong[i]!.m.name} reported Stalled`, (s) => isCondition(s, 'Stalled', 'True') && (s.conditions ?? []).some((x) => x.type === 'Stalled' && !!x.reason && !!x.message), 30_000);
      expect(await c.fleetVMs(name)).toEqual([]);
    }
  } finally {
    checker.stop();
  }
  // The running fleet was never touched: same VMs, same VMIs, nothing migrated, nothing violated.
  expect(new Map((await c.fleetVMs('steady')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]))).toEqual(vmUids);
  expect(await vmiUids()).toEqual(vmisBefore);
  expect(checker.migrationNames()).toEqual([]);
  expect(checker.violations()).toEqual([]);
});
