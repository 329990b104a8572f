// `virtfleet plan` against what the controller then does: each change is planned from the live
// cluster, applied, and every VM's actual action (VM and VMI uids, migrations) compared with the
// plan, VM by VM. The example web fleet in the test's namespace, on the run's registry.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { parseAllDocuments } from 'yaml';
import { RESOURCES } from '../controller/kube/resources.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import type { Migration } from '../controller/fleet/remediation.ts';
import type { PlanReport } from '../controller/cli/plan-output.ts';
import type { VMAction } from '../controller/cli/preview.ts';
import { DIGESTS, fixtureRepository, REGISTRY_CA, REGISTRY_SECRET } from './fixtures/fleets.ts';
import { kubectl } from './harness/cluster.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { EXAMPLES_DIR, REPO_ROOT } from './harness/paths.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('plan', { nodes: { count: 3 } }, { goldenImage: false })));
afterAll(async () => c?.stop());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form manifest edits
type Doc = Record<string, any>;

function example(file: string, edit: (doc: Doc) => void = () => undefined): string {
  return parseAllDocuments(readFileSync(join(EXAMPLES_DIR, file), 'utf8')).map((d) => {
    const doc = d.toJS() as Doc;
    doc.metadata.namespace = c.namespace;
    edit(doc);
    return JSON.stringify(doc);
  }).join('\n');
}

const image = () => example('goldenimage-fedora.yaml', (doc) => {
  doc.spec.source.registry = { ...doc.spec.source.registry, repository: fixtureRepository(), pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA };
  doc.spec.versions[0].digest = DIGESTS.v1;
  doc.spec.versions[1].digest = DIGESTS.v2;
});

/** The example fleet, minReadySeconds 1 to keep the test short, with `edit` applied. */
const web = (edit: (doc: Doc) => void = () => undefined) => example('vmfleet-web-rollout.yaml', (doc) => {
  doc.spec.minReadySeconds = 1;
  edit(doc);
});

async function plan(manifest: string, ...args: string[]): Promise<{ code: number; report?: PlanReport; stdout: string; stderr: string }> {
  const cli = run(process.execPath, [join(REPO_ROOT, 'controller/cli/main.ts'), 'plan', '--kubeconfig', process.env.VIRTFLEET_TEST_KUBECONFIG!, '-n', c.namespace, '-f', '-', ...args], { timeout: 30_000 });
  cli.child.stdin!.end(manifest);
  try {
    const { stdout, stderr } = await cli;
    return { code: 0, stdout, stderr, ...(args.includes('json') ? { report: JSON.parse(stdout) as PlanReport } : {}) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ...(args.includes('json') && e.stdout ? { report: JSON.parse(e.stdout) as PlanReport } : {}) };
  }
}

/** VM and VMI uids, and the migrations of each VMI. */
async function observe(): Promise<Map<string, { vm: string; vmi?: string; migrations: string[] }>> {
  const vms = await c.fleetVMs('web');
  const vmis = (await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace })).items;
  const migrations = (await c.client.list<Migration>(RESOURCES.vmim, { namespace: c.namespace })).items;
  return new Map(vms.map((vm) => {
    const name = vm.metadata!.name!;
    const vmi = vmis.find((i) => i.metadata!.name === name)?.metadata?.uid;
    return [name, { vm: vm.metadata!.uid!, ...(vmi ? { vmi } : {}), migrations: migrations.filter((m) => m.spec?.vmiName === name && m.status?.phase === 'Succeeded').map((m) => m.metadata!.name!) }];
  }));
}

/** What happened to each VM between two observations, in the plan's disruption classes. */
type Outcome = 'untouched' | 'migrated' | 'restarted' | 'created' | 'replaced' | 'deleted';
function outcomes(before: Awaited<ReturnType<typeof observe>>, after: Awaited<ReturnType<typeof observe>>): Record<string, Outcome> {
  const out: Record<string, Outcome> = {};
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(name);
    const a = after.get(name);
    out[name] = !a ? 'deleted' : !b ? 'created' : a.vm !== b.vm ? 'replaced' : a.vmi !== b.vmi ? 'restarted' : a.migrations.some((m) => !b.migrations.includes(m)) ? 'migrated' : 'untouched';
  }
  return out;
}

const EXPECTED: Record<VMAction, Outcome> = {
  none: 'untouched', metadataPatch: 'untouched', liveUpdate: 'untouched', liveMigration: 'migrated',
  restart: 'restarted', create: 'created', diskRecreate: 'replaced', delete: 'deleted',
};

/** Plans `manifest`, applies it, waits for `done`, and says the plan and the outcome per VM. */
async function planAndApply(manifest: string, done: Parameters<FleetCluster['waitForFleet']>[2], settled: (after: Awaited<ReturnType<typeof observe>>) => boolean = () => true) {
  const planned = await plan(manifest, '-o', 'json');
  expect(planned.stderr).toBe('');
  const fleet = planned.report!.fleets.find((f) => f.name === 'web')!;
  const before = await observe();
  expect((await kubectl(['apply', '-f', '-'], { input: manifest })).code).toBe(0);
  // The status of the planned revision, not the one before the apply.
  await c.waitForFleet('web', 'the change carried out', (s, vms) => s.updateRevision === fleet.updateRevision && done(s, vms));
  await waitFor('the VMs settled', async () => settled(await observe()), 60_000, 200);
  const actual = outcomes(before, await observe());
  const expected = Object.fromEntries(fleet.vms.map((vm) => [vm.name, EXPECTED[vm.action]]));
  return { fleet, actual, expected };
}

describe('virtfleet plan', () => {
  it('shows the creation of a fleet that does not exist yet, and the creation happens', async () => {
    expect((await kubectl(['apply', '-f', '-'], { input: image() })).code).toBe(0);
    await waitFor('the image version recorded Ready', async () => {
      const gi = await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: 'fedora' });
      return gi?.status?.versions?.some((v) => v.name === 'f42-20261001' && (v.phase === 'Ready' || v.phase === 'Deprecated')) ?? false;
    }, 30_000, 200);
    const planned = await plan(web(), '-o', 'json', '--exit-code');
    expect(planned.code).toBe(1);
    const fleet = planned.report!.fleets[0]!;
    expect(fleet.exists).toBe(false);
    expect(fleet.state).toBe('Planned');
    expect(fleet.vms.map((vm) => vm.action)).toEqual(Array(6).fill('create'));
    expect((await kubectl(['apply', '-f', '-'], { input: web() })).code).toBe(0);
    await c.waitForFleet('web', 'six web VMs available', (s) => s.availableReplicas === 6 && s.imageVersion?.startsWith('f42-20261001') === true);
  });

  it('exits 0 with --exit-code when nothing would change, and prints a table', async () => {
    const planned = await plan(web(), '--exit-code');
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain('changes: none');
    expect(planned.stdout).toMatch(/web-0\s+none/);
  });

  it('a new image version with partition 4: web-4 and web-5 restart, web-0…web-3 wait, as planned', async () => {
    const { fleet, actual, expected } = await planAndApply(web((d) => (d.spec.image.version = 'f42-20261101')),
      (s) => s.updatedReplicas === 2 && s.availableReplicas === 6 && isCondition(s, 'Progressing', 'True'));
    expect(fleet.held.map((h) => h.vm)).toEqual(['web-0', 'web-1', 'web-2', 'web-3']);
    expect(expected).toMatchObject({ 'web-4': 'restarted', 'web-5': 'restarted', 'web-0': 'untouched' });
    expect(actual).toEqual(expected);
    // The status tells what runs: two of six on the new version, four waiting below the partition.
    const status = (await c.fleetStatus('web'))!;
    expect(status.imageSummary).toBe('f42-20261101 (2/6)');
    expect(status.imageVersions).toEqual([{ version: 'f42-20261101', replicas: 2 }, { version: 'f42-20261001', replicas: 4 }]);
    expect(status.conditions!.find((x) => x.type === 'Progressing')!.message).toBe(`2/6 VMs run revision ${fleet.updateRevision}; web-0, web-1, web-2, web-3 wait at revision ${fleet.held[0]!.revision} (partition 4: VMs with an index below it keep their revision)`);
    const events = (await c.client.list<{ metadata?: { name?: string }; reason?: string; message?: string }>(RESOURCES.event, { namespace: c.namespace })).items;
    expect(events.filter((e) => e.reason === 'RolloutComplete').map((e) => e.message)).not.toContainEqual(expect.stringContaining(fleet.updateRevision!));
    await waitFor('a RolloutPartitioned Event', async () => (await c.client.list<{ metadata?: { name?: string }; reason?: string; message?: string }>(RESOURCES.event, { namespace: c.namespace })).items.some((e) => e.reason === 'RolloutPartitioned' && e.message?.includes('wait at revision') === true), 10_000, 200);
  });

  it('CPU sockets raised within maxSockets: live updates, then live migrations, as planned', async () => {
    const { fleet, actual, expected } = await planAndApply(web((d) => {
      d.spec.image.version = 'f42-20261101';
      d.spec.template.spec.template.spec.domain.cpu.sockets = 2;
      d.spec.updateStrategy.rollingUpdate.partition = 4;
    }), (s) => s.updatedReplicas === 2, (after) => ['web-4', 'web-5'].every((n) => (after.get(n)?.migrations.length ?? 0) > 0));
    expect(fleet.vms.filter((vm) => vm.action !== 'none').map((vm) => [vm.name, vm.steps.map((st) => st.action)])).toEqual([['web-4', ['liveUpdate', 'liveMigration']], ['web-5', ['liveUpdate', 'liveMigration']]]);
    expect(actual).toEqual(expected);
  });

  it('a placement change: live updates, and live migrations of the VMs off the zone, as planned', async () => {
    const { fleet, actual, expected } = await planAndApply(web((d) => {
      d.spec.image.version = 'f42-20261101';
      d.spec.template.spec.template.spec.domain.cpu.sockets = 2;
      d.spec.template.spec.template.spec.nodeSelector = { 'topology.kubernetes.io/zone': 'zone-a' };
      d.spec.updateStrategy.rollingUpdate.partition = 0;
    }), (s) => s.updatedReplicas === 6 && s.availableReplicas === 6 && s.migratingReplicas === 0 && s.driftedReplicas === 0);
    expect(fleet.summary.actions.liveMigration + fleet.summary.actions.restart).toBeGreaterThan(0);
    expect(actual).toEqual(expected);
  });

  it('a dataVolumeTemplates change recreates every VM, as planned', async () => {
    const { fleet, actual, expected } = await planAndApply(web((d) => {
      d.spec.image.version = 'f42-20261101';
      d.spec.template.spec.template.spec.domain.cpu.sockets = 2;
      d.spec.template.spec.template.spec.nodeSelector = { 'topology.kubernetes.io/zone': 'zone-a' };
      d.spec.updateStrategy.rollingUpdate = { maxUnavailable: 3, partition: 0 };
      d.spec.template.spec.dataVolumeTemplates = [{ metadata: { name: 'scratch' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } }];
      d.spec.template.spec.template.spec.domain.devices.disks.push({ name: 'scratch', disk: { bus: 'virtio' } });
      d.spec.template.spec.template.spec.volumes.push({ name: 'scratch', dataVolume: { name: 'scratch' } });
    }), (s) => s.updatedReplicas === 6 && s.availableReplicas === 6 && s.currentRevision === s.updateRevision);
    expect(fleet.vms.every((vm) => vm.action === 'diskRecreate')).toBe(true);
    expect(fleet.waves.length).toBeGreaterThanOrEqual(2);
    expect(actual).toEqual(expected);
  });
});
