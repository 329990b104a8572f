// The disruption window (spec.remediation.disruptionWindow): a cron schedule of openings, each
// lasting a duration; restarts wait for it, migrations do not. Pure over `now`; schedules are UTC.
import { Cron } from 'croner';
import { parseDuration } from '../duration.ts';

export interface DisruptionWindowSpec {
  schedule: string;
  duration: string;
}

export type WindowState =
  | { open: true; /** When the current opening ends, epoch ms. */ closesAt?: number }
  | { open: false; /** When the next opening starts, epoch ms. */ opensAt?: number }
  | { invalid: string };

/**
 * Whether restarts may happen at `now`. No window means always. The window is open when an
 * opening started in (now − duration, now]: croner's nextRun is strictly after its argument.
 */
export function disruptionWindow(spec: DisruptionWindowSpec | undefined, now: number): WindowState {
  if (!spec) return { open: true };
  let cron: Cron;
  let durationMs: number;
  try {
    cron = new Cron(spec.schedule, { timezone: 'UTC', paused: true });
    durationMs = parseDuration(spec.duration);
  } catch (err) {
    return { invalid: `disruptionWindow: ${(err as Error).message}` };
  }
  if (durationMs <= 0) return { invalid: 'disruptionWindow: duration must be positive' };
  let start = cron.nextRun(new Date(now - durationMs));
  if (start && start.getTime() <= now) {
    // Overlapping openings: the window lasts until the latest one that began by now ends.
    for (let next = cron.nextRun(start); next && next.getTime() <= now; next = cron.nextRun(next)) start = next;
    return { open: true, closesAt: start.getTime() + durationMs };
  }
  const next = cron.nextRun(new Date(now));
  return next ? { open: false, opensAt: next.getTime() } : { open: false };
}
