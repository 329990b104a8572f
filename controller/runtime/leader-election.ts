// Lease-based leader election with client-go's semantics (tools/leaderelection): a candidate
// takes a coordination.k8s.io Lease when it is free or its holder has not renewed it for
// leaseDuration (judged by this process's clock from when it last saw the lease change, so clock
// skew between nodes does not matter), renews it every retryPeriod, and gives leadership up when
// it could not renew for renewDeadline. Stopping releases the lease so a successor takes over
// at once. Defaults are controller-runtime's: 15 s, 10 s, 2 s.
import type { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: Required<LeaderElectionOptions>;
  private readonly stopping = new AbortController();
  private observed: { record: string; at: number } | undefined;
  private leading = false;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.client = client;
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, then calls `lead` with a signal that aborts when leadership is lost
   * or stop() is called, and keeps renewing. Resolves when leadership ends.
   */
  async run(lead: (signal: AbortSignal) => Promise<void> | void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.o;
    while (!this.stopping.signal.aborted && !(await this.tryAcquireOrRenew())) await sleep(retryPeriodMs, this.stopping.signal);
    if (this.stopping.signal.aborted) return;
    this.leading = true;
    const lost = new AbortController();
    const leadership = Promise.resolve().then(() => lead(lost.signal));
    let lastRenew = Date.now();
    while (!this.stopping.signal.aborted) {
      await sleep(retryPeriodMs, this.stopping.signal);
      if (this.stopping.signal.aborted) break;
      if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > renewDeadlineMs) break;
    }
    this.leading = false;
    lost.abort();
    await leadership.catch(() => undefined);
    if (this.stopping.signal.aborted) await this.release();
  }

  /** Ends the campaign or the leadership; the lease is released so a successor need not wait. */
  stop(): void {
    this.stopping.abort();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const { namespace, name, identity, leaseDurationMs } = this.o;
    const spec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000), renewTime: microTime(now) };
    try {
      const lease = await this.client.get<Lease>(RESOURCES.lease, { namespace, name });
      if (!lease) {
        await this.client.create(RESOURCES.lease, { metadata: { namespace, name }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } });
        return true;
      }
      const record = JSON.stringify(lease.spec ?? {});
      if (this.observed?.record !== record) this.observed = { record, at: now };
      const holder = lease.spec?.holderIdentity;
      const held = !!holder && holder !== identity && this.observed.at + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 > now;
      if (held) return false;
      const transition = holder !== identity;
      await this.client.replace(RESOURCES.lease, {
        metadata: lease.metadata,
        spec: {
          ...spec,
          acquireTime: transition ? microTime(now) : (lease.spec?.acquireTime ?? microTime(now)),
          leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (transition && holder ? 1 : 0),
        },
      });
      return true;
    } catch {
      // A conflict (another candidate wrote first) or an unreachable API server: not this round.
      return false;
    }
  }

  private async release(): Promise<void> {
    const { namespace, name, identity } = this.o;
    const lease = await this.client.get<Lease>(RESOURCES.lease, { namespace, name }).catch(() => undefined);
    if (lease?.spec?.holderIdentity !== identity) return;
    await this.client
      .replace(RESOURCES.lease, { metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } })
      .catch(() => undefined);
  }
}
