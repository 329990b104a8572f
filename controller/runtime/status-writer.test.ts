import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { StatusWriter } from './status-writer.ts';

interface Status {
  n: number;
}

/** A writer over a fake API whose writes finish only when the test says so. */
function harness(options: { trustCacheAfterMs?: number; now?: () => number } = {}) {
  const pending: { key: string; status: Status; resolve: () => void; reject: (err: Error) => void }[] = [];
  const written: { key: string; status: Status }[] = [];
  const transitions: { previous: number | undefined; next: number }[] = [];
  const failures: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const writer = new StatusWriter<Status, string>({
    write: (key, _ref, status) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      return new Promise<void>((resolve, reject) => pending.push({
        key, status,
        resolve: () => { inFlight--; written.push({ key, status }); resolve(); },
        reject: (err) => { inFlight--; reject(err); },
      }));
    },
    differs: (a, b) => a?.n !== b.n,
    written: async (_key, _ref, previous, next) => {
      transitions.push({ previous: previous?.n, next: next.n });
    },
    failed: (key) => failures.push(key),
    ...options,
  });
  const settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  /** Finishes the oldest write in flight. */
  const finish = async () => {
    pending.shift()!.resolve();
    await settle();
  };
  return { writer, pending, written, transitions, failures, settle, finish, mostInFlight: () => mostInFlight };
}

const cached = (n: number | undefined, uid = 'u1') => ({ uid, status: n === undefined ? undefined : { n }, ref: 'ref' });

describe('StatusWriter', () => {
  it('writes one status at a time per key, and sends only the newest of those handed over meanwhile', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 2 });
    h.writer.submit('ns/a', cached(0), { n: 3 });
    expect(h.pending.map((p) => p.status.n)).toEqual([1]);
    await h.finish();
    expect(h.pending.map((p) => p.status.n)).toEqual([3]);
    await h.finish();
    expect(h.written.map((w) => w.status.n)).toEqual([1, 3]);
    // Each write's follow-up compares with what the object had before that write.
    expect(h.transitions).toEqual([{ previous: 0, next: 1 }, { previous: 1, next: 3 }]);
  });

  it('does not send a status already in flight again, and stands in for the cache until the cache shows it', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    // The cache still shows 0: the writer's 1 is what the next reconcile compares with.
    expect(h.writer.current('ns/a', cached(0))).toEqual({ n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 1 });
    await h.finish();
    expect(h.written).toHaveLength(1);
    expect(h.writer.current('ns/a', cached(0))).toEqual({ n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 1 });
    expect(h.pending).toHaveLength(0);
    // The cache caught up: it is the truth again, and the entry is gone.
    expect(h.writer.current('ns/a', cached(1))).toEqual({ n: 1 });
    expect(h.writer.size).toBe(0);
  });

  it('keys are independent: a slow write of one never holds another', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    h.writer.submit('ns/b', cached(0), { n: 5 });
    expect(h.pending.map((p) => `${p.key}=${p.status.n}`)).toEqual(['ns/a=1', 'ns/b=5']);
  });

  it('after a failed write, the cache is the truth again and the key is handed back for a retry', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 2 });
    h.pending.shift()!.reject(new Error('timeout'));
    await h.settle();
    expect(h.failures).toEqual(['ns/a']);
    // The waiting 2 is not sent: the retried reconcile computes what is true by then.
    expect(h.pending).toHaveLength(0);
    expect(h.writer.current('ns/a', cached(0))).toEqual({ n: 0 });
    expect(h.writer.size).toBe(0);
  });

  it('an object replaced under the same name starts afresh from its own cached status', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    await h.finish();
    // A new object (another uid) whose cache shows nothing yet: the old entry says nothing of it.
    expect(h.writer.current('ns/a', cached(undefined, 'u2'))).toBeUndefined();
    h.writer.submit('ns/a', cached(undefined, 'u2'), { n: 1 });
    expect(h.pending).toHaveLength(1);
  });

  it('forgets an object that is gone, after its write in flight ends, and sends nothing more for it', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 2 });
    h.writer.forget('ns/a');
    expect(h.writer.size).toBe(1);
    await h.finish();
    expect(h.written.map((w) => w.status.n)).toEqual([1]);
    expect(h.writer.size).toBe(0);
  });

  it('trusts the cache again a while after the last write, so a status someone else changed is answered', async () => {
    let now = 0;
    const h = harness({ trustCacheAfterMs: 1000, now: () => now });
    h.writer.submit('ns/a', cached(0), { n: 1 });
    await h.finish();
    expect(h.writer.current('ns/a', cached(7))).toEqual({ n: 1 });
    now = 1001;
    expect(h.writer.current('ns/a', cached(7))).toEqual({ n: 7 });
    h.writer.submit('ns/a', cached(7), { n: 1 });
    expect(h.pending).toHaveLength(1);
  });

  it('drain waits for every write handed over, those queued behind others included', async () => {
    const h = harness();
    h.writer.submit('ns/a', cached(0), { n: 1 });
    h.writer.submit('ns/a', cached(0), { n: 2 });
    let drained = false;
    const drain = h.writer.drain().then(() => (drained = true));
    await h.finish();
    expect(drained).toBe(false);
    await h.finish();
    await drain;
    expect(drained).toBe(true);
  });

  it('over any interleaving of submits, write ends and cache updates: never two writes of a key at once, and once all is written the API holds the newest status', async () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('submit' as const), n: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ op: fc.constant('finish' as const) }),
      fc.record({ op: fc.constant('cache' as const) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
      const h = harness();
      let api: number | undefined = 0; // what the API server holds
      let cache: number | undefined = 0; // what the informer shows (lags the API)
      let last: number | undefined;
      for (const s of steps) {
        if (s.op === 'submit') {
          h.writer.submit('ns/a', cached(cache), { n: s.n });
          last = s.n;
        } else if (s.op === 'finish' && h.pending.length > 0) {
          const p = h.pending[0]!;
          await h.finish();
          api = p.status.n;
        } else if (s.op === 'cache') {
          cache = api;
        }
      }
      while (h.pending.length > 0) {
        const p = h.pending[0]!;
        await h.finish();
        api = p.status.n;
      }
      expect(h.mostInFlight()).toBeLessThanOrEqual(1);
      if (last !== undefined) expect(api).toBe(last);
      // Nothing left to send when the newest status is asked for again.
      h.writer.submit('ns/a', cached(api), { n: api! });
      expect(h.pending).toHaveLength(0);
    }), { numRuns: 300 });
  });
});
