import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TokenBucket, type Lane } from './rate-limiter.ts';

/** A clock that moves only when told, with the timers the bucket sleeps on. */
class VirtualTime {
  t = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  readonly now = () => this.t;
  readonly sleep = (ms: number) => new Promise<void>((resolve) => this.timers.push({ at: this.t + ms, resolve }));

  /** Runs every timer due up to `until`, letting the promises they release settle in between. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = Math.max(this.t, until);
    await new Promise((r) => setImmediate(r));
  }
}

interface Request { at: number; lane: Lane; grantedAt?: number }

/** Sends each request at its time and records when the bucket let it go. */
async function run(qps: number, burst: number, requests: Request[], horizon: number): Promise<Request[]> {
  const time = new VirtualTime();
  const bucket = new TokenBucket(qps, burst, time.now, time.sleep);
  const byTime = [...requests].sort((a, b) => a.at - b.at);
  for (const r of byTime) {
    await time.runUntil(r.at);
    void bucket.take(r.lane).then(() => void (r.grantedAt = time.t));
  }
  await time.runUntil(horizon);
  return requests;
}

const times = (rs: Request[]) => rs.map((r) => r.grantedAt);

describe('TokenBucket', () => {
  it('lets a burst go at once and paces the rest at qps', async () => {
    const rs = await run(10, 4, Array.from({ length: 8 }, () => ({ at: 0, lane: 'foreground' as const })), 10_000);
    expect(times(rs)).toEqual([0, 0, 0, 0, 100, 200, 300, 400]);
  });

  it('serves the background lane only above half the burst', async () => {
    const rs = await run(10, 10, Array.from({ length: 8 }, () => ({ at: 0, lane: 'background' as const })), 10_000);
    expect(times(rs)).toEqual([0, 0, 0, 0, 0, 100, 200, 300]);
  });

  it('keeps half the burst for a batch that comes while the background lane has used the rest for a long time', async () => {
    const background: Request[] = Array.from({ length: 100 }, () => ({ at: 0, lane: 'background' as const }));
    const batch = Array.from({ length: 5 }, () => ({ at: 3_000, lane: 'foreground' as const }));
    await run(10, 10, [...background, ...batch], 20_000);
    expect(times(batch)).toEqual([3_000, 3_000, 3_000, 3_000, 3_000]);
    // Meanwhile the background lane had the whole rate: 5 at once, then 10 a second.
    expect(background.filter((r) => r.grantedAt! < 3_000)).toHaveLength(5 + 29);
  });

  it('gives the next token to a waiting foreground request before a background one, even with no reserve (burst 1)', async () => {
    const rs: Request[] = [{ at: 0, lane: 'foreground' }, { at: 0, lane: 'background' }, { at: 1, lane: 'foreground' }];
    await run(1, 1, rs, 10_000);
    expect(times(rs)).toEqual([0, 2_000, 1_000]);
  });

  it('holds both lanes together to the rate, lets background go only while no foreground request waits, and serves every request', async () => {
    const request = fc.record({ at: fc.integer({ min: 0, max: 2_000 }), lane: fc.constantFrom<Lane>('foreground', 'background') });
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 12 }), fc.array(request, { maxLength: 40 }), async (qps, burst, specs) => {
      const rs = await run(qps, burst, specs.map((s) => ({ ...s })), 2_000 + (specs.length * 1000 * 2) / qps + 2_000);
      for (const r of rs) expect(r.grantedAt).toBeGreaterThanOrEqual(r.at);
      const granted = rs.map((r) => r.grantedAt!).sort((a, b) => a - b);
      // Any window [a, b] holds at most burst + qps × (b − a) grants.
      for (let i = 0; i < granted.length; i++) {
        for (let j = i; j < granted.length; j++) expect(j - i + 1).toBeLessThanOrEqual(burst + (qps * (granted[j]! - granted[i]!)) / 1000 + 1e-9);
      }
      for (const b of rs.filter((r) => r.lane === 'background')) {
        const waiting = rs.filter((f) => f.lane === 'foreground' && f.at < b.grantedAt! && f.grantedAt! > b.grantedAt!);
        expect(waiting).toEqual([]);
      }
    }), { numRuns: 150 });
  });
});
