// KubeVirt records each phase a VMI or migration enters in status.phaseTransitionTimestamps,
// with second precision; the simulator times its transitions from them.

export interface PhaseTransition {
  phase?: string;
  phaseTransitionTimestamp?: string;
}

/** An RFC 3339 time with second precision, as Kubernetes metav1.Time serialises. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** When the phase was last entered (epoch ms), if ever. */
export function phaseEnteredAt(transitions: PhaseTransition[] | undefined, phase: string): number | undefined {
  const t = [...(transitions ?? [])].reverse().find((p) => p.phase === phase)?.phaseTransitionTimestamp;
  return t ? Date.parse(t) : undefined;
}
