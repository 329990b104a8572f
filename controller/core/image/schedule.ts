// When an image's source is looked at next: every pollInterval, or at the runs of the cron
// `schedule` (UTC) when one is set. Pure over the time of the last look and `now`. A process
// that has not looked yet (a restart) looks at once: what it found is in status, so looking
// again records nothing twice.
import { Cron } from 'croner';
import { parseDuration } from '../duration.ts';
import type { ImageSpec } from './types.ts';

/** The schema's default pollInterval. */
const DEFAULT_POLL = '1h';
/** No source is polled more often than this, whatever pollInterval says. */
export const MIN_POLL_MS = 1_000;

export type PollSchedule = { ok: true; nextAt: number } | { ok: false; message: string };

function pollingOf(spec: ImageSpec): { pollInterval?: string; schedule?: string } | undefined {
  return spec.source.registry ?? spec.source.http;
}

/** The next look after `lastAt` (epoch ms); undefined `lastAt` means now. */
export function nextPoll(spec: ImageSpec, lastAt: number | undefined, now: number): PollSchedule {
  const polling = pollingOf(spec);
  // A pvc source is one read of the PVC (which may be replaced under its name): every reconcile.
  if (spec.source.pvc) return { ok: true, nextAt: now };
  // A fixed checksum names one version: looked at once, never on a timer.
  if (!polling || (spec.source.http && !spec.source.http.checksumURL)) return { ok: true, nextAt: lastAt === undefined ? now : Number.POSITIVE_INFINITY };
  if (lastAt === undefined) return { ok: true, nextAt: now };
  if (polling.schedule) {
    let cron: Cron;
    try {
      cron = new Cron(polling.schedule, { timezone: 'UTC', paused: true });
    } catch (err) {
      return { ok: false, message: `schedule "${polling.schedule}": ${(err as Error).message}` };
    }
    const next = cron.nextRun(new Date(lastAt));
    return { ok: true, nextAt: next ? next.getTime() : Number.POSITIVE_INFINITY };
  }
  let ms: number;
  try {
    ms = parseDuration(polling.pollInterval ?? DEFAULT_POLL);
  } catch (err) {
    return { ok: false, message: `pollInterval: ${(err as Error).message}` };
  }
  return { ok: true, nextAt: lastAt + Math.max(ms, MIN_POLL_MS) };
}
