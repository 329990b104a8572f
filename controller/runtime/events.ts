// Kubernetes Events on a fleet, so `kubectl describe vmfleet` and `kubectl get events` tell what
// VirtFleet did and why. core/v1 Events (what kubectl describe lists); one Event per kind of
// action per reconcile, naming the VMs, rather than one per VM, to keep writes down at scale.
//
// Events are correlated as client-go's tools/record EventCorrelator does, so a controller that
// meets the same refusal every few hundred milliseconds writes one Event with a rising count
// rather than a stream of them:
// - the same Event (object, type, reason, message, source) again updates the Event already
//   written with a merge patch of count, lastTimestamp and message, keeping its name; when that
//   Event has expired on the server (404; kube-apiserver's --event-ttl is 1 h) a new one is created;
// - similar Events (same object, type and reason, differing messages): the 10th distinct message
//   within 10 minutes of the last similar one creates one Event "(combined from similar events):
//   <latest message>", and every similar Event after it updates that one (client-go goes back to
//   single Events for messages it still remembers; here the combined Event stays the one);
// - every write about one object takes a token from that object's bucket (burst 25, one more
//   every 5 minutes); without a token the write is dropped and counted, never raised. The count of
//   a correlated Event still includes the occurrences whose writes were dropped.
// Every cache is an LRU of at most 4096 entries whose entries expire, so memory stays bounded.
import { createHash, randomBytes } from 'node:crypto';
import { ApiError, type ObjectRef } from '../kube/client.ts';
import { RESOURCES, type Resource } from '../kube/resources.ts';

export const EVENT_SOURCE = 'virtfleet-controller';
export const REPORTING_CONTROLLER = `virtfleet.io/${EVENT_SOURCE}`;
export const AGGREGATE_PREFIX = '(combined from similar events): ';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

/** A core/v1 Event as the recorder writes it. */
export interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: InvolvedObject;
  type: EventType;
  reason: string;
  message: string;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

/** What the recorder needs of a client; KubeClient is one. */
export interface EventClient {
  create(res: Resource, obj: CoreEvent): Promise<unknown>;
  mergePatch(res: Resource, ref: ObjectRef, patch: unknown): Promise<unknown>;
}

export interface EventRecorderOptions {
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
  /** Entries per cache (client-go: 4096). */
  cacheSize?: number;
  /** Writes an object may burst (client-go: 25). */
  burst?: number;
  /** One more write per object every this many ms (client-go: 5 minutes). */
  refillMs?: number;
  /** Distinct messages of similar Events that make a combined Event (client-go: 10). */
  aggregateMaxEvents?: number;
  /** Similar Events further apart than this start afresh (client-go: 10 minutes). */
  aggregateWindowMs?: number;
  /** A correlated Event not seen for this long is forgotten: by then the server has expired it (1 h). */
  correlationWindowMs?: number;
}

/** At most this many names in a message; the rest are counted. */
const MAX_NAMES = 10;
const MAX_MESSAGE = 1024;

export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES).join(', ');
  return names.length > MAX_NAMES ? `${shown} and ${names.length - MAX_NAMES} more` : shown;
}

/** An LRU map whose entries also expire a fixed time after they were last written. */
export class ExpiringLru<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly max: number;
  private readonly ttlMs: number;

  constructor(max: number, ttlMs: number) {
    this.max = max;
    this.ttlMs = ttlMs;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Writes the entry as the most recent one, evicting the least recently written beyond the bound. */
  set(key: string, value: V, now: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: now + this.ttlMs });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Drops expired entries. The map is in write order and the TTL fixed, so they are at its front. */
  sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** An Event written (or about to be): the name later occurrences patch, and their count so far. */
interface Observation {
  name: string;
  count: number;
  firstTimestamp: string;
}

/** Similar Events seen: their distinct messages, until they are combined. */
interface Similar {
  messages: Set<string>;
  combined: boolean;
}

/** A token bucket: tokens left at `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

const hash = (parts: readonly string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('base64');

export class EventRecorder {
  private readonly client: EventClient;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly aggregateMaxEvents: number;
  private readonly observations: ExpiringLru<Observation>;
  private readonly similar: ExpiringLru<Similar>;
  private readonly buckets: ExpiringLru<Bucket>;
  /** The last write of each Event still in flight, so writes of one Event go out in order. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private droppedCount = 0;

  constructor(client: EventClient, instance: string, onError: (err: unknown) => void = () => undefined, options: EventRecorderOptions = {}) {
    this.client = client;
    this.instance = instance;
    this.onError = onError;
    this.now = options.now ?? Date.now;
    const size = options.cacheSize ?? 4096;
    this.burst = options.burst ?? 25;
    this.refillMs = options.refillMs ?? 5 * 60_000;
    this.aggregateMaxEvents = options.aggregateMaxEvents ?? 10;
    this.observations = new ExpiringLru(size, options.correlationWindowMs ?? 60 * 60_000);
    this.similar = new ExpiringLru(size, options.aggregateWindowMs ?? 10 * 60_000);
    // A bucket untouched for burst × refill is full again, as good as a new one.
    this.buckets = new ExpiringLru(size, this.burst * this.refillMs);
  }

  /** Writes dropped by the per-object rate limit since the recorder started. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Entries held per cache, after dropping the expired ones. */
  get size(): { observations: number; similar: number; buckets: number; inFlight: number } {
    this.sweep(this.now());
    return { observations: this.observations.size, similar: this.similar.size, buckets: this.buckets.size, inFlight: this.inFlight.size };
  }

  /** Records an Event; failures are logged, never raised (an Event is not worth a retry). */
  record(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    try {
      return this.correlate(object, type, reason, message.slice(0, MAX_MESSAGE));
    } catch (err) {
      this.onError(err);
      return Promise.resolve();
    }
  }

  private correlate(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const at = this.now();
    this.sweep(at);
    const timestamp = new Date(at).toISOString();
    const objectKey = [EVENT_SOURCE, object.kind, object.namespace, object.name, object.uid, object.apiVersion];
    const similarKey = hash([...objectKey, type, reason, REPORTING_CONTROLLER, this.instance]);

    // Aggregation: the 10th distinct message of similar Events turns them into one combined Event.
    let key = hash([...objectKey, type, reason, message, REPORTING_CONTROLLER]);
    const similar = this.similar.get(similarKey, at) ?? { messages: new Set<string>(), combined: false };
    if (!similar.combined) {
      similar.messages.add(hash([message]));
      if (similar.messages.size >= this.aggregateMaxEvents) similar.combined = true;
    }
    if (similar.combined) {
      similar.messages.clear();
      key = similarKey;
      message = (AGGREGATE_PREFIX + message).slice(0, MAX_MESSAGE);
    }
    this.similar.set(similarKey, similar, at);

    // Correlation: the same Event again updates the one already written.
    const previous = this.observations.get(key, at);
    const observation: Observation = previous
      ? { ...previous, count: previous.count + 1 }
      : { name: `${object.name}.${randomBytes(8).toString('hex')}`, count: 1, firstTimestamp: timestamp };
    this.observations.set(key, observation, at);

    // Spam filter: a token per write from the object's bucket.
    if (!this.take(hash(objectKey), at)) {
      this.droppedCount++;
      return Promise.resolve();
    }

    const event: CoreEvent = {
      metadata: { name: observation.name, namespace: object.namespace },
      involvedObject: object,
      type,
      reason,
      message,
      source: { component: EVENT_SOURCE },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      firstTimestamp: observation.firstTimestamp,
      lastTimestamp: timestamp,
      count: observation.count,
    };
    const write = (this.inFlight.get(key) ?? Promise.resolve())
      .then(() => this.write(event, previous !== undefined))
      .catch((err: unknown) => {
        this.onError(err);
      });
    this.inFlight.set(key, write);
    return write.finally(() => {
      if (this.inFlight.get(key) === write) this.inFlight.delete(key);
    });
  }

  private async write(event: CoreEvent, update: boolean): Promise<void> {
    if (update) {
      try {
        const patch = { count: event.count, lastTimestamp: event.lastTimestamp, message: event.message };
        await this.client.mergePatch(RESOURCES.event, { namespace: event.metadata.namespace, name: event.metadata.name }, patch);
        return;
      } catch (err) {
        // Gone (expired on the server, or its create was dropped or failed): write it anew.
        if (!(err instanceof ApiError && err.notFound)) throw err;
      }
    }
    await this.client.create(RESOURCES.event, event);
  }

  private take(key: string, at: number): boolean {
    const bucket = this.buckets.get(key, at) ?? { tokens: this.burst, at };
    const tokens = Math.min(this.burst, bucket.tokens + Math.max(0, at - bucket.at) / this.refillMs);
    const allowed = tokens >= 1;
    this.buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at }, at);
    return allowed;
  }

  private sweep(at: number): void {
    this.observations.sweep(at);
    this.similar.sweep(at);
    this.buckets.sweep(at);
  }
}
