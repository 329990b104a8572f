// How a fleet writes its VMs so that it never touches one it does not own (invariant 4):
// - a VM is created with a plain create (POST), which the API server refuses with AlreadyExists
//   when anyone holds the name; server-side apply would create or update alike, and so could
//   overwrite a VM that a stale cache did not show;
// - an existing VM is updated by server-side apply carrying its uid, which the API server refuses
//   (409) for any other object under the name, and never turns into a create once it is gone.
// A create records its fields under an Update entry of the field manager; before the first apply
// (checked by a dry run) that entry becomes an Apply entry, so the fleet owns the VM exactly as if
// it had applied it, and a field a later template drops is removed.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { FIELD_MANAGER } from '../kube/field-manager.ts';
import { RESOURCES } from '../kube/resources.ts';

export { FIELD_MANAGER };

/**
 * Sends `items` in slow start, as the ReplicaSet controller's batches of 1, 2, 4, … do, but
 * without waiting for a whole batch: each success lets two more go, so at most 1 + 2 × successes
 * have been started at any time (the batches' own bound), and no connection idles at a batch's end
 * waiting for its slowest request. A template the API server refuses costs one request, not
 * hundreds; no cap on the width (the client's connections bound the requests in flight), where a
 * cap of 64 made a scale-out of 1,000 wait at 21 batch ends. Nothing more is started once `stop()`
 * says so (a refused template) or a send failed; resolves when every started send has settled,
 * rejecting with the first failure. `proven` counts as successes already had (the API server
 * took the same template before), so a scale-out's later steps start wide.
 */
export function sendInSlowStart<T>(items: readonly T[], send: (item: T) => Promise<void>, stop: () => boolean = () => false, proven = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let succeeded = 0;
    let inFlight = 0;
    let failure: { err: unknown } | undefined;
    const pump = () => {
      while (!failure && !stop() && started < items.length && started < 1 + 2 * (succeeded + proven)) {
        const item = items[started++]!;
        inFlight++;
        send(item).then(
          () => {
            succeeded++;
            settled();
          },
          (err: unknown) => {
            failure ??= { err };
            settled();
          },
        );
      }
      if (inFlight === 0) {
        if (failure) reject(failure.err as Error);
        else resolve();
      }
    };
    const settled = () => {
      inFlight--;
      pump();
    };
    pump();
  });
}

/** The cached form of a VM's managed fields: who manages it and how, not which fields. */
export type ManagerEntry = Pick<V1ManagedFieldsEntry, 'manager' | 'operation' | 'subresource'>;

/** Creates the VM; undefined when its name is already held (by anyone: the caller finds out whom). */
export async function createVM(client: KubeClient, vm: V1VirtualMachine): Promise<V1VirtualMachine | undefined> {
  try {
    return await client.createManaged(RESOURCES.vm, vm, FIELD_MANAGER);
  } catch (err) {
    if (err instanceof ApiError && err.alreadyExists) return undefined;
    throw err;
  }
}

/**
 * Applies `desired` over `existing` (the cached VM it replaces); undefined when the VM under the
 * name is no longer that one (deleted, or replaced by someone else's).
 */
export async function applyVM(client: KubeClient, desired: V1VirtualMachine, existing: V1VirtualMachine): Promise<V1VirtualMachine | undefined> {
  const { namespace, name, uid } = existing.metadata as { namespace: string; name: string; uid: string };
  const applied = { ...desired, metadata: { ...desired.metadata, uid } };
  try {
    if (createEntry(existing) !== undefined) {
      // A dry run first, so an apply the API server refuses leaves the VM untouched.
      await client.apply(RESOURCES.vm, applied, FIELD_MANAGER, { dryRun: true });
      // The cache's entries may be stale (status writes reorder them): once more from a fresh read.
      if (!(await claimCreateEntry(client, existing))) {
        const fresh = await client.get<V1VirtualMachine>(RESOURCES.vm, { namespace, name });
        if (!fresh || fresh.metadata?.uid !== uid || (createEntry(fresh) !== undefined && !(await claimCreateEntry(client, fresh)))) return undefined;
      }
    }
    return await client.apply<V1VirtualMachine>(RESOURCES.vm, applied, FIELD_MANAGER);
  } catch (err) {
    // Another object under the name refuses the uid (409 when none exists, 422 "immutable" else).
    if (err instanceof ApiError && (err.notFound || ((err.conflict || err.status === 422) && /\buid\b/.test(err.statusMessage)))) return undefined;
    throw err;
  }
}

/** The index of the VM's create entry (the field manager's Update) while it has no Apply entry. */
function createEntry(vm: V1VirtualMachine): number | undefined {
  const entries = (vm.metadata?.managedFields ?? []) as ManagerEntry[];
  const at = entries.findIndex((e) => e.manager === FIELD_MANAGER && e.operation === 'Update' && !e.subresource);
  return at >= 0 && !entries.some((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply') ? at : undefined;
}

/** Turns the create entry into the Apply entry; false when the entries are not as `vm` shows them. */
async function claimCreateEntry(client: KubeClient, vm: V1VirtualMachine): Promise<boolean> {
  const { namespace, name, uid } = vm.metadata as { namespace: string; name: string; uid: string };
  const at = `/metadata/managedFields/${createEntry(vm)}`;
  return client
    .jsonPatch(RESOURCES.vm, { namespace, name }, [
      { op: 'test', path: '/metadata/uid', value: uid },
      { op: 'test', path: `${at}/manager`, value: FIELD_MANAGER },
      { op: 'test', path: `${at}/operation`, value: 'Update' },
      { op: 'replace', path: `${at}/operation`, value: 'Apply' },
    ])
    .then(() => true)
    .catch((err: unknown) => {
      if (err instanceof ApiError && (err.status === 422 || err.notFound)) return false;
      throw err;
    });
}
