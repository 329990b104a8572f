// The migration informer of the fleet controller, indexed by the fleet whose VM name each
// migration's VMI carries (`<fleet>-<index>`: a VMI has its VM's name), so a fleet's reconcile
// reads its own VMIs' migrations by one lookup. KubeVirt keeps the five newest finished
// migrations of every VMI, so a namespace of many fleets holds many times more migrations than
// any one fleet reads.
import type { KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES } from '../kube/resources.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import type { Migration } from '../fleet/remediation.ts';
import type { Cache } from './cache.ts';
import { ValueIndex } from './label-index.ts';
import { fleetOfVMName } from './vms.ts';

const fleetIndexes = new WeakMap<object, ValueIndex>();

/** The fleet whose VM the migration's VMI would be. */
const fleetOfMigration = (m: Migration): string | undefined => fleetOfVMName(m.spec?.vmiName ?? '');

/** Every migration in `namespace` (all namespaces when undefined), indexed by fleetOfMigration. */
export function migrationInformer(ctx: ManagerContext, namespace: string | undefined) {
  const informer = ctx.informer<Migration & KubernetesObject>(RESOURCES.vmim, { namespace });
  if (!fleetIndexes.has(informer)) {
    const index = new ValueIndex((m) => fleetOfMigration(m as Migration));
    informer.on((type, m) => index.observe(type, m));
    fleetIndexes.set(informer, index);
  }
  return informer;
}

/**
 * The migrations of `namespace` whose VMI has one of `fleet`'s VM names, whoever created them, by
 * one index lookup on a cache from migrationInformer; any other cache is scanned.
 */
export function migrationsOfFleet(cache: Cache<Migration>, namespace: string, fleet: string): Migration[] {
  const index = fleetIndexes.get(cache);
  return index ? index.list(cache, namespace, fleet) : cache.list(namespace).filter((m) => fleetOfMigration(m) === fleet);
}
