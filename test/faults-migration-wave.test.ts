// kube-apiserver SIGKILLed and started again on the same etcd in the middle of a migration wave,
// while the controller (a process) keeps running (issue 16). Nodes are relabelled so that the
// nodeSelector of two fleets no longer holds where their VMs run (together they want more
// migrations at once than the namespace's budget allows); with migrations in flight the API server
// dies. Checked: every drifted VM is repaired by live migration (same VM, same VMI, now on a
// matching node), the per-fleet maxConcurrent and the namespace's budget are never exceeded and
// no VMI has two migrations in flight at any sample the checker took, each VMI was moved by
// exactly one successful migration (none created again after the restart), and nothing was lost.
// On a control plane of this file's own, so the outage reaches no other test file.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { CoreV1Event, V1Node } from '@kubernetes/client-node';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { startRunProcess, type ControllerProcess } from './harness/controller-process.ts';
import { checkInvariants, inFlight } from './harness/invariants.ts';
import { settle, startOwnControlPlane, type OwnControlPlane } from './harness/own-control-plane.ts';
import { waitFor } from './harness/wait.ts';

const NS = 'wave-restart';
const FLEETS = { wave: 8, side: 4 };
const MAX_CONCURRENT = 2;
const BUDGET = 3;
const LABEL = 'wave.test/here';

let c: OwnControlPlane;
let controller: ControllerProcess;

// Migrations take about 1.5 s real each (1 GiB at 30 s/GiB simulated, speed 20), so several are
// in flight when the API server goes down and the wave outlasts the restart.
beforeAll(async () => {
  c = await startOwnControlPlane({ namespaces: [NS], nodes: 8, sim: { migration: { msPerGiB: 30_000 } } });
  controller = startRunProcess(['--kubeconfig', c.plane.kubeconfigPath, '-n', NS, '--migration-budget-scope', 'namespace', '--migration-budget', String(BUDGET)],
    { ...process.env, VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS: '5000' });
}, 120_000);
afterAll(async () => {
  await controller?.kill('SIGKILL');
  await c?.stop();
});

const label = (indexes: number[], labels: Record<string, string | null>) => Promise.all(indexes.map((i) => c.sim.nodes.label(c.node(i), labels)));
const noDrift = (s: VMFleetStatus | undefined, replicas: number) => !!s && s.readyReplicas === replicas && (s.driftedReplicas ?? 0) === 0 && (s.migratingReplicas ?? 0) === 0
  && !!s.conditions?.some((cond) => cond.type === 'Drifted' && cond.status === 'False');
const names = Object.keys(FLEETS) as (keyof typeof FLEETS)[];
const allRepaired = async () => (await Promise.all(names.map(async (name) => noDrift(await c.fleetStatus(NS, name), FLEETS[name])))).every(Boolean);
const vmis = async () => new Map((await Promise.all(names.map((name) => c.fleetVMIs(NS, name)))).flat().map((v) => [v.metadata!.name!, { uid: v.metadata!.uid!, node: v.status?.nodeName ?? '' }]));
/**
 * Why VMIs were not moved by exactly one success: each one's node and migrationState, each of its
 * migrations with the target its final migrationState names and whether that node carries the
 * label, and the fleets' MigrationMisplaced Events. A second attempt after a misplaced landing
 * (target not labelled, or the VMI left where it was) is the controller's correct answer to it;
 * one without a MigrationMisplaced Event is the controller's fault.
 */
async function migrationReport(vmiNames: string[], migrations: readonly V1VirtualMachineInstanceMigration[]): Promise<string> {
  const [nodes, vmiList, events] = await Promise.all([
    c.client.list<V1Node>(RESOURCES.node),
    c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: NS }),
    c.client.list<CoreV1Event>(RESOURCES.event, { namespace: NS }),
  ]);
  const labelled = (node: string | undefined) => node === undefined ? 'unknown' : nodes.items.find((n) => n.metadata?.name === node)?.metadata?.labels?.[LABEL] === 'yes' ? 'labelled' : 'NOT labelled';
  const lines = vmiNames.map((name) => {
    const vmi = vmiList.items.find((v) => v.metadata?.name === name);
    const state = vmi?.status?.migrationState;
    const own = migrations.filter((m) => m.spec?.vmiName === name).sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!, 'en', { numeric: true }));
    const each = own.map((m) => {
      const target = m.status?.migrationState?.targetNode ?? (state?.migrationUid === m.metadata?.uid ? state?.targetNode : undefined);
      return `  ${m.metadata!.name!} (uid ${m.metadata?.uid}) ${m.status?.phase ?? 'no phase'}, target ${target ?? '?'} (${labelled(target)})`;
    });
    return [`${name} on ${vmi?.status?.nodeName ?? '?'} (${labelled(vmi?.status?.nodeName)}), migrationState uid ${state?.migrationUid ?? '-'} completed ${state?.completed ?? false} target ${state?.targetNode ?? '-'}:`, ...each].join('\n');
  });
  const misplaced = events.items.filter((e) => e.reason === 'MigrationMisplaced' && e.involvedObject.kind === 'VMFleet')
    .map((e) => `  ${e.involvedObject.name} x${e.count ?? 1}: ${e.message ?? ''}`);
  return [...lines, `MigrationMisplaced Events:${misplaced.length > 0 ? `\n${misplaced.join('\n')}` : ' none'}`].join('\n');
}
const vmUids = async () => new Map((await Promise.all(names.map((name) => c.fleetVMs(NS, name)))).flat().map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));

it('repairs every drifted VM through a SIGKILLed kube-apiserver mid-wave, within the budgets and without a duplicate migration', async () => {
  const [oldNodes, newNodes] = [[0, 1, 2, 3], [4, 5, 6, 7]];
  await label(oldNodes, { [LABEL]: 'yes' });
  for (const name of names) {
    await c.client.create(RESOURCES.vmFleet, vmFleet(NS, name, {
      replicas: FLEETS[name],
      nodeSelector: { [LABEL]: 'yes' },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      remediation: { liveMigration: { maxConcurrent: MAX_CONCURRENT } },
    }));
  }
  await settle('ready without drift', allRepaired, 90_000, controller);
  const before = await vmis();
  const uids = await vmUids();
  expect(before.size).toBe(FLEETS.wave + FLEETS.side);

  const checker = await checkInvariants({ kubeConfig: c.plane.kubeConfig(), namespace: NS, fleets: names.map((name) => ({ name, replicas: FLEETS[name], maxUnavailable: 1, maxConcurrent: MAX_CONCURRENT })), migrationBudget: BUDGET });
  try {
    await label(newNodes, { [LABEL]: 'yes' });
    await label(oldNodes, { [LABEL]: null });
    await waitFor('migrations in flight', () => checker.current().migrations.filter(inFlight).length >= 2, 30_000, 20);
    const inFlightAtKill = checker.current().migrations.filter(inFlight).map((m) => m.metadata!.name!);
    const killedAt = Date.now();
    await c.plane.restart('kube-apiserver');
    console.log(`kube-apiserver back after ${Date.now() - killedAt} ms; in flight when killed: ${inFlightAtKill.join(' ')}`);

    await settle('every VMI on a labelled node, no drift left', async () =>
      [...(await vmis()).values()].every((v) => newNodes.map(c.node).includes(v.node)) && await allRepaired(), 90_000, controller,
    async () => `status: ${JSON.stringify(await Promise.all(names.map((name) => c.fleetStatus(NS, name))))}\nVMIs: ${[...(await vmis())].map(([n, v]) => `${n}@${v.node}`).join(' ')}`);

    const after = await vmis();
    for (const [name, was] of before) expect([name, after.get(name)?.uid]).toEqual([name, was.uid]);
    expect(await vmUids()).toEqual(uids);
    // One successful migration per VMI: none was made again for a VM the wave had already moved.
    const ours = (await c.migrations(NS)).filter((m) => names.includes(m.metadata?.labels?.[FLEET_LABEL] as keyof typeof FLEETS));
    const succeeded = (vmi: string) => ours.filter((m) => m.spec?.vmiName === vmi && m.status?.phase === 'Succeeded').map((m) => m.metadata!.name!);
    const unexpected = [...before.keys()].filter((name) => JSON.stringify(succeeded(name)) !== JSON.stringify([`${name}-migrate-1`]));
    if (unexpected.length > 0) console.log(`not moved by exactly one successful migration: ${unexpected.join(' ')}\n${await migrationReport(unexpected, await c.migrations(NS))}`);
    for (const name of before.keys()) expect([name, succeeded(name)]).toEqual([name, [`${name}-migrate-1`]]);
    console.log(`${ours.length} migrations, most in flight ${JSON.stringify(checker.maxInFlight())}, ${checker.samples()} samples, ${checker.relists()} checker relists`);
    expect(checker.violations()).toEqual([]);
    // The budget was reached (two fleets of maxConcurrent 2 want 4 at once), and never exceeded.
    expect(checker.maxInFlight().total).toBe(BUDGET);
    expect(controller.child.exitCode).toBeNull();
  } finally {
    checker.stop();
  }
}, 240_000);
