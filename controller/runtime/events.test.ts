import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ApiError, type ObjectRef } from '../kube/client.ts';
import type { Resource } from '../kube/resources.ts';
import { AGGREGATE_PREFIX, EventRecorder, ExpiringLru, type CoreEvent, type EventClient, type EventRecorderOptions, type InvolvedObject } from './events.ts';

const MINUTE = 60_000;

interface Write {
  verb: 'create' | 'patch';
  name: string;
  count: number;
  message: string;
  lastTimestamp: string;
}

/** An Event API in memory: the Events by name and every write sent to it. */
class FakeEvents implements EventClient {
  readonly events = new Map<string, CoreEvent>();
  readonly writes: Write[] = [];
  failNext?: ApiError;

  create(_res: Resource, obj: CoreEvent): Promise<unknown> {
    this.writes.push({ verb: 'create', name: obj.metadata.name, count: obj.count, message: obj.message, lastTimestamp: obj.lastTimestamp });
    if (this.events.has(obj.metadata.name)) return Promise.reject(new ApiError(409, 'AlreadyExists', 'exists', {}));
    this.events.set(obj.metadata.name, structuredClone(obj));
    return Promise.resolve(obj);
  }

  mergePatch(_res: Resource, ref: ObjectRef, patch: unknown): Promise<unknown> {
    const p = patch as Pick<CoreEvent, 'count' | 'lastTimestamp' | 'message'>;
    this.writes.push({ verb: 'patch', name: ref.name, count: p.count, message: p.message, lastTimestamp: p.lastTimestamp });
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) return Promise.reject(failure);
    const event = this.events.get(ref.name);
    if (!event) return Promise.reject(new ApiError(404, 'NotFound', `events "${ref.name}" not found`, {}));
    Object.assign(event, p);
    return Promise.resolve(event);
  }

  /** Expires an Event as kube-apiserver's --event-ttl does. */
  expire(name: string): void {
    this.events.delete(name);
  }
}

const fleet = (name = 'web'): InvolvedObject => ({ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', namespace: 'ci', name, uid: `uid-${name}` });

function setup(options: EventRecorderOptions = {}) {
  const api = new FakeEvents();
  const clock = { t: Date.parse('2026-03-01T00:00:00Z') };
  const errors: unknown[] = [];
  const recorder = new EventRecorder(api, 'pod-1', (err) => errors.push(err), { now: () => clock.t, ...options });
  return { api, clock, errors, recorder };
}

describe('EventRecorder correlation', () => {
  it('records the same Event 20 times as one Event: 1 create and 19 patches, count rising to 20', async () => {
    const { api, clock, errors, recorder } = setup();
    for (let i = 0; i < 20; i++) {
      await recorder.record(fleet(), 'Warning', 'MigrationRefused', 'web-0: admission webhook denied the request');
      clock.t += 1000;
    }
    expect(api.writes.map((w) => w.verb)).toEqual(['create', ...Array<string>(19).fill('patch')]);
    expect(api.writes.map((w) => w.count)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(api.writes.map((w) => w.name)).size).toBe(1);
    expect(api.events.size).toBe(1);
    const [event] = [...api.events.values()];
    expect(event).toMatchObject({ count: 20, reason: 'MigrationRefused', type: 'Warning', firstTimestamp: '2026-03-01T00:00:00.000Z', lastTimestamp: '2026-03-01T00:00:19.000Z' });
    expect(errors).toEqual([]);
  });

  it('keeps writes of one Event in order when they are not awaited', async () => {
    const { api, recorder } = setup();
    await Promise.all(Array.from({ length: 5 }, () => recorder.record(fleet(), 'Normal', 'Created', 'created web-0')));
    expect(api.writes.map((w) => `${w.verb}:${w.count}`)).toEqual(['create:1', 'patch:2', 'patch:3', 'patch:4', 'patch:5']);
    expect(recorder.size.inFlight).toBe(0);
  });

  it('keeps apart Events that differ in object, type, reason or message', async () => {
    const { api, recorder } = setup();
    await recorder.record(fleet(), 'Normal', 'Created', 'created web-0');
    await recorder.record(fleet('db'), 'Normal', 'Created', 'created web-0');
    await recorder.record({ ...fleet(), uid: 'uid-web-2' }, 'Normal', 'Created', 'created web-0');
    await recorder.record(fleet(), 'Warning', 'Created', 'created web-0');
    await recorder.record(fleet(), 'Normal', 'Updated', 'created web-0');
    await recorder.record(fleet(), 'Normal', 'Created', 'created web-1');
    expect(api.writes.map((w) => w.verb)).toEqual(Array<string>(6).fill('create'));
  });

  it('creates the Event anew when the one it would patch has expired on the server', async () => {
    const { api, clock, errors, recorder } = setup();
    await recorder.record(fleet(), 'Warning', 'Stalled', 'image missing');
    const [first] = api.events.keys();
    api.expire(first!);
    clock.t += MINUTE;
    await recorder.record(fleet(), 'Warning', 'Stalled', 'image missing');
    expect(api.writes.map((w) => `${w.verb}:${w.count}`)).toEqual(['create:1', 'patch:2', 'create:2']);
    expect(api.events.get(first!)).toMatchObject({ count: 2 });
    clock.t += MINUTE;
    await recorder.record(fleet(), 'Warning', 'Stalled', 'image missing');
    expect(api.writes.at(-1)).toMatchObject({ verb: 'patch', count: 3 });
    expect(errors).toEqual([]);
  });

  it('reports other failures through onError and never raises', async () => {
    const { api, errors, recorder } = setup();
    await recorder.record(fleet(), 'Normal', 'Created', 'x');
    api.failNext = new ApiError(500, 'InternalError', 'etcd down', {});
    await expect(recorder.record(fleet(), 'Normal', 'Created', 'x')).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    await recorder.record(fleet(), 'Normal', 'Created', 'x');
    expect(api.writes.at(-1)).toMatchObject({ verb: 'patch', count: 3 });
  });

  it('starts a new Event after the correlation window', async () => {
    const { api, clock, recorder } = setup();
    await recorder.record(fleet(), 'Normal', 'Created', 'x');
    clock.t += 61 * MINUTE;
    await recorder.record(fleet(), 'Normal', 'Created', 'x');
    expect(api.writes.map((w) => `${w.verb}:${w.count}`)).toEqual(['create:1', 'create:1']);
  });
});

describe('EventRecorder aggregation', () => {
  it('combines similar Events after the 10th distinct message and then updates the combined one', async () => {
    const { api, clock, recorder } = setup();
    for (let i = 1; i <= 12; i++) {
      await recorder.record(fleet(), 'Warning', 'MigrationFailed', `web-${i} failed`);
      clock.t += 1000;
    }
    expect(api.writes.slice(0, 9).map((w) => `${w.verb}:${w.message}`)).toEqual(Array.from({ length: 9 }, (_, i) => `create:web-${i + 1} failed`));
    expect(api.writes.slice(9).map((w) => `${w.verb}:${w.count}:${w.message}`)).toEqual([
      `create:1:${AGGREGATE_PREFIX}web-10 failed`,
      `patch:2:${AGGREGATE_PREFIX}web-11 failed`,
      `patch:3:${AGGREGATE_PREFIX}web-12 failed`,
    ]);
    expect(api.events.size).toBe(10);
    // A message seen before the combination goes to the combined Event too.
    await recorder.record(fleet(), 'Warning', 'MigrationFailed', 'web-1 failed');
    expect(api.writes.at(-1)).toMatchObject({ verb: 'patch', count: 4, message: `${AGGREGATE_PREFIX}web-1 failed` });
  });

  it('counts similar Events only within 10 minutes of the last one', async () => {
    const { api, clock, recorder } = setup();
    for (let i = 1; i <= 9; i++) await recorder.record(fleet(), 'Warning', 'MigrationFailed', `web-${i} failed`);
    clock.t += 11 * MINUTE;
    await recorder.record(fleet(), 'Warning', 'MigrationFailed', 'web-10 failed');
    expect(api.writes.at(-1)).toMatchObject({ verb: 'create', message: 'web-10 failed' });
  });

  it('repeats of one message are not similar Events', async () => {
    const { api, recorder } = setup();
    for (let i = 0; i < 12; i++) await recorder.record(fleet(), 'Normal', 'Created', i % 2 ? 'a' : 'b');
    expect(api.writes.every((w) => !w.message.startsWith(AGGREGATE_PREFIX))).toBe(true);
    expect(api.events.size).toBe(2);
  });
});

describe('EventRecorder spam filter', () => {
  it('drops writes about one object beyond a burst of 25, and refills one every 5 minutes', async () => {
    const { api, clock, errors, recorder } = setup();
    for (let i = 0; i < 30; i++) await recorder.record(fleet(), 'Normal', `Reason${i}`, 'm');
    expect(api.writes).toHaveLength(25);
    expect(recorder.dropped).toBe(5);
    // Another object has its own bucket.
    await recorder.record(fleet('db'), 'Normal', 'Reason0', 'm');
    expect(api.writes).toHaveLength(26);
    clock.t += 5 * MINUTE;
    await recorder.record(fleet(), 'Normal', 'Reason40', 'm');
    await recorder.record(fleet(), 'Normal', 'Reason41', 'm');
    expect(api.writes).toHaveLength(27);
    expect(recorder.dropped).toBe(6);
    expect(errors).toEqual([]);
  });

  it('counts dropped occurrences in the correlated Event', async () => {
    const { api, clock, recorder } = setup({ burst: 2 });
    for (let i = 0; i < 5; i++) await recorder.record(fleet(), 'Warning', 'Refused', 'denied');
    expect(api.writes.map((w) => `${w.verb}:${w.count}`)).toEqual(['create:1', 'patch:2']);
    clock.t += 5 * MINUTE;
    await recorder.record(fleet(), 'Warning', 'Refused', 'denied');
    expect(api.writes.at(-1)).toMatchObject({ verb: 'patch', count: 6 });
  });

  // One token per Event written (a patch that meets 404 and the create after it take one token).
  it('never writes more than the bucket allows, for any sequence of Events', async () => {
    const step = fc.record({
      object: fc.constantFrom('web', 'db', 'ci'),
      type: fc.constantFrom('Normal' as const, 'Warning' as const),
      reason: fc.constantFrom('Created', 'Updated', 'MigrationFailed'),
      message: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'),
      advanceMs: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2000 }), weight: 50 }, { arbitrary: fc.integer({ min: 0, max: 15 * MINUTE }), weight: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 300, size: 'max' }), async (steps) => {
        const { api, clock, errors, recorder } = setup();
        const start = clock.t;
        const writesPerObject = new Map<string, number>();
        for (const s of steps) {
          clock.t += s.advanceMs;
          const before = api.writes.length;
          await recorder.record(fleet(s.object), s.type, s.reason, s.message);
          if (api.writes.length > before) writesPerObject.set(s.object, (writesPerObject.get(s.object) ?? 0) + 1);
        }
        const allowance = 25 + Math.floor((clock.t - start) / (5 * MINUTE));
        for (const n of writesPerObject.values()) expect(n).toBeLessThanOrEqual(allowance);
        expect(errors).toEqual([]);
        expect(recorder.dropped + [...writesPerObject.values()].reduce((a, b) => a + b, 0)).toBe(steps.length);
        // Every Event in the API counts at least one occurrence; counts only rise.
        expect([...api.events.values()].every((e) => e.count >= 1)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('EventRecorder memory', () => {
  it('empties its caches once their entries expire', async () => {
    const { clock, recorder } = setup();
    for (let i = 0; i < 50; i++) await recorder.record(fleet(`f${i}`), 'Normal', 'Created', `m${i}`);
    expect(recorder.size).toEqual({ observations: 50, similar: 50, buckets: 50, inFlight: 0 });
    clock.t += 11 * MINUTE;
    expect(recorder.size).toMatchObject({ observations: 50, similar: 0, buckets: 50 });
    clock.t += 60 * MINUTE;
    expect(recorder.size).toMatchObject({ observations: 0, similar: 0, buckets: 50 });
    // A bucket is full again after 25 × 5 minutes: forgetting it changes nothing.
    clock.t += 125 * MINUTE;
    expect(recorder.size).toEqual({ observations: 0, similar: 0, buckets: 0, inFlight: 0 });
  });

  it('holds at most cacheSize entries per cache', async () => {
    const { api, recorder } = setup({ cacheSize: 16 });
    for (let i = 0; i < 100; i++) await recorder.record(fleet(`f${i}`), 'Normal', 'Created', 'm');
    expect(recorder.size).toEqual({ observations: 16, similar: 16, buckets: 16, inFlight: 0 });
    expect(api.writes).toHaveLength(100);
  });

  it('ExpiringLru evicts the least recently written entry and expires entries', () => {
    const lru = new ExpiringLru<number>(3, 1000);
    lru.set('a', 1, 0);
    lru.set('b', 2, 100);
    lru.set('c', 3, 200);
    lru.set('a', 4, 300);
    lru.set('d', 5, 400);
    expect([lru.get('a', 400), lru.get('b', 400), lru.get('c', 400), lru.get('d', 400)]).toEqual([4, undefined, 3, 5]);
    expect(lru.get('c', 1200)).toBeUndefined();
    lru.sweep(1299);
    expect(lru.size).toBe(2);
    lru.sweep(1300);
    expect(lru.size).toBe(1);
    lru.sweep(1400);
    expect(lru.size).toBe(0);
  });
});
