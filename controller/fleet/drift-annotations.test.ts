import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { ApiError } from '../kube/client.ts';
import { DriftAnnotations } from './drift-annotations.ts';
import { DRIFT_ANNOTATION } from './remediation.ts';

const FLEET = 'ns/web';

function vm(name: string, annotation?: string, uid = `uid-${name}`): V1VirtualMachine {
  return { metadata: { name, namespace: 'ns', uid, annotations: annotation === undefined ? {} : { [DRIFT_ANNOTATION]: annotation } }, spec: { template: {} } };
}

/** A writer over a fake API whose writes finish only when the test says so. */
function harness(options: { concurrency?: number; now?: () => number; trustCacheAfterMs?: number } = {}) {
  const pending: { vm: string; text: string | null; resolve: () => void; reject: (err: Error) => void }[] = [];
  const stored = new Map<string, string | null>();
  const errors: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const writer = new DriftAnnotations({
    write: (_ns, name, text) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      return new Promise<void>((resolve, reject) => pending.push({
        vm: name, text,
        resolve: () => { inFlight--; stored.set(name, text); resolve(); },
        reject: (err) => { inFlight--; reject(err); },
      }));
    },
    log: { info: () => undefined, error: (msg) => void errors.push(msg) },
    retryMs: 1,
    maxRetryMs: 4,
    ...options,
  });
  const settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  const finish = async (i = 0) => {
    pending.splice(i, 1)[0]!.resolve();
    await settle();
  };
  /** The VM as a cache that has caught up with every write would show it. */
  const cached = (name: string) => vm(name, stored.get(name) ?? undefined);
  return { writer, pending, stored, errors, settle, finish, cached, mostInFlight: () => mostInFlight };
}

describe('DriftAnnotations', () => {
  it('keeps at most `concurrency` writes in flight and sends them oldest first', async () => {
    const h = harness({ concurrency: 2 });
    for (let i = 0; i < 10; i++) expect(h.writer.submit(FLEET, vm(`vm-${i}`), `drift ${i}`)).toBe(true);
    expect(h.pending.map((p) => p.vm)).toEqual(['vm-0', 'vm-1']);
    while (h.pending.length > 0) await h.finish();
    expect(h.mostInFlight()).toBe(2);
    expect([...h.stored.keys()]).toEqual(Array.from({ length: 10 }, (_, i) => `vm-${i}`));
  });

  it('stands in for the cache until the cache shows the text, so it is handed over (and told) once', async () => {
    const h = harness();
    expect(h.writer.submit(FLEET, vm('a'), 'placement')).toBe(true);
    expect(h.writer.submit(FLEET, vm('a'), 'placement')).toBe(false); // still queued or in flight
    await h.finish();
    expect(h.writer.current(FLEET, vm('a'))).toBe('placement'); // written, the cache lags
    expect(h.writer.submit(FLEET, vm('a'), 'placement')).toBe(false);
    expect(h.pending).toHaveLength(0);
    expect(h.writer.current(FLEET, h.cached('a'))).toBe('placement');
    expect(h.writer.size).toBe(0); // the cache is the truth again
  });

  it('sends the newest text once the write in flight ends', async () => {
    const h = harness();
    h.writer.submit(FLEET, vm('a'), 'first');
    expect(h.writer.submit(FLEET, vm('a'), 'second')).toBe(true);
    expect(h.writer.submit(FLEET, vm('a'), undefined)).toBe(true);
    await h.finish();
    expect(h.pending.map((p) => p.text)).toEqual([null]);
    await h.finish();
    expect(h.stored.get('a')).toBeNull();
    expect(h.writer.current(FLEET, h.cached('a'))).toBeUndefined();
    expect(h.writer.size).toBe(0);
  });

  it('writes nothing for a drift that ended before its annotation went out, and still clears one it sent', async () => {
    const h = harness({ concurrency: 1 });
    h.writer.submit(FLEET, vm('a'), 'placement');
    h.writer.submit(FLEET, vm('b'), 'placement'); // queued behind a
    expect(h.writer.submit(FLEET, vm('b'), undefined)).toBe(true);
    expect(h.writer.current(FLEET, vm('b'))).toBeUndefined();
    expect(h.writer.submit(FLEET, vm('a'), undefined)).toBe(true); // a's write is in flight: it must be undone
    while (h.pending.length > 0) await h.finish();
    expect([...h.stored]).toEqual([['a', null]]);
    expect(h.writer.current(FLEET, h.cached('a'))).toBeUndefined();
    expect(h.writer.size).toBe(0);
  });

  it('still writes the end of a drift whose earlier text went out but does not show in the cache yet', async () => {
    const h = harness({ concurrency: 1 });
    h.writer.submit(FLEET, vm('a'), 'x');
    await h.finish(); // the API holds x; the cache does not show it yet
    h.writer.submit(FLEET, vm('b'), 'x'); // takes the one slot
    h.writer.submit(FLEET, vm('a'), 'y'); // queued behind b
    h.writer.submit(FLEET, vm('a'), undefined); // the cache's (stale) text, but not the API's
    while (h.pending.length > 0) await h.finish();
    expect(h.stored.get('a')).toBeNull();
  });

  it('retries a failed write with backoff and gives a VM that is gone up', async () => {
    const h = harness();
    h.writer.submit(FLEET, vm('a'), 'placement');
    h.writer.submit(FLEET, vm('b'), 'placement');
    h.pending.shift()!.reject(new ApiError(500, 'InternalError', 'etcd leader changed', {}));
    h.pending.shift()!.reject(new ApiError(404, 'NotFound', 'virtualmachines "b" not found', {}));
    await h.settle();
    expect(h.errors).toEqual(['drift annotation not written; retrying']);
    expect(h.writer.current(FLEET, vm('a'))).toBe('placement'); // still pending: not handed over again
    expect(h.writer.current(FLEET, vm('b'))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(h.pending.map((p) => p.vm)).toEqual(['a']);
    await h.finish();
    expect(h.stored.get('a')).toBe('placement');
  });

  it('drops what belongs to VMs the fleet no longer has, to VMs replaced, and to fleets gone', async () => {
    const h = harness({ concurrency: 1 });
    h.writer.submit(FLEET, vm('a'), 'x');
    h.writer.submit(FLEET, vm('b'), 'x');
    h.writer.submit(FLEET, vm('c'), 'x');
    h.writer.submit('ns/other', vm('d'), 'x');
    h.writer.retain(FLEET, (name) => name !== 'b');
    expect(h.writer.current(FLEET, vm('c', undefined, 'new-uid'))).toBeUndefined();
    h.writer.forget('ns/other');
    expect(h.writer.size).toBe(1);
    while (h.pending.length > 0) await h.finish();
    expect([...h.stored.keys()]).toEqual(['a']); // b, c and d were still queued: never sent
  });

  it('trusts the cache again once a written text has had time to show', async () => {
    let now = 0;
    const h = harness({ now: () => now, trustCacheAfterMs: 1_000 });
    h.writer.submit(FLEET, vm('a'), 'x');
    await h.finish();
    now = 500;
    expect(h.writer.current(FLEET, vm('a', 'edited'))).toBe('x');
    now = 2_000;
    expect(h.writer.current(FLEET, vm('a', 'edited'))).toBe('edited'); // someone else's doing: answered by the next reconcile
    expect(h.writer.submit(FLEET, vm('a', 'edited'), 'x')).toBe(true);
  });

  it('drains the writes queued and in flight', async () => {
    const h = harness({ concurrency: 1 });
    for (const name of ['a', 'b', 'c']) h.writer.submit(FLEET, vm(name), 'x');
    let drained = false;
    const drain = h.writer.drain().then(() => (drained = true));
    await h.finish();
    await h.finish();
    expect(drained).toBe(false);
    await h.finish();
    await drain;
    expect(h.stored.size).toBe(3);
  });

  it('ends with each VM carrying the last text handed over, whatever the interleaving', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('submit' as const), vm: fc.constantFrom('a', 'b', 'c'), text: fc.constantFrom('x', 'y', undefined) }),
      fc.record({ kind: fc.constant('finish' as const), at: fc.nat(3) }),
      fc.record({ kind: fc.constant('catchUp' as const), vm: fc.constantFrom('a', 'b', 'c') }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 3 }), async (ops, concurrency) => {
      const h = harness({ concurrency });
      // The cache each reconcile reads: the API's text as of the last time it caught up.
      const cache = new Map<string, V1VirtualMachine>(['a', 'b', 'c'].map((n) => [n, vm(n)]));
      const last = new Map<string, string | undefined>();
      for (const o of ops) {
        if (o.kind === 'submit') {
          h.writer.submit(FLEET, cache.get(o.vm)!, o.text);
          last.set(o.vm, o.text);
        } else if (o.kind === 'finish' && h.pending.length > 0) await h.finish(o.at % h.pending.length);
        else if (o.kind === 'catchUp') cache.set(o.vm, h.cached(o.vm));
        expect(h.pending.length).toBeLessThanOrEqual(concurrency);
      }
      while (h.pending.length > 0) await h.finish();
      for (const [name, text] of last) {
        // What the API holds, else what the cache held when it was handed over and found already there.
        const api = h.stored.has(name) ? h.stored.get(name) ?? undefined : undefined;
        expect(api).toBe(text);
        expect(h.writer.current(FLEET, h.cached(name))).toBe(text);
      }
    }), { numRuns: 200 });
  });
});
