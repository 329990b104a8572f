// Broken images on demand: the ConfigMap kube-system/virtfleet-sim lists, under the key
// failingImages, strings such that a VMI booting an image that contains one fails to start, as a
// broken guest would. Read at run time (at most once a second), so kubectl alone can break and
// mend an image version in tests, demos and `virtfleet up`.
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';

export const SIM_CONFIGMAP = { namespace: 'kube-system', name: 'virtfleet-sim' } as const;
export const FAILING_IMAGES_KEY = 'failingImages';
/** At most this many entries are honoured, each at most this long: the ConfigMap is user input. */
const MAX_ENTRIES = 256;
const MAX_ENTRY_LENGTH = 512;

/** The entries of a failingImages value: one per line or comma-separated, blanks ignored. */
export function parseFailingImages(text: string | undefined): string[] {
  if (!text) return [];
  const entries = text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s.length > 0 && s.length <= MAX_ENTRY_LENGTH);
  return [...new Set(entries)].slice(0, MAX_ENTRIES);
}

/**
 * What a VMI boots from, as failingImages entries are matched against: its containerDisk images,
 * and the source PVCs (`namespace/name`, and the bare name) its VM's dataVolumeTemplates clone.
 */
export function bootSources(vmi: V1VirtualMachineInstance, vm: V1VirtualMachine | undefined): string[] {
  const sources: string[] = [];
  for (const volume of vmi.spec?.volumes ?? []) if (volume.containerDisk?.image) sources.push(volume.containerDisk.image);
  for (const template of vm?.spec.dataVolumeTemplates ?? []) {
    const pvc = template.spec?.source?.pvc;
    if (pvc?.name) sources.push(`${pvc.namespace ?? vm?.metadata?.namespace ?? ''}/${pvc.name}`);
  }
  return sources;
}

/** The first boot source containing a failing entry, with the entry, or undefined when none does. */
export function brokenSource(sources: readonly string[], failing: readonly string[]): { source: string; entry: string } | undefined {
  for (const source of sources) {
    const entry = failing.find((f) => source.includes(f));
    if (entry !== undefined) return { source, entry };
  }
  return undefined;
}

/** The failingImages entries as the ConfigMap says now, read again at most every `maxAgeMs`. */
export class FailingImages {
  private readonly client: KubeClient;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly onError: (err: unknown) => void;
  private entries: string[] = [];
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<string[]> | undefined;

  constructor(client: KubeClient, options: { maxAgeMs?: number; timeoutMs?: number; onError?: (err: unknown) => void } = {}) {
    this.client = client;
    this.maxAgeMs = options.maxAgeMs ?? 1_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.onError = options.onError ?? (() => undefined);
  }

  /** The current entries; when a read fails, the last ones read (none before the first success). */
  async current(): Promise<string[]> {
    if (Date.now() - this.readAt < this.maxAgeMs) return this.entries;
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<string[]> {
    try {
      const cm = await this.client.get<V1ConfigMap>(RESOURCES.configMap, SIM_CONFIGMAP, { timeoutMs: this.timeoutMs });
      this.entries = parseFailingImages(cm?.data?.[FAILING_IMAGES_KEY]);
    } catch (err) {
      this.onError(err);
    }
    // A failed read is not retried at once either: the API server is not hammered while it is down.
    this.readAt = Date.now();
    return this.entries;
  }
}
