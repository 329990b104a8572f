// How a VMI moves through its phases (KubeVirt: virt-controller creates the launcher pod, the
// scheduler places it, virt-handler starts the domain): Pending → Scheduling → Scheduled →
// Running, each after its configured delay, or Failed when the start fails or its node is lost.
// Pure: the caller supplies time, the scheduling decision and the facts about nodes and disks.
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { withTransitionTimes, type KvCondition } from '../conditions.ts';
import { isoSeconds, phaseEnteredAt } from '../phases.ts';

type Status = NonNullable<V1VirtualMachineInstance['status']>;

export interface LifecycleFacts {
  /** Wall-clock now, epoch ms, and how many simulated ms pass per real ms. */
  now: number;
  speed: number;
  delays: { pendingMs: number; schedulingMs: number; scheduledMs: number };
  /** Places the VMI; called only when it is due to be scheduled. */
  schedule: () => { node: string } | { unschedulable: string };
  /** Whether the VMI's node is Ready (undefined when it has none). */
  nodeReady?: boolean;
  /** Why the start fails, when it does (an injected failure or a broken image). */
  startFailure?: string;
  liveMigratable: KvCondition;
}

export interface LifecycleStep {
  status: Status;
  /** Real ms until the next transition is due, when one is pending. */
  wakeInMs?: number;
}

const iso = isoSeconds;
const enteredAt = (status: Status, phase: string): number | undefined => phaseEnteredAt(status.phaseTransitionTimestamps, phase);

function enter(status: Status, phase: string, at: number): Status {
  return {
    ...status,
    phase,
    phaseTransitionTimestamps: [...(status.phaseTransitionTimestamps ?? []), { phase, phaseTransitionTimestamp: iso(at) }],
  };
}

function setConditions(status: Status, conditions: KvCondition[], now: number): Status {
  const previous = (status.conditions ?? []) as KvCondition[];
  const replaced = new Set(conditions.map((c) => c.type));
  const merged = [...previous.filter((c) => !replaced.has(c.type)), ...withTransitionTimes(previous, conditions, iso(now))];
  return { ...status, conditions: merged as Status['conditions'] };
}

/** Applies every transition already due at `now`, so a fast simulation writes once per step. */
export function advance(vmi: V1VirtualMachineInstance, facts: LifecycleFacts): LifecycleStep {
  let status: Status = structuredClone(vmi.status ?? {});
  const due = (phase: string, simMs: number): number => {
    const since = enteredAt(status, phase) ?? facts.now;
    return since + simMs / facts.speed - facts.now;
  };
  for (let guard = 0; guard < 6; guard++) {
    switch (status.phase ?? '') {
      case '':
        status = enter(status, 'Pending', facts.now);
        continue;
      case 'Pending': {
        const wait = due('Pending', facts.delays.pendingMs);
        if (wait > 0) return { status, wakeInMs: wait };
        status = enter(status, 'Scheduling', facts.now);
        continue;
      }
      case 'Scheduling': {
        const wait = due('Scheduling', facts.delays.schedulingMs);
        if (wait > 0) return { status, wakeInMs: wait };
        const decision = facts.schedule();
        if ('unschedulable' in decision) {
          // The launcher pod stays Pending; KubeVirt mirrors the pod's PodScheduled condition.
          status = setConditions(status, [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: decision.unschedulable }], facts.now);
          return { status };
        }
        status = setConditions({ ...enter(status, 'Scheduled', facts.now), nodeName: decision.node }, [{ type: 'PodScheduled', status: 'True' }], facts.now);
        continue;
      }
      case 'Scheduled': {
        if (facts.nodeReady === false) return { status: nodeLost(status, facts.now) };
        const wait = due('Scheduled', facts.delays.scheduledMs);
        if (wait > 0) return { status, wakeInMs: wait };
        if (facts.startFailure !== undefined) {
          status = setConditions(enter(status, 'Failed', facts.now), [{ type: 'Ready', status: 'False', reason: 'Failed', message: `virt-launcher failed to start the domain (${facts.startFailure})` }], facts.now);
          return { status: { ...status, reason: 'StartFailed' } as Status };
        }
        status = setConditions(enter(status, 'Running', facts.now), [
          { type: 'Ready', status: 'True' },
          facts.liveMigratable,
          { type: 'AgentConnected', status: 'True' },
        ], facts.now);
        status = { ...status, guestOSInfo: { id: 'fedora', name: 'Fedora Linux' }, migrationMethod: 'LiveMigration' as never };
        continue;
      }
      case 'Running':
        if (facts.nodeReady === false) return { status: nodeLost(status, facts.now) };
        // LiveMigratable follows the VMI's disks and devices while it runs.
        return { status: setConditions(status, [facts.liveMigratable], facts.now) };
      default:
        return { status };
    }
  }
  return { status };
}

/** virt-handler stopped heartbeating: KubeVirt fails the node's VMIs. */
function nodeLost(status: Status, now: number): Status {
  const failed = setConditions(enter(status, 'Failed', now), [{ type: 'Ready', status: 'False', reason: 'NodeUnresponsive', message: `virt-handler on node ${status.nodeName ?? ''} is not responsive` }], now);
  return { ...failed, reason: 'NodeUnresponsive' } as Status;
}

export function isFinished(vmi: V1VirtualMachineInstance): boolean {
  return vmi.status?.phase === 'Succeeded' || vmi.status?.phase === 'Failed';
}
