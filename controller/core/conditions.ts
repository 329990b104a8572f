// metav1.Condition helpers shared by every kind's status (kstatus style: Ready, Reconciling,
// Stalled). Pure. lastTransitionTime moves only when a condition's status does.
import { isDeepStrictEqual } from 'node:util';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type NewCondition = Omit<Condition, 'lastTransitionTime'>;

/** A condition without its transition time; the message is cut to the schema's 1024 characters. */
export function condition(type: string, status: Condition['status'], reason: string, message: string, generation: number): NewCondition {
  return { type, status, observedGeneration: generation, reason, message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message };
}

/** Carries lastTransitionTime over from the previous condition of the same type and status. */
export function withTransitionTimes<C extends Condition>(previous: readonly C[] | undefined, next: NewCondition[], now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now };
  });
}

/** Whether writing `next` would change any of its fields (so a converged object causes no write). */
export function statusDiffers<S extends object>(previous: S | undefined, next: S): boolean {
  if (!previous) return true;
  return (Object.keys(next) as (keyof S)[]).some((k) => !isDeepStrictEqual(previous[k], next[k]));
}
