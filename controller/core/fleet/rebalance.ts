// Imbalance (spec.remediation.rebalance): the fleet's running VMs spread over topology domains
// (values of a node label) more unevenly than maxSkew allows. Pure; moves are live migrations
// with an added node selector naming the emptiest domain.
import type { VMFleetSpec } from '../../api/generated/types.ts';
import { parseDuration } from '../duration.ts';

export interface RebalanceSpec {
  enabled: boolean;
  topologyKey: string;
  maxSkew: number;
  coolDownMs: number;
}

export function rebalanceSpecOf(spec: VMFleetSpec): RebalanceSpec {
  const r = spec.remediation?.rebalance;
  return {
    enabled: r?.enabled ?? false,
    topologyKey: r?.topologyKey ?? 'topology.kubernetes.io/zone',
    maxSkew: r?.maxSkew ?? 1,
    coolDownMs: parseDuration(r?.coolDown ?? '10m'),
  };
}

export interface RebalanceVM {
  name: string;
  index: number;
  /** The topology domain of its node (undefined: the node lacks the label). */
  domain: string | undefined;
  /** Running, live-migratable, nothing migrating it and no other drift: free to move. */
  movable: boolean;
}

export interface RebalanceInput {
  spec: RebalanceSpec;
  /** Domains with at least one Ready, schedulable node the fleet's placement admits. */
  domains: readonly string[];
  vms: readonly RebalanceVM[];
  /** When the fleet's latest imbalance migration was created, epoch ms. */
  lastMoveAt?: number;
  now: number;
}

export interface RebalancePlan {
  /** VMs to move for the spread to be within maxSkew (whether or not they can move now). */
  excess: number;
  moves: { vm: string; to: string; message: string }[];
  /** When the cool-down ends, epoch ms. */
  nextCheckAt?: number;
}

/** How many single-VM moves, fullest domain to emptiest, bring the spread within maxSkew. */
function movesToBalance(counts: number[], maxSkew: number): number {
  const c = [...counts];
  let moves = 0;
  for (;;) {
    const hi = c.indexOf(Math.max(...c));
    const lo = c.indexOf(Math.min(...c));
    if (c[hi]! - c[lo]! <= maxSkew) return moves;
    c[hi]!--;
    c[lo]!++;
    moves++;
  }
}

/**
 * Moves that bring the spread within maxSkew, as a topology spread constraint counts it: VMs
 * per eligible domain (empty domains count as 0). Each move takes a movable VM (highest index) from
 * the fullest domain over the skew that has one to the emptiest, recounting after each; none during the cool-down after the
 * previous move, so VMs never ping-pong.
 */
export function planRebalance(input: RebalanceInput): RebalancePlan {
  const { spec, now } = input;
  if (!spec.enabled || input.domains.length < 2) return { excess: 0, moves: [] };
  const counts = new Map<string, number>(input.domains.map((d) => [d, 0]));
  for (const vm of input.vms) if (vm.domain !== undefined && counts.has(vm.domain)) counts.set(vm.domain, counts.get(vm.domain)! + 1);
  const excess = movesToBalance([...counts.values()], spec.maxSkew);
  if (excess === 0) return { excess, moves: [] };
  if (input.lastMoveAt !== undefined && now < input.lastMoveAt + spec.coolDownMs) return { excess, moves: [], nextCheckAt: input.lastMoveAt + spec.coolDownMs };

  const moves: RebalancePlan['moves'] = [];
  const moved = new Set<string>();
  for (;;) {
    const sorted = [...counts].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    const [emptiest, low] = sorted[0]!;
    const movableIn = (d: string) => input.vms.filter((v) => v.domain === d && v.movable && !moved.has(v.name)).sort((a, b) => b.index - a.index);
    // The fullest domain over the skew that still has a VM free to move.
    const source = sorted.slice(1).reverse().find(([d, n]) => n - low > spec.maxSkew && movableIn(d).length > 0);
    if (!source) break;
    const [fullest, high] = source;
    const vm = movableIn(fullest)[0]!;
    moved.add(vm.name);
    moves.push({ vm: vm.name, to: emptiest, message: `${spec.topologyKey}=${fullest} has ${high} VMs and ${emptiest} has ${low} (maxSkew ${spec.maxSkew}): move to ${emptiest}` });
    counts.set(fullest, high - 1);
    counts.set(emptiest, low + 1);
  }
  return { excess, moves };
}
