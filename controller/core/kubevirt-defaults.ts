// What KubeVirt fills in on a VMI when a template leaves it out, and its live-update ceilings:
// shared by the simulator's LiveUpdate rules and the controller's change classification.
import { getPath } from './semantic.ts';

/**
 * KubeVirt: KubeVirt CR liveUpdateConfiguration.maxHotplugRatio default. virt-controller sets a
 * VMI's cpu.maxSockets and memory.maxGuest to ratio × the start value unless given.
 */
export const DEFAULT_MAX_HOTPLUG_RATIO = 4;

/** Fields KubeVirt's LiveUpdate patches onto a running VMI without a restart or migration. */
export const PLACEMENT_FIELDS = ['nodeSelector', 'affinity', 'tolerations'] as const;

/**
 * Fields KubeVirt (its mutating webhook or virt-controller) fills in on a VMI when the template
 * leaves them out; a difference there is ignored when the template does not set the field.
 */
const DEFAULTED_PATHS: string[][] = [
  ['architecture'],
  ['terminationGracePeriodSeconds'],
  ['networks'],
  ['domain', 'devices', 'interfaces'],
  ['domain', 'machine'],
  ['domain', 'firmware', 'uuid'],
  ['domain', 'firmware', 'serial'],
  ['domain', 'cpu', 'cores'],
  ['domain', 'cpu', 'threads'],
  ['domain', 'cpu', 'model'],
  ['domain', 'cpu', 'maxSockets'],
  ['domain', 'memory', 'maxGuest'],
  ['domain', 'resources', 'requests', 'cpu'],
  ['domain', 'resources', 'requests', 'memory'],
  ['domain', 'resources', 'limits', 'cpu'],
  ['domain', 'resources', 'limits', 'memory'],
  ['domain', 'features', 'acpi'],
];

/** The defaulted fields `template` leaves unset: the ones a difference is ignored in. */
export function defaultedPathsUnsetIn(template: unknown): string[][] {
  return DEFAULTED_PATHS.filter((path) => getPath(template, path) === undefined);
}

/** Removes from `spec` (in place) every defaulted field that `template` leaves unset. */
export function dropDefaultedFields(spec: unknown, template: unknown): void {
  for (const path of defaultedPathsUnsetIn(template)) {
    const parent = getPath(spec, path.slice(0, -1));
    if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[path[path.length - 1]!];
  }
}
