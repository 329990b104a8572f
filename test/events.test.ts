// Event correlation against the real API server: repeats become one Event with a rising count,
// similar Events are combined, an object's writes are rate-limited, and an Event deleted on the
// server (as its TTL does) is created anew.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { AGGREGATE_PREFIX, EventRecorder, type InvolvedObject } from '../controller/runtime/events.ts';
import { createNamespace, kubeConfig } from './harness/cluster.ts';

let ns: Awaited<ReturnType<typeof createNamespace>>;
let client: KubeClient;
beforeAll(async () => {
  ns = await createNamespace('events');
  client = new KubeClient(kubeConfig(), { qps: 0 });
});
afterAll(async () => ns.remove());

/** A ConfigMap to hang Events on (any object does; its uid is real). */
async function involved(name: string): Promise<InvolvedObject> {
  const cm = await kubeConfig().makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name } } });
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name, uid: cm.metadata!.uid! };
}

async function eventsOf(name: string): Promise<CoreV1Event[]> {
  const list = await client.list<CoreV1Event>(RESOURCES.event, { namespace: ns.name });
  return list.items.filter((e) => e.involvedObject.name === name);
}

describe('EventRecorder on the API server', () => {
  it('records the same Event 20 times as one Event with count 20', async () => {
    const errors: unknown[] = [];
    const recorder = new EventRecorder(client, 'test', (err) => errors.push(err));
    const object = await involved('same');
    for (let i = 0; i < 20; i++) await recorder.record(object, 'Warning', 'MigrationRefused', 'admission webhook denied the request');
    const events = await eventsOf('same');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 20, type: 'Warning', reason: 'MigrationRefused', source: { component: 'virtfleet-controller' } });
    expect(errors).toEqual([]);
  });

  it('creates the Event anew when it is gone from the server', async () => {
    const errors: unknown[] = [];
    const recorder = new EventRecorder(client, 'test', (err) => errors.push(err));
    const object = await involved('expired');
    await recorder.record(object, 'Warning', 'Stalled', 'image missing');
    const [first] = await eventsOf('expired');
    await client.delete(RESOURCES.event, { namespace: ns.name, name: first!.metadata!.name! });
    await recorder.record(object, 'Warning', 'Stalled', 'image missing');
    await recorder.record(object, 'Warning', 'Stalled', 'image missing');
    const events = await eventsOf('expired');
    expect(events.map((e) => e.count)).toEqual([3]);
    expect(errors).toEqual([]);
  });

  it('combines similar Events and limits the writes about one object', async () => {
    const errors: unknown[] = [];
    const recorder = new EventRecorder(client, 'test', (err) => errors.push(err));
    const object = await involved('similar');
    for (let i = 1; i <= 12; i++) await recorder.record(object, 'Warning', 'MigrationFailed', `vm-${i} failed`);
    let events = await eventsOf('similar');
    expect(events).toHaveLength(10);
    expect(events.find((e) => e.message!.startsWith(AGGREGATE_PREFIX))).toMatchObject({ count: 3, message: `${AGGREGATE_PREFIX}vm-12 failed` });
    // 12 writes so far; the bucket of 25 lets 13 more through.
    for (let i = 0; i < 30; i++) await recorder.record(object, 'Normal', `Reason${i}`, 'burst');
    events = await eventsOf('similar');
    expect(events).toHaveLength(10 + 13);
    expect(recorder.dropped).toBe(17);
    expect(errors).toEqual([]);
  });
});
