// Reading a GoldenImage's status in tests, and waiting for it, with the status in the error.
import type { GoldenImageStatus } from '../../controller/api/generated/types.ts';
import type { GoldenImage } from '../../controller/api/objects.ts';
import type { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import { waitFor } from './wait.ts';

export async function imageStatus(client: KubeClient, namespace: string, name: string): Promise<GoldenImageStatus | undefined> {
  return (await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace, name }))?.status;
}

export const imageCondition = (s: GoldenImageStatus | undefined, type: string) => s?.conditions?.find((x) => x.type === type);

/** Waits until the image's status satisfies `probe`; on timeout the error shows the last status. */
export async function waitForImage(client: KubeClient, namespace: string, name: string, what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000, intervalMs = 100): Promise<GoldenImageStatus> {
  try {
    return await waitFor(what, async () => {
      const s = await imageStatus(client, namespace, name);
      return s && probe(s) ? s : undefined;
    }, timeoutMs, intervalMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await imageStatus(client, namespace, name))}`);
  }
}
