// Lease-based leader election on the real API server: one leader at a time, a prompt handover
// when the leader stops, a wait of one lease duration when the holder vanished without
// releasing; a leader whose Lease is taken stops writing and (as a process) exits with code 1,
// a renewal never outlives the renew deadline, and election errors carry the server's words.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_LEASE_NAME, VirtFleetManager } from '../controller/virtfleet.ts';
import { FencedError, KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { LeaderElector, LeadershipLost } from '../controller/runtime/leader-election.ts';
import type { Logger } from '../controller/runtime/logger.ts';
import { createNamespace, kubeConfig } from './harness/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './harness/controller-process.ts';
import { waitFor } from './harness/wait.ts';

let ns: Awaited<ReturnType<typeof createNamespace>>;
const client = () => new KubeClient(kubeConfig(), { qps: 0 });
const processes: ControllerProcess[] = [];
beforeAll(async () => (ns = await createNamespace('lease')));
afterAll(async () => {
  await Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.kill('SIGKILL')));
  await ns.remove();
});

interface LeaseObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string | null; leaseDurationSeconds?: number; renewTime?: string; leaseTransitions?: number };
}
const microNow = () => new Date().toISOString().replace('Z', '000Z');

/** Replaces the Lease's holder with a third identity and a fresh renewTime, as a rival would. */
async function takeLease(name: string, thief: string): Promise<void> {
  await waitFor('the lease taken', async () => {
    const lease = await client().get<LeaseObject>(RESOURCES.lease, { namespace: ns.name, name });
    if (!lease) return false;
    try {
      await client().replace(RESOURCES.lease, { metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: thief, renewTime: microNow() } });
      return true;
    } catch {
      return false; // the holder renewed in between (409): read it again
    }
  }, 5_000, 1);
}

/** A logger that keeps its lines. */
function memoryLog(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (msg, fields = {}) => void lines.push({ level: 'info', msg, fields }),
    error: (msg, fields = {}) => void lines.push({ level: 'error', msg, fields }),
  };
}

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

const processTiming = { renewDeadlineMs: 1_500, retryPeriodMs: 200 }; // test/harness/controller-process.ts's flags

it('makes a leader whose Lease is taken exit with code 1 within the renew deadline, and the other replica take over', async () => {
  const pair = [startControllerProcess(ns.name), startControllerProcess(ns.name)];
  processes.push(...pair);
  const leader = await waitFor('a leader', () => pair.find((p) => p.led()), 60_000, 20);
  const follower = pair.find((p) => p !== leader)!;
  const leaderIdentity = leader.lines.find((l) => l.msg === 'became leader')!.identity as string;
  const lease = await client().get<LeaseObject>(RESOURCES.lease, { namespace: ns.name, name: DEFAULT_LEASE_NAME });
  expect(lease?.spec?.holderIdentity).toBe(leaderIdentity);

  const takenAt = Date.now();
  await takeLease(DEFAULT_LEASE_NAME, 'thief');
  const exit = await leader.exited;
  const tookMs = exit.at - takenAt;
  console.log(`leader exited ${tookMs} ms after its Lease was taken (renew deadline ${processTiming.renewDeadlineMs} ms, retry period ${processTiming.retryPeriodMs} ms)`);
  expect(exit.code).toBe(1);
  // Deadline plus two retry periods plus one second for the process to wind down.
  expect(tookMs).toBeLessThan(processTiming.renewDeadlineMs + 2 * processTiming.retryPeriodMs + 1_000);
  const lost = await waitFor('the log line', () => leader.lines.find((l) => l.msg === 'leadership lost'), 5_000, 20);
  expect(lost).toMatchObject({ level: 'error', identity: leaderIdentity, reason: 'lease taken by thief' });
  expect(leader.lines.some((l) => l.msg === 'stopped: leader election lost' && l.exitCode === 1)).toBe(true);
  expect(leader.lines.some((l) => String(l.msg).includes('unsettled top-level await'))).toBe(false);

  // The thief never renews: the follower waits out its lease and takes over.
  await waitFor('the follower leads', () => follower.led(), 15_000, 20);
  const after = await client().get<LeaseObject>(RESOURCES.lease, { namespace: ns.name, name: DEFAULT_LEASE_NAME });
  expect(after?.spec?.holderIdentity).toBe(follower.lines.find((l) => l.msg === 'became leader')!.identity);
  await follower.stop();
  expect((await follower.exited).code).toBe(0); // SIGTERM: graceful, the lease released
  const released = await client().get<LeaseObject>(RESOURCES.lease, { namespace: ns.name, name: DEFAULT_LEASE_NAME });
  expect(released?.spec?.holderIdentity ?? null).toBeNull();
});

it('fences an in-process manager that lost its Lease and calls its hook instead of exiting', async () => {
  const log = memoryLog();
  const reasons: string[] = [];
  const manager = new VirtFleetManager({
    kubeConfig: kubeConfig(),
    namespace: ns.name,
    identity: 'library',
    log,
    leaderElection: { namespace: ns.name, name: 'library', leaseDurationMs: 2_000, ...processTiming },
    onLeadershipLost: (reason) => void reasons.push(reason),
  });
  await manager.start();
  await waitFor('it leads', () => log.lines.some((l) => l.msg === 'became leader'), 30_000, 20);
  await manager.client.get(RESOURCES.lease, { namespace: ns.name, name: 'library' }); // not fenced yet
  await takeLease('library', 'thief');
  await waitFor('the hook called', () => reasons.length > 0, 5_000, 10);
  expect(reasons).toEqual(['lease taken by thief']);
  expect(log.lines.find((l) => l.msg === 'leadership lost')).toMatchObject({ level: 'error', fields: { identity: 'library', reason: 'lease taken by thief' } });
  // Not one more request goes out from the controller's client.
  expect(manager.client.http.fenceReason).toContain('lease taken by thief');
  await expect(manager.client.create(RESOURCES.lease, { metadata: { namespace: ns.name, name: 'after-loss' } })).rejects.toBeInstanceOf(FencedError);
  await manager.stop();
  expect(await client().get(RESOURCES.lease, { namespace: ns.name, name: 'after-loss' })).toBeUndefined();
  const lease = await client().get<LeaseObject>(RESOURCES.lease, { namespace: ns.name, name: 'library' });
  expect(lease?.spec?.holderIdentity).toBe('thief'); // a lost lease is not "released" over the new holder
});

/** A TCP proxy on loopback to the API server that can stop passing bytes (a hung server). */
async function hangableProxy(): Promise<{ kubeConfig: KubeConfig; hang: () => void; close: () => Promise<void> }> {
  const kc = kubeConfig();
  const target = new URL(kc.getCurrentCluster()!.server);
  let hung = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((downstream) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    downstream.on('data', (d) => void (hung || upstream.write(d)));
    upstream.on('data', (d) => void (hung || downstream.write(d)));
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const proxied = new KubeConfig();
  proxied.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === kc.getCurrentCluster()!.name ? { ...c, server: `https://127.0.0.1:${port}` } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return {
    kubeConfig: proxied,
    hang: () => void (hung = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

it('gives leadership up within the renew deadline when the API server stops answering', async () => {
  const proxy = await hangableProxy();
  try {
    const log = memoryLog();
    const elector = new LeaderElector(new KubeClient(proxy.kubeConfig, { qps: 0 }), { namespace: ns.name, name: 'hung', identity: 'hung', log, leaseDurationMs: 2_000, ...processTiming });
    let ended: AbortSignal | undefined;
    const run = elector.run((signal) => void (ended = signal));
    await waitFor('it leads', () => elector.isLeader, 30_000, 10);
    const hungAt = Date.now();
    proxy.hang();
    const lost = await run;
    const tookMs = Date.now() - hungAt;
    console.log(`leadership given up ${tookMs} ms after the API server stopped answering (renew deadline ${processTiming.renewDeadlineMs} ms)`);
    expect(lost).toBeInstanceOf(LeadershipLost);
    expect(lost!.why).toMatch(/^could not renew within 1500 ms: .*no answer before the renew deadline/);
    expect(ended?.reason).toBe(lost);
    // The last renewal started at most one retry period before the hang: the deadline holds from it.
    expect(tookMs).toBeLessThan(processTiming.renewDeadlineMs + processTiming.retryPeriodMs + 100);
    expect(log.lines.filter((l) => l.msg === 'could not renew the lease').length).toBeLessThanOrEqual(1);
  } finally {
    await proxy.close();
  }
});

it('logs an election error once with the API server\'s words, not once per retry', async () => {
  const log = memoryLog();
  const missing = `${ns.name}-missing`;
  const elector = new LeaderElector(client(), { namespace: missing, name: 'nowhere', identity: 'lost-soul', log, leaseDurationMs: 2_000, ...processTiming });
  const run = elector.run(() => undefined);
  await new Promise((r) => setTimeout(r, 1_200)); // about six tries
  elector.stop();
  expect(await run).toBeUndefined();
  expect(elector.isLeader).toBe(false);
  const errors = log.lines.filter((l) => l.level === 'error');
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ msg: 'could not acquire the lease', fields: { identity: 'lost-soul', lease: `${missing}/nowhere`, status: 404, reason: 'NotFound', error: `namespaces "${missing}" not found` } });
});
