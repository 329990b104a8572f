// Watches VirtualMachineInstanceMigrations on the API server and keeps, at every change, how many
// are in flight (not Succeeded or Failed, and not yet gone) in the namespace and per fleet label,
// plus the history of every migration seen: when it appeared, its phases, when deletion was asked
// and when it went. What tests of the migration budgets and of retries assert on.
import type { V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { Watch } from '@kubernetes/client-node';
import { FLEET_LABEL } from '../../controller/core/fleet/names.ts';
import { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../../controller/kube/resources.ts';
import { kubeConfig } from './cluster.ts';

type Migration = V1VirtualMachineInstanceMigration;

export const DRIFT_LABEL = 'virtfleet.io/drift';
export const ATTEMPT_LABEL = 'virtfleet.io/attempt';
const FINAL = ['Succeeded', 'Failed'];

export interface MigrationRecord {
  name: string;
  uid: string;
  vmi: string;
  labels: Record<string, string>;
  /** Our fleet label, if any. */
  fleet?: string;
  attempt?: number;
  /** Real time (epoch ms) the watch first showed it (or the initial list held it). */
  seenAt: number;
  /** Each phase the watch showed, with when. */
  phases: { phase: string; at: number }[];
  /** Succeeded or Failed, once seen. */
  finalPhase?: string;
  finishedAt?: number;
  /** When the watch first showed a deletionTimestamp. */
  deletionSeenAt?: number;
  /** The phase it had when deletion was first seen. */
  phaseAtDeletion?: string;
  goneAt?: number;
}

export interface MigrationSampler {
  /** Most migrations in flight in the namespace at once. */
  maxInFlight(): number;
  /** Most migrations labelled with this fleet in flight at once. */
  maxInFlightOf(fleet: string): number;
  /** Migrations in flight now. */
  inFlight(): MigrationRecord[];
  records(): MigrationRecord[];
  /** Ours (fleet-labelled) of a VMI, by attempt. */
  attemptsOf(vmi: string, fleet?: string): MigrationRecord[];
  /** Each time a migration appeared while another of the same VMI was in flight: "new (over old)". */
  overlaps(): string[];
  stop(): void;
}

/** Aborted (deleted) before it reached Succeeded or Failed. */
export const wasAborted = (r: MigrationRecord) => r.deletionSeenAt !== undefined && (r.finishedAt === undefined || r.finishedAt > r.deletionSeenAt);
/** When it ended, as far as anyone could see: its final phase or its abort, whichever first. */
export const endedAt = (r: MigrationRecord) => Math.min(r.finishedAt ?? Infinity, r.deletionSeenAt ?? Infinity, r.goneAt ?? Infinity);

export async function sampleMigrations(namespace: string): Promise<MigrationSampler> {
  const current = new Map<string, Migration>();
  const records = new Map<string, MigrationRecord>();
  const maxByFleet = new Map<string, number>();
  const overlaps: string[] = [];
  let max = 0;
  let stopped = false;
  let resourceVersion: string | undefined;

  const flying = (m: Migration) => !FINAL.includes(m.status?.phase ?? '');
  const record = (m: Migration, at: number) => {
    const uid = m.metadata!.uid!;
    const labels = m.metadata?.labels ?? {};
    let r = records.get(uid);
    if (!r) {
      r = {
        name: m.metadata!.name!,
        uid,
        vmi: m.spec?.vmiName ?? '',
        labels,
        ...(labels[FLEET_LABEL] ? { fleet: labels[FLEET_LABEL] } : {}),
        ...(labels[ATTEMPT_LABEL] ? { attempt: Number(labels[ATTEMPT_LABEL]) } : {}),
        seenAt: at,
        phases: [],
      };
      records.set(uid, r);
      const busy = [...current.values()].filter((o) => o.metadata?.uid !== uid && o.spec?.vmiName === r!.vmi && flying(o));
      for (const o of busy) overlaps.push(`${r.name} (over ${o.metadata?.name} ${o.status?.phase ?? ''})`);
    }
    const phase = m.status?.phase ?? '';
    if (r.phases.at(-1)?.phase !== phase) r.phases.push({ phase, at });
    if (FINAL.includes(phase) && r.finishedAt === undefined) {
      r.finalPhase = phase;
      r.finishedAt = at;
    }
    if (m.metadata?.deletionTimestamp && r.deletionSeenAt === undefined) {
      r.deletionSeenAt = at;
      r.phaseAtDeletion = phase;
    }
  };
  const tally = () => {
    const live = [...current.values()].filter(flying);
    max = Math.max(max, live.length);
    const byFleet = new Map<string, number>();
    for (const m of live) {
      const fleet = m.metadata?.labels?.[FLEET_LABEL];
      if (fleet) byFleet.set(fleet, (byFleet.get(fleet) ?? 0) + 1);
    }
    for (const [fleet, n] of byFleet) maxByFleet.set(fleet, Math.max(maxByFleet.get(fleet) ?? 0, n));
  };
  const onEvent = (type: string, m: Migration) => {
    const at = Date.now();
    if (m.metadata?.resourceVersion) resourceVersion = m.metadata.resourceVersion;
    if (type === 'BOOKMARK' || type === 'ERROR') return;
    const key = m.metadata!.name!;
    if (type === 'DELETED') {
      // Record first: a migration created and deleted between two events still counts.
      record(m, at);
      const r = records.get(m.metadata!.uid!)!;
      r.goneAt ??= at;
      current.delete(key);
    } else {
      // A migration recreated under the same name is a different object (uid).
      current.set(key, m);
      record(m, at);
    }
    tally();
  };

  const list = await new KubeClient(kubeConfig(), { qps: 0 }).list<Migration>(RESOURCES.vmim, { namespace });
  resourceVersion = list.metadata?.resourceVersion;
  const listedAt = Date.now();
  for (const m of list.items) {
    current.set(m.metadata!.name!, m);
    record(m, listedAt);
  }
  tally();

  let abort: (() => void) | undefined;
  const watch = async (): Promise<void> => {
    const req = await new Watch(kubeConfig()).watch(pathOf(RESOURCES.vmim, namespace), { resourceVersion, allowWatchBookmarks: true }, onEvent, () => {
      // The API server ends watches now and then; carry on from the last version seen.
      if (!stopped) void watch().catch((err: unknown) => console.error(`migration sampler: ${(err as Error).message}`));
    });
    abort = () => req.abort();
  };
  await watch();

  return {
    maxInFlight: () => max,
    maxInFlightOf: (fleet) => maxByFleet.get(fleet) ?? 0,
    inFlight: () => [...current.values()].filter(flying).map((m) => records.get(m.metadata!.uid!)!),
    records: () => [...records.values()],
    attemptsOf: (vmi, fleet) => [...records.values()].filter((r) => r.vmi === vmi && r.fleet !== undefined && (fleet === undefined || r.fleet === fleet)).sort((a, b) => (a.attempt ?? 0) - (b.attempt ?? 0)),
    overlaps: () => [...overlaps],
    stop: () => {
      stopped = true;
      abort?.();
    },
  };
}
