import { expect, it } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventType } from './informer.ts';
import { GenerationChanges } from './change-filter.ts';
import { Controller, type Source } from './controller.ts';

/** An event source held in memory: the loop sees what the test emits, as from an informer. */
class Emitter implements Source {
  private readonly handlers: ((type: EventType, obj: KubernetesObject) => void)[] = [];
  on(handler: (type: EventType, obj: KubernetesObject) => void): void {
    this.handlers.push(handler);
  }
  list(): readonly KubernetesObject[] {
    return [];
  }
  emit(obj: KubernetesObject): void {
    for (const h of this.handlers) h('update', obj);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reconcilesOfBurst(coalesceMs: number | undefined): Promise<{ reconciles: number; burstMs: number }> {
  const related = new Emitter();
  let reconciles = 0;
  const controller = new Controller({
    primary: new Emitter(),
    related: [{ informer: related, keysFor: () => ['ns/image'], ...(coalesceMs ? { coalesceMs } : {}) }],
    reconcile: async () => {
      reconciles++;
      await sleep(5);
    },
    workers: 1,
  });
  await controller.start();
  // 40 events over about 400 ms (more on a busy machine), as VMs of a scale-out arrive.
  const started = Date.now();
  for (let i = 0; i < 40; i++) {
    related.emit({ metadata: { name: `vm-${i}`, namespace: 'ns' } });
    await sleep(10);
  }
  const burstMs = Date.now() - started;
  await sleep((coalesceMs ?? 0) + 100);
  await controller.stop();
  return { reconciles, burstMs };
}

it('takes a burst of related events up once per coalescing period, and each event at once without one', async () => {
  const coalesced = await reconcilesOfBurst(200);
  const immediate = await reconcilesOfBurst(undefined);
  // One reconcile per 200 ms period the burst lasted, the last after it ended.
  expect(coalesced.reconciles).toBeGreaterThanOrEqual(2);
  expect(coalesced.reconciles).toBeLessThanOrEqual(Math.ceil(coalesced.burstMs / 200) + 1);
  expect(immediate.reconciles).toBeGreaterThan(10);
});

it('passes primary events that change the generation or delete, not status-only updates', () => {
  const changes = new GenerationChanges();
  const image = (generation: number, status = 0) => ({ metadata: { namespace: 'ns', name: 'img', generation }, status: { n: status } }) as KubernetesObject;
  expect(changes.changed('add', image(1))).toBe(true);
  expect(changes.changed('update', image(1, 1))).toBe(false);
  expect(changes.changed('update', image(2, 1))).toBe(true);
  expect(changes.changed('update', image(2, 2))).toBe(false);
  expect(changes.changed('delete', image(2, 2))).toBe(true);
  expect(changes.size).toBe(0);
  // Seen again after a delete (recreated under the name): taken up.
  expect(changes.changed('add', image(1))).toBe(true);
});

/** Reconciles of one key under an event every 5 ms for 600 ms, each computing 20 ms and saying so or not. */
async function reconcilesUnderStream(reportBusy: boolean): Promise<{ reconciles: number; elapsedMs: number }> {
  const related = new Emitter();
  let reconciles = 0;
  const controller = new Controller({
    primary: new Emitter(),
    related: [{ informer: related, keysFor: () => ['ns/big-fleet'] }],
    reconcile: async () => {
      reconciles++;
      const started = performance.now();
      while (performance.now() - started < 20); // a decision over a large fleet, holding the loop
      return reportBusy ? { busyMs: performance.now() - started } : undefined;
    },
    workers: 1,
  });
  await controller.start();
  const started = Date.now();
  while (Date.now() - started < 600) {
    related.emit({ metadata: { name: 'vm', namespace: 'ns' } });
    await sleep(5);
  }
  const elapsedMs = Date.now() - started;
  await controller.stop();
  return { reconciles, elapsedMs };
}

it('rests a key twice as long as its reconcile computed, so a stream of events takes at most a third of the loop', async () => {
  const paced = await reconcilesUnderStream(true);
  const unpaced = await reconcilesUnderStream(false);
  // Each paced cycle is at least 20 ms of work and 40 ms of rest.
  expect(paced.reconciles).toBeLessThanOrEqual(Math.ceil(paced.elapsedMs / 60) + 1);
  expect(paced.reconciles).toBeGreaterThanOrEqual(2);
  expect(unpaced.reconciles).toBeGreaterThan(paced.reconciles);
});
