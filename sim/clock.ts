// Simulated time: durations scale by `speed`; timestamps are the wall clock, so ages shown by
// kubectl stay true.
import { isoSeconds } from './phases.ts';

export class SimClock {
  readonly speed: number;

  constructor(speed: number) {
    if (!(speed > 0)) throw new Error(`speed must be positive, not ${speed}`);
    this.speed = speed;
  }

  now(): number {
    return Date.now();
  }

  /** Real milliseconds that a simulated duration takes. */
  real(simMs: number): number {
    return simMs / this.speed;
  }

  /** Simulated milliseconds elapsed since a wall-clock time (ISO string or epoch ms). */
  simSince(at: string | number | undefined): number {
    if (at === undefined) return 0;
    const t = typeof at === 'number' ? at : Date.parse(at);
    return Number.isNaN(t) ? 0 : (this.now() - t) * this.speed;
  }

  /** Real milliseconds until a simulated duration since `at` has passed (0 when it has). */
  remaining(at: string | number | undefined, simMs: number): number {
    return Math.max(0, this.real(simMs - this.simSince(at)));
  }

  iso(): string {
    return isoSeconds(this.now());
  }
}
