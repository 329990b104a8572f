// Kubernetes Events on a fleet, so `kubectl describe vmfleet` and `kubectl get events` tell what
// VirtFleet did and why. core/v1 Events (what kubectl describe lists); one Event per kind of
// action per reconcile, naming the VMs, rather than one per VM, to keep writes down at scale.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';

export const EVENT_SOURCE = 'virtfleet-controller';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

/** At most this many names in a message; the rest are counted. */
const MAX_NAMES = 10;

export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES).join(', ');
  return names.length > MAX_NAMES ? `${shown} and ${names.length - MAX_NAMES} more` : shown;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;

  constructor(client: KubeClient, instance: string, onError: (err: unknown) => void = () => undefined) {
    this.client = client;
    this.instance = instance;
    this.onError = onError;
  }

  /** Records an Event; failures are logged, never raised (an Event is not worth a retry). */
  async record(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const event = {
      metadata: { name: `${object.name}.${randomBytes(8).toString('hex')}`, namespace: object.namespace },
      involvedObject: object,
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: EVENT_SOURCE },
      reportingComponent: `virtfleet.io/${EVENT_SOURCE}`,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.client.create(RESOURCES.event, event).catch(this.onError);
  }
}
