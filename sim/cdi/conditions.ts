// CDI's conditions (DataVolumeCondition, DataSourceCondition): type, status, reason, message,
// lastTransitionTime and lastHeartbeatTime. CDI's updateCondition (pkg/controller/datavolume/
// conditions.go) moves both times when the status changes and only the heartbeat when just the
// reason or message does, so a state that holds yields an unchanged object and no write.
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface CdiCondition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

/** What a controller wants a condition to say; empty reason and message are left out (omitempty). */
export interface DesiredCondition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
}

/** Applies the desired conditions in order onto the previous ones, keeping their order. */
export function updateConditions(previous: readonly CdiCondition[] | undefined, desired: readonly DesiredCondition[], now: string): CdiCondition[] {
  const out = (previous ?? []).map((c) => ({ ...c }));
  for (const d of desired) {
    const reason = d.reason ?? '';
    const message = d.message ?? '';
    let c = out.find((x) => x.type === d.type);
    if (!c) {
      // CDI appends the condition with an empty status, so it always "transitions" on creation.
      c = { type: d.type, status: '' as ConditionStatus };
      out.push(c);
    }
    if (c.status !== d.status) {
      c.lastTransitionTime = now;
      c.lastHeartbeatTime = now;
      setText(c, reason, message);
    } else if ((c.reason ?? '') !== reason || (c.message ?? '') !== message) {
      c.lastHeartbeatTime = now;
      setText(c, reason, message);
    }
    c.status = d.status;
  }
  return out;
}

function setText(c: CdiCondition, reason: string, message: string): void {
  if (reason) c.reason = reason;
  else delete c.reason;
  if (message) c.message = message;
  else delete c.message;
}

export function findCondition(conditions: readonly CdiCondition[] | undefined, type: string): CdiCondition | undefined {
  return conditions?.find((c) => c.type === type);
}
