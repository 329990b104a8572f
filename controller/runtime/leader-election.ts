// Lease-based leader election with client-go's semantics (tools/leaderelection): a candidate
// takes a coordination.k8s.io Lease when it is free or its holder has not renewed it for
// leaseDuration (judged by this process's clock from when it last saw the lease change, so clock
// skew between nodes does not matter), renews it every retryPeriod, and gives leadership up when
// it could not renew for renewDeadline. Defaults are controller-runtime's: 15 s, 10 s, 2 s.
//
// Safety: a successor can only take the lease leaseDuration after it saw our last renewal, so
// leadership ends no later than renewDeadline (< leaseDuration) after the start of our last
// successful renewal. Every request made while leading is aborted at that deadline, so none
// outlives it; a renewal that finds the lease held by someone else (or released, or deleted)
// ends leadership at once. Losing leadership is final: run() resolves with the reason and the
// elector does not campaign again (controller-runtime exits the process). stop() instead
// releases the lease so a successor takes over at once.
import { ApiError, type KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { Logger } from './logger.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Election errors (with the API server's message) are logged here; conflicts are not. */
  log?: Logger;
}

/** Why leadership ended when it was not stop() that ended it; the reason of the lead signal. */
export class LeadershipLost extends Error {
  readonly why: string;

  constructor(why: string) {
    super(`leadership lost: ${why}`);
    this.why = why;
  }
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

/** One try at the lease: renewed (at the time it was sent), refused (held, or an error), or lost. */
type Attempt = { ok: true; at: number } | { ok: false; error?: string } | { ok: false; lost: string };

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, Math.max(0, ms));
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
const errorText = (err: unknown): string => (err instanceof ApiError ? err.statusMessage : err instanceof Error ? err.message : String(err));
const quiet: Logger = { info: () => undefined, error: () => undefined };

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: Required<LeaderElectionOptions>;
  private readonly stopping = new AbortController();
  private observed: { record: string; at: number } | undefined;
  private leading = false;
  /** The last election error logged, so a failing campaign logs each distinct error once in a row. */
  private lastLogged: string | undefined;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.client = client;
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, log: quiet, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, then calls `lead` with a signal that aborts when leadership is lost
   * (its reason a LeadershipLost) or stop() is called, and keeps renewing. Resolves when
   * leadership has ended and `lead` has returned: with the LeadershipLost when it was lost,
   * with undefined when stop() ended the campaign or the leadership.
   */
  async run(lead: (signal: AbortSignal) => Promise<void> | void): Promise<LeadershipLost | undefined> {
    const { retryPeriodMs, renewDeadlineMs } = this.o;
    const stopping = this.stopping.signal;
    let renewedAt = 0;
    // Campaign: no one relies on these requests; bounded by the renew deadline all the same.
    while (!stopping.aborted) {
      const attempt = await this.tryAcquireOrRenew(false, renewDeadlineMs);
      if (attempt.ok) {
        renewedAt = attempt.at;
        break;
      }
      await sleep(retryPeriodMs, stopping);
    }
    if (stopping.aborted) return undefined;
    this.leading = true;
    const ended = new AbortController();
    const leadership = Promise.resolve().then(() => lead(ended.signal));
    let lost: LeadershipLost | undefined;
    let lastError = 'no answer';
    while (!stopping.aborted) {
      const deadline = renewedAt + renewDeadlineMs;
      await sleep(Math.min(retryPeriodMs, deadline - Date.now()), stopping);
      if (stopping.aborted) break;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        lost = new LeadershipLost(`could not renew within ${renewDeadlineMs} ms: ${lastError}`);
        break;
      }
      // Long enough for a slow server, short enough to leave time for another try; never past the deadline.
      const attempt = await this.tryAcquireOrRenew(true, Math.min(remaining, Math.max(retryPeriodMs, renewDeadlineMs / 2)));
      if (attempt.ok) renewedAt = attempt.at;
      else if ('lost' in attempt) lost = new LeadershipLost(attempt.lost);
      else if (attempt.error) lastError = attempt.error;
      if (lost) break;
      if (!attempt.ok && Date.now() >= deadline) {
        lost = new LeadershipLost(`could not renew within ${renewDeadlineMs} ms: ${lastError}`);
        break;
      }
    }
    this.leading = false;
    ended.abort(lost);
    await leadership.catch(() => undefined);
    if (!lost) await this.release();
    return lost;
  }

  /** Ends the campaign or the leadership; the lease is released so a successor need not wait. */
  stop(): void {
    this.stopping.abort();
  }

  private async tryAcquireOrRenew(leading: boolean, timeoutMs: number): Promise<Attempt> {
    const now = Date.now();
    const { namespace, name, identity, leaseDurationMs } = this.o;
    // Every request of this try shares one deadline; stop() aborts them too.
    const deadline = new AbortController();
    // One wording whatever the time left, so that repeated timeouts are logged once.
    const timer = setTimeout(() => deadline.abort(leading ? 'no answer before the renew deadline' : 'no answer in time'), Math.max(1, timeoutMs));
    const opts = { signal: AbortSignal.any([this.stopping.signal, deadline.signal]) };
    const spec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000), renewTime: microTime(now) };
    try {
      const lease = await this.client.get<Lease>(RESOURCES.lease, { namespace, name }, opts);
      if (!lease) {
        if (leading) return { ok: false, lost: `lease ${namespace}/${name} was deleted` };
        await this.client.create(RESOURCES.lease, { metadata: { namespace, name }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } }, opts);
        return this.succeeded(now);
      }
      const record = JSON.stringify(lease.spec ?? {});
      if (this.observed?.record !== record) this.observed = { record, at: now };
      const holder = lease.spec?.holderIdentity;
      if (leading && holder !== identity) return { ok: false, lost: holder ? `lease taken by ${holder}` : `lease ${namespace}/${name} released by someone else` };
      const held = !!holder && holder !== identity && this.observed.at + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 > now;
      if (held) return this.heldByAnother();
      const transition = holder !== identity;
      await this.client.replace(RESOURCES.lease, {
        metadata: lease.metadata,
        spec: {
          ...spec,
          acquireTime: transition ? microTime(now) : (lease.spec?.acquireTime ?? microTime(now)),
          leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (transition && holder ? 1 : 0),
        },
      }, undefined, opts);
      return this.succeeded(now);
    } catch (err) {
      if (this.stopping.signal.aborted) return { ok: false };
      // A conflict is another candidate (or our own earlier write) winning the race: not an error.
      if (err instanceof ApiError && err.conflict) return { ok: false };
      const error = errorText(err);
      if (error !== this.lastLogged) {
        this.lastLogged = error;
        this.o.log.error(leading ? 'could not renew the lease' : 'could not acquire the lease', {
          identity, lease: `${namespace}/${name}`, ...(err instanceof ApiError ? { status: err.status, reason: err.reason } : {}), error,
        });
      }
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  private succeeded(at: number): Attempt {
    this.lastLogged = undefined;
    return { ok: true, at };
  }

  /** The lease is validly held by another: the API server answered, so the error streak ends. */
  private heldByAnother(): Attempt {
    this.lastLogged = undefined;
    return { ok: false };
  }

  private async release(): Promise<void> {
    const { namespace, name, identity, renewDeadlineMs } = this.o;
    const opts = { timeoutMs: renewDeadlineMs };
    const lease = await this.client.get<Lease>(RESOURCES.lease, { namespace, name }, opts).catch(() => undefined);
    if (lease?.spec?.holderIdentity !== identity) return;
    await this.client
      .replace(RESOURCES.lease, { metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } }, undefined, opts)
      .catch((err: unknown) => this.o.log.error('could not release the lease', { identity, lease: `${namespace}/${name}`, error: errorText(err) }));
  }
}
