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

  it('keeps a resting key back, adds meanwhile included, and hands it out once when its rest is over', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.add('a'); // while processing
    q.done('a', 40);
    q.add('a'); // while resting
    expect(q.length).toBe(0);
    const restedAt = Date.now();
    q.add('b');
    expect(await q.get()).toBe('b'); // other keys are not held back
    expect(await q.get()).toBe('a');
    expect(Date.now() - restedAt).toBeGreaterThanOrEqual(35);
    expect(q.length).toBe(0);
  });

  it('ends a key\'s rest on an urgent add, once, and leaves a key being processed to done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.done('a', 60_000);
    q.add('a'); // routine: kept back for the rest
    expect(q.length).toBe(0);
    q.addUrgent('a');
    expect(q.length).toBe(1);
    q.addUrgent('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.addUrgent('a'); // while processing: queued again by done(), not handed out twice
    expect(q.length).toBe(0);
    q.done('a', 60_000); // and without the rest done() was asked for
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.add('a'); // a routine add while processing keeps the rest
    q.done('a', 60_000);
    expect(q.length).toBe(0);
    q.addUrgent('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    q.shutdown();
  });

  it('hands out a rested key only if it was added during its rest or processing', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.done('a', 10);
    await new Promise((r) => setTimeout(r, 30));
    expect(q.length).toBe(0);
    expect(q.pending).toBe(0);
    q.add('a');
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

describe('WorkQueue observer', () => {
  it('reports one start and one finish per key handed out, and times both with its clock', async () => {
    let now = 0;
    const seen = { added: 0, started: [] as number[], finished: [] as number[], retried: 0 };
    const q = new WorkQueue<string>({ now: () => now });
    q.observe({ added: () => void seen.added++, started: (ms) => void seen.started.push(ms), finished: (ms) => void seen.finished.push(ms), retried: () => void seen.retried++ });
    q.add('a');
    q.add('a');
    q.add('b');
    now = 10;
    const a = (await q.get())!;
    now = 25;
    expect(q.longestRunningMs()).toBe(15);
    q.add('a'); // again while processing: runs after done()
    q.done(a);
    expect(seen.added).toBe(3);
    expect(seen.started).toEqual([10]);
    expect(seen.finished).toEqual([15]);
    expect(q.longestRunningMs()).toBe(0);
    q.addRateLimited('c');
    expect(seen.retried).toBe(1);
  });

  it('never reports more finishes than starts, nor starts than adds', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('add', 'get', 'done'), fc.constantFrom('a', 'b', 'c')), { maxLength: 40 }), async (ops) => {
      const counts = { added: 0, started: 0, finished: 0 };
      const q = new WorkQueue<string>();
      q.observe({ added: () => void counts.added++, started: () => void counts.started++, finished: () => void counts.finished++, retried: () => undefined });
      const held = new Set<string>();
      for (const [op, key] of ops) {
        if (op === 'add') q.add(key);
        else if (op === 'get' && q.length > 0) held.add((await q.get())!);
        else if (op === 'done' && held.has(key)) {
          held.delete(key);
          q.done(key);
        }
        expect(counts.finished).toBeLessThanOrEqual(counts.started);
        expect(counts.started).toBeLessThanOrEqual(counts.added);
        expect(counts.started - counts.finished).toBe(held.size);
      }
      q.shutdown();
    }));
  });
});

describe('running', () => {
  it('lists the keys being processed with how long each has run, the longest first, and forgets them when done', async () => {
    let now = 1_000;
    const q = new WorkQueue<string>({ now: () => now });
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    now += 500;
    expect(await q.get()).toBe('b');
    now += 250;
    expect(q.running()).toEqual([{ key: 'a', ms: 750 }, { key: 'b', ms: 250 }]);
    q.done('a');
    expect(q.running()).toEqual([{ key: 'b', ms: 250 }]);
    q.done('b');
    expect(q.running()).toEqual([]);
  });
});
