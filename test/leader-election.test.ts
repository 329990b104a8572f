// Lease-based leader election on the real API server: one leader at a time, a prompt handover
// when the leader stops, and a wait of one lease duration when the holder vanished without
// releasing.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { LeaderElector } from '../controller/runtime/leader-election.ts';
import { createNamespace, kubeConfig } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let ns: Awaited<ReturnType<typeof createNamespace>>;
const client = () => new KubeClient(kubeConfig(), { qps: 0 });
beforeAll(async () => (ns = await createNamespace('lease')));
afterAll(async () => ns.remove());

const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 };

it('elects exactly one leader and hands over promptly when it stops', async () => {
  const electors = ['a', 'b'].map((identity) => new LeaderElector(client(), { namespace: ns.name, name: 'virtfleet', identity, ...timing }));
  const led: string[] = [];
  const runs = electors.map((e, i) => e.run(() => void led.push(['a', 'b'][i]!)));
  const first = await waitFor('a leader', () => electors.find((e) => e.isLeader));
  let both = false;
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    both ||= electors.every((e) => e.isLeader);
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(both).toBe(false);
  expect(led).toHaveLength(1);

  const stoppedAt = Date.now();
  first.stop();
  const second = await waitFor('the other leads', () => electors.find((e) => e !== first && e.isLeader), 5_000, 20);
  // Released on stop: the successor need not wait out the lease.
  expect(Date.now() - stoppedAt).toBeLessThan(timing.leaseDurationMs);
  second.stop();
  await Promise.all(runs);
  expect(led).toHaveLength(2);
});

it('waits out the lease of a holder that vanished without releasing it', async () => {
  await client().create(RESOURCES.lease, {
    metadata: { namespace: ns.name, name: 'orphaned' },
    spec: { holderIdentity: 'ghost', leaseDurationSeconds: 2, renewTime: new Date().toISOString().replace('Z', '000Z'), leaseTransitions: 0 },
  });
  const elector = new LeaderElector(client(), { namespace: ns.name, name: 'orphaned', identity: 'heir', ...timing });
  const run = elector.run(() => undefined);
  // While the ghost's lease is still valid (renewed moments ago, 2 s long), the heir must not lead.
  let ledEarly = false;
  const validUntil = Date.now() + 1_500;
  while (Date.now() < validUntil) {
    ledEarly ||= elector.isLeader;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(ledEarly).toBe(false);
  await waitFor('heir leads', () => elector.isLeader, 10_000, 20);
  const lease = await client().get<{ metadata?: { name?: string }; spec: { holderIdentity: string; leaseTransitions: number } }>(RESOURCES.lease, { namespace: ns.name, name: 'orphaned' });
  expect(lease?.spec).toMatchObject({ holderIdentity: 'heir', leaseTransitions: 1 });
  elector.stop();
  await run;
});
