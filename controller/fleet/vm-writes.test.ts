import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { sendInSlowStart } from './vm-writes.ts';

describe('sendInSlowStart', () => {
  it('starts at most 1 + 2 × successes, in order, and nothing after a failure or a stop (property, any order of answers)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.scheduler(),
      fc.integer({ min: 0, max: 300 }),
      fc.option(fc.nat({ max: 300 }), { nil: undefined }),
      fc.option(fc.nat({ max: 300 }), { nil: undefined }),
      async (s, count, failAt, refuseAt) => {
        const items = Array.from({ length: count }, (_, i) => i);
        const started: number[] = [];
        let succeeded = 0;
        let settledAll = 0;
        let refused = false;
        let stoppedAt: number | undefined;
        let failedAt: number | undefined;
        const send = async (i: number) => {
          expect(started.length).toBeLessThan(1 + 2 * succeeded);
          if (stoppedAt !== undefined || failedAt !== undefined) throw new Error(`item ${i} started after a stop or a failure`);
          started.push(i);
          await s.schedule(Promise.resolve(), `answer ${i}`);
          settledAll++;
          if (i === failAt) {
            failedAt = i;
            throw new Error(`refused ${i}`);
          }
          if (i === refuseAt) {
            refused = true;
            stoppedAt = i;
            return;
          }
          succeeded++;
        };
        const done = sendInSlowStart(items, send, () => refused).then(() => undefined, (err: unknown) => err);
        const outcome = await s.waitFor(done);
        expect(settledAll).toBe(started.length);
        expect(started).toEqual(items.slice(0, started.length));
        if (failedAt !== undefined) expect(outcome).toEqual(new Error(`refused ${failedAt}`));
        else expect(outcome).toBeUndefined();
        if (failedAt === undefined && stoppedAt === undefined) expect(started).toEqual(items);
      },
    ), { numRuns: 200 });
  });

  it('reaches 1,000 sends in 10 round trips when every answer takes one', async () => {
    let inFlight = 0;
    let widest = 0;
    let rounds = 0;
    let waiting: (() => void)[] = [];
    const send = () => new Promise<void>((resolve) => {
      inFlight++;
      widest = Math.max(widest, inFlight);
      waiting.push(() => {
        inFlight--;
        resolve();
      });
    });
    const done = sendInSlowStart(Array.from({ length: 1000 }, (_, i) => i), send);
    // One round trip: every request in flight is answered at once.
    while (waiting.length > 0) {
      rounds++;
      const answering = waiting;
      waiting = [];
      for (const answer of answering) answer();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(rounds).toBe(10);
    expect(widest).toBe(489); // 1, 2, 4, … 256, then the 489 left
  });

  it('starts 1 + 2 × proven at once when the template was accepted before, and still stops on a refusal', async () => {
    const started: number[] = [];
    const answers: (() => void)[] = [];
    const done = sendInSlowStart(Array.from({ length: 100 }, (_, i) => i), (i) => new Promise<void>((resolve) => {
      started.push(i);
      answers.push(resolve);
    }), () => started.length > 30, 10);
    expect(started).toHaveLength(21);
    answers.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(started).toHaveLength(23);
    for (;;) {
      const answer = answers.shift();
      if (!answer) break;
      answer();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(started).toHaveLength(31);
  });
});
