// KubeVirt-style conditions (type, status, reason, message, lastTransitionTime, lastProbeTime):
// a condition keeps its transition time while its status stays the same, so an unchanged state
// produces an unchanged object and no write.
export interface KvCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string | null;
  lastProbeTime?: string | null;
}

export function withTransitionTimes(previous: KvCondition[] | undefined, next: KvCondition[], now: string): KvCondition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return {
      ...c,
      lastProbeTime: null,
      lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now,
    };
  });
}

export function conditionOf(conditions: KvCondition[] | undefined, type: string): KvCondition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: KvCondition[] | undefined, type: string): boolean {
  return conditionOf(conditions, type)?.status === 'True';
}
