// How long a restart and a live migration take in this cluster, from what it shows: a VMI's boot
// is the time from its creation to its Ready condition turning True; a migration's is the time
// from its creation to its Succeeded phase transition. The median of the observed ones is taken
// (a few slow outliers do not stretch every wave); with none observed, a stated default. Pure.
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { Estimates } from './preview.ts';

export const DEFAULT_RESTART_SECONDS = 60;
export const DEFAULT_MIGRATION_SECONDS = 30;

const ms = (t: unknown): number | undefined => {
  const v = t === undefined || t === null ? Number.NaN : new Date(t as string).getTime();
  return Number.isNaN(v) ? undefined : v;
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Boot seconds of each Running VMI that turned Ready (Ready's lastTransitionTime − creationTimestamp). */
export function bootTimes(vmis: readonly V1VirtualMachineInstance[]): number[] {
  return vmis.flatMap((vmi) => {
    const created = ms(vmi.metadata?.creationTimestamp);
    const ready = ((vmi.status?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[]).find((c) => c.type === 'Ready' && c.status === 'True');
    const at = ms(ready?.lastTransitionTime);
    return vmi.status?.phase === 'Running' && created !== undefined && at !== undefined && at >= created ? [(at - created) / 1000] : [];
  });
}

/** Seconds each Succeeded migration took (its Succeeded phase transition − creationTimestamp). */
export function migrationTimes(migrations: readonly V1VirtualMachineInstanceMigration[]): number[] {
  return migrations.flatMap((m) => {
    if (m.status?.phase !== 'Succeeded') return [];
    const created = ms(m.metadata?.creationTimestamp);
    const done = ms((m.status.phaseTransitionTimestamps ?? []).find((p) => p.phase === 'Succeeded')?.phaseTransitionTimestamp);
    return created !== undefined && done !== undefined && done >= created ? [(done - created) / 1000] : [];
  });
}

export function estimateTimes(vmis: readonly V1VirtualMachineInstance[], migrations: readonly V1VirtualMachineInstanceMigration[]): Estimates {
  const boots = bootTimes(vmis);
  const moves = migrationTimes(migrations);
  // API timestamps have one-second precision: a time under a second counts as one.
  const seconds = (v: number) => Math.max(1, Math.round(v));
  return {
    restartSeconds: boots.length > 0 ? seconds(median(boots)) : DEFAULT_RESTART_SECONDS,
    migrationSeconds: moves.length > 0 ? seconds(median(moves)) : DEFAULT_MIGRATION_SECONDS,
    basis: {
      restart: boots.length > 0 ? `median boot time (VMI created to Ready) of ${boots.length} running VMI(s)` : `no VMI boot observed: default ${DEFAULT_RESTART_SECONDS}s`,
      migration: moves.length > 0 ? `median duration (created to Succeeded) of ${moves.length} finished migration(s)` : `no finished migration observed: default ${DEFAULT_MIGRATION_SECONDS}s`,
    },
  };
}
