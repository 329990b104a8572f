import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { WorkQueue, runWorkers } from './workqueue.ts';

describe('WorkQueue', () => {
  it('processes a key added many times once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('re-queues a key added while it was processing, after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key!);
    expect(q.length).toBe(1);
  });

  it('hands out nothing more once shut down, so workers stop promptly', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.shutdown();
    expect(await q.get()).toBeUndefined();
  });

  it('backs off a failing key exponentially and forgets it on success', () => {
    const q = new WorkQueue({ baseDelayMs: 5, now: () => 0 });
    const delays: number[] = [];
    const original = q.addAfter.bind(q);
    q.addAfter = (key, ms) => {
      delays.push(ms);
      original(key, ms);
    };
    for (let i = 0; i < 4; i++) q.addRateLimited('a');
    expect(delays).toEqual([5, 10, 20, 40]);
    q.forget('a');
    expect(q.failureCount('a')).toBe(0);
    q.shutdown();
  });

  it('never hands one key to two workers at once, and processes every key added', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4 }), async (keys, workers) => {
        const q = new WorkQueue();
        const active = new Set<string>();
        const seen = new Set<string>();
        let overlap = false;
        const done = runWorkers(q, workers, async (key) => {
          if (active.has(key)) overlap = true;
          active.add(key);
          seen.add(key);
          await new Promise((r) => setImmediate(r));
          active.delete(key);
        });
        for (const key of keys) {
          q.add(key);
          if (Math.random() < 0.5) await new Promise((r) => setImmediate(r));
        }
        while (q.pending > 0) await new Promise((r) => setImmediate(r));
        q.shutdown();
        await done;
        expect(overlap).toBe(false);
        expect([...seen].sort()).toEqual([...new Set(keys)].sort());
      }),
      { numRuns: 50 },
    );
  });
});
