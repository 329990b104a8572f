// Client-side rate limiting as client-go does it: a token bucket of `qps` tokens per second
// holding at most `burst`. A non-positive qps disables the limit.
export class TokenBucket {
  private tokens: number;
  private last: number;
  private chain: Promise<void> = Promise.resolve();

  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(qps: number, burst: number, now: () => number = Date.now) {
    this.qps = qps;
    this.burst = burst;
    this.now = now;
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when the caller may send one request; callers are served in order. */
  take(): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    const turn = this.chain.then(() => this.wait());
    this.chain = turn;
    return turn;
  }

  private async wait(): Promise<void> {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens < 1) {
      const ms = ((1 - this.tokens) / this.qps) * 1000;
      await new Promise((r) => setTimeout(r, ms));
      this.tokens = Math.min(this.burst, this.tokens + (ms / 1000) * this.qps);
      this.last = this.now();
    }
    this.tokens -= 1;
  }
}
