// Drift remediation under failure injection (issue 5): with 30% of migrations failing and some
// stalling, every drifted VM is still repaired by live migration, migrations that outrun
// liveMigration.timeout are aborted, and each VM's retries back off exponentially, as observed
// from the API server.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { endedAt, sampleMigrations, wasAborted, type MigrationRecord } from './harness/migrations.ts';
import { waitFor } from './harness/wait.ts';

const BACKOFF = { baseMs: 500, maxMs: 4_000 };
const TIMEOUT_MS = 5_000;
/**
 * Watch latency allowed between the API server's order of events and when this test saw them.
 * Kubernetes timestamps have second precision: backoff and timeouts timed from them instead of
 * from when the controller saw the event come out up to a second short.
 */
const SLACK_MS = 150;

let c: FleetCluster;
// Seed 144 with these probabilities gives, for flaky-0..7 and attempts 1, 2, …: flaky-1 fails
// three times in a row before it succeeds, two VMs stall once (a stall lasts 20 s real, far past
// the 5 s timeout, so only an abort ends it early), and about a third of all migrations fail.
beforeAll(async () => (c = await fleetCluster('driftfaults', {
  nodes: { count: 8 },
  seed: 144,
  migration: { failureProbability: 0.3, stallProbability: 0.15, progressTimeoutMs: 400_000 },
}, { manager: { migrationBackoff: BACKOFF } })));
afterAll(async () => c?.stop());

const node = (i: number) => `${c.namespace}-${i}`;
const label = (indexes: number[], labels: Record<string, string | null>) => Promise.all(indexes.map((i) => c.sim.nodes.label(node(i), labels)));
async function vmis(fleet: string): Promise<Map<string, { uid: string; node: string }>> {
  const list = await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace });
  return new Map(list.items.filter((v) => new RegExp(`^${fleet}-\\d+$`).test(v.metadata!.name!)).map((v) => [v.metadata!.name!, { uid: v.metadata!.uid!, node: v.status?.nodeName ?? '' }]));
}
const events = async () =>
  (await c.client.list<{ metadata?: { name?: string }; reason: string; message: string; involvedObject: { name: string } }>(RESOURCES.event, { namespace: c.namespace })).items.filter((e) => e.involvedObject.name === 'flaky');
const noDrift = (s: VMFleetStatus) => (s.driftedReplicas ?? 0) === 0 && isCondition(s, 'Drifted', 'False', 'NoDrift') && (s.migratingReplicas ?? 0) === 0;
const expectedBackoff = (failures: number) => Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** (failures - 1));

it('repairs all drift despite failing and stalling migrations, aborting timed-out ones and backing off retries', async () => {
  const [oldNodes, newNodes] = [[0, 1, 2, 3], [4, 5, 6, 7]];
  await label(oldNodes, { 'drift.test/s5': 'yes' });
  const fleet = vmFleet(c.namespace, 'flaky', {
    replicas: 8,
    nodeSelector: { 'drift.test/s5': 'yes' },
    remediation: { liveMigration: { maxConcurrent: 3, timeout: `${TIMEOUT_MS / 1000}s` } },
  });
  await c.client.create(RESOURCES.vmFleet, fleet);
  await c.waitForFleet('flaky', 'ready without drift', (s) => s.readyReplicas === 8 && noDrift(s));
  const before = await vmis('flaky');

  const migrations = await sampleMigrations(c.namespace);
  try {
    await label(newNodes, { 'drift.test/s5': 'yes' });
    await label(oldNodes, { 'drift.test/s5': null });
    // About 7 s when every retry follows its backoff (the longest chain: 4 attempts, 3.5 s of
    // backoff; two 5 s timeouts hold slots meanwhile); 30 s leaves room, not a resync period.
    await waitFor('every VMI on a labelled node', async () => [...(await vmis('flaky')).values()].every((v) => newNodes.map(node).includes(v.node)), 30_000, 200).catch(async (err: Error) => {
      // Say where it got stuck: the fleet's status, each VMI's node, every migration's history and the fleet's events.
      const story = migrations.records().map((r) => `${r.name}[${r.phases.map((p) => p.phase || '-').join('>')}${wasAborted(r) ? ' aborted' : ''}]`).join(' ');
      const where = [...(await vmis('flaky'))].map(([name, v]) => `${name}@${v.node}`).join(' ');
      const told = (await events()).map((e) => `${e.reason}: ${e.message}`).join('\n  ');
      throw new Error(`${err.message}\nstatus: ${JSON.stringify(await c.fleetStatus('flaky'))}\nVMIs: ${where}\nmigrations: ${story}\nevents:\n  ${told}`);
    });
    await c.waitForFleet('flaky', 'all drift repaired', (s, vms) => noDrift(s) && vms.every((vm) => !vm.metadata?.annotations?.['virtfleet.io/drift']), 30_000);

    // Every VM moved live: same VMI, now on a node with the label.
    const after = await vmis('flaky');
    for (const [name, was] of before) expect([name, after.get(name)?.uid, newNodes.map(node).includes(after.get(name)?.node ?? '')]).toEqual([name, was.uid, true]);

    const all: MigrationRecord[] = [];
    for (const name of before.keys()) {
      const attempts = migrations.attemptsOf(name, 'flaky');
      all.push(...attempts);
      const describe = attempts.map((r) => `${r.name}:${wasAborted(r) ? 'aborted' : r.finalPhase}`).join(' ');
      // Attempts 1..n: the last succeeded, every earlier one failed or was aborted.
      expect(attempts.map((r) => r.attempt)).toEqual(attempts.map((_, i) => i + 1));
      expect(attempts.map((r) => r.name)).toEqual(attempts.map((_, i) => `${name}-migrate-${i + 1}`));
      expect({ name, last: attempts.at(-1)?.finalPhase }).toEqual({ name, last: 'Succeeded' });
      for (const r of attempts.slice(0, -1)) expect([r.name, wasAborted(r) || r.finalPhase === 'Failed']).toEqual([r.name, true]);
      // Backoff: after k failures in a row, the next attempt waits at least min(max, base·2^(k−1)).
      for (let k = 1; k < attempts.length; k++) {
        const waitedMs = attempts[k]!.seenAt - endedAt(attempts[k - 1]!);
        const retry = { vm: name, attempts: describe, retry: k + 1, waitedMs, backoffMs: expectedBackoff(k) };
        expect({ ...retry, enough: waitedMs >= expectedBackoff(k) - SLACK_MS }).toEqual({ ...retry, enough: true });
      }
    }
    // The injection did happen: failures, timeouts, and a VM retried at least three times.
    const failed = all.filter((r) => r.finalPhase === 'Failed' && !wasAborted(r));
    const aborted = all.filter(wasAborted);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(aborted.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...[...before.keys()].map((name) => migrations.attemptsOf(name, 'flaky').length))).toBeGreaterThanOrEqual(4);
    // Timed-out migrations were aborted at the timeout, not left to run.
    for (const r of aborted) {
      const abort = { migration: r.name, livedMs: r.deletionSeenAt! - r.seenAt, timeoutMs: TIMEOUT_MS };
      expect({ ...abort, notEarly: abort.livedMs >= TIMEOUT_MS - SLACK_MS, notLate: abort.livedMs < TIMEOUT_MS + 3_000 }).toEqual({ ...abort, notEarly: true, notLate: true });
    }
    for (const r of all.filter((x) => !wasAborted(x))) expect([r.name, r.finishedAt! - r.seenAt < TIMEOUT_MS + 3_000]).toEqual([r.name, true]);
    expect(migrations.maxInFlightOf('flaky')).toBeLessThanOrEqual(3);
    expect(migrations.overlaps()).toEqual([]);
  } finally {
    migrations.stop();
  }

  const reasons = new Set((await events()).map((e) => e.reason));
  for (const reason of ['MigrationStarted', 'MigrationSucceeded', 'MigrationFailed', 'MigrationTimedOut']) expect(reasons).toContain(reason);
  expect(reasons).not.toContain('DriftRestarted');
});
