// Injected migration failures and stalls: a failed or stalled migration leaves the VMI running
// on its source with the failure recorded, as KubeVirt reports it.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { RESOURCES } from '../controller/kube/resources.ts';
import { virtualMachine } from './fixtures/vms.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { waitFor } from './harness/wait.ts';

let c: SimulatedCluster;
beforeAll(async () => {
  c = await simulatedCluster('simfail', {
    speed: 20,
    seed: 42,
    nodes: { count: 4, cpu: '64', memory: '256Gi' },
    vmi: { pendingMs: 200, schedulingMs: 200, scheduledMs: 500 },
    migration: { phaseMs: 100, msPerGiB: 1_000, failureProbability: 0.4, stallProbability: 0.2, progressTimeoutMs: 10_000 },
  });
});
afterAll(async () => c?.stop());

const vmi = (name: string) => c.client.get<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace, name });
const migration = (name: string) => c.client.get<V1VirtualMachineInstanceMigration>(RESOURCES.vmim, { namespace: c.namespace, name });

it('fails and stalls migrations by seeded chance; the VMI stays on its source when one does not succeed', async () => {
  const names = Array.from({ length: 16 }, (_, i) => `vm-${i}`);
  await Promise.all(names.map((n) => c.client.create(RESOURCES.vm, virtualMachine(c.namespace, n))));
  const sources = new Map<string, string>();
  await waitFor('16 VMIs Running', async () => {
    const all = await Promise.all(names.map(vmi));
    all.forEach((i, k) => i?.status?.nodeName && sources.set(names[k]!, i.status.nodeName));
    return all.every((i) => i?.status?.phase === 'Running');
  }, 60_000);

  await Promise.all(names.map((n) => c.client.create(RESOURCES.vmim, { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: `${n}-m`, namespace: c.namespace }, spec: { vmiName: n } })));
  const results = await waitFor('every migration finished', async () => {
    const all = await Promise.all(names.map((n) => migration(`${n}-m`)));
    return all.every((m) => m?.status?.phase === 'Succeeded' || m?.status?.phase === 'Failed') ? all : undefined;
  }, 120_000);

  const reasons = results.map((m) => m!.status?.conditions?.find((x) => x.type === 'Failed')?.reason ?? 'Succeeded');
  expect(reasons).toContain('Succeeded');
  expect(reasons).toContain('MigrationFailed');
  expect(reasons).toContain('ProgressTimeout');
  for (const [k, n] of names.entries()) {
    const after = (await vmi(n))!;
    if (reasons[k] === 'Succeeded') {
      expect(after.status?.nodeName).not.toBe(sources.get(n));
    } else {
      expect(after.status?.nodeName).toBe(sources.get(n));
      expect(after.status?.migrationState).toMatchObject({ completed: true, failed: true, failureReason: expect.any(String) });
    }
  }
});
