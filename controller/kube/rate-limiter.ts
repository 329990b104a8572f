// Client-side rate limiting as client-go does it: a token bucket of `qps` tokens per second
// holding at most `burst`. A non-positive qps disables the limit.
//
// Requests that only inform (a drift annotation, say) can go in the background lane: they take a
// token only while the bucket holds more than half its burst, so they spend the surplus of the
// rate and leave the other half of the burst to the requests that act; while one of those waits,
// no background request goes. Without the lane, a steady stream of them kept the bucket empty, and
// a batch of migration creates then went out one token at a time.
export type Lane = 'foreground' | 'background';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private chain: Promise<void> = Promise.resolve();
  private backgroundChain: Promise<void> = Promise.resolve();

  /** Foreground callers waiting for (or being given) a token: the background lane yields to them. */
  private waiting = 0;

  private readonly qps: number;
  private readonly burst: number;
  private readonly reserve: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(qps: number, burst: number, now: () => number = Date.now, sleep: (ms: number) => Promise<unknown> = realSleep) {
    this.qps = qps;
    this.burst = burst;
    this.reserve = Math.floor(burst / 2);
    this.now = now;
    this.sleep = sleep;
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when the caller may send one request; callers of a lane are served in order. */
  take(lane: Lane = 'foreground'): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    if (lane === 'background') {
      const turn = this.backgroundChain.then(() => this.waitForSurplus());
      this.backgroundChain = turn;
      return turn;
    }
    this.waiting++;
    const turn = this.chain.then(() => this.wait()).finally(() => this.waiting--);
    this.chain = turn;
    return turn;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  private async wait(): Promise<void> {
    for (this.refill(); this.tokens < 1; this.refill()) await this.sleep(Math.max(1, ((1 - this.tokens) / this.qps) * 1000));
    this.tokens -= 1;
  }

  private async waitForSurplus(): Promise<void> {
    for (;;) {
      this.refill();
      if (this.waiting === 0 && this.tokens >= this.reserve + 1) {
        this.tokens -= 1;
        return;
      }
      // Look again once the bucket can be above the reserve.
      await this.sleep(Math.max(1, ((this.reserve + 1 - this.tokens) / this.qps) * 1000));
    }
  }
}

const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
