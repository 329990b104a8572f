import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { disruptionWindow, type WindowState } from './window.ts';

const at = (iso: string) => Date.parse(iso);
const MIN = 60_000;
const nightly = { schedule: '0 2 * * *', duration: '2h' };

describe('disruptionWindow', () => {
  it('is always open without a window', () => {
    expect(disruptionWindow(undefined, at('2025-03-10T12:00:00Z'))).toEqual({ open: true });
  });

  it('opens at the scheduled start (inclusive) and closes after the duration (exclusive), in UTC', () => {
    expect(disruptionWindow(nightly, at('2025-03-10T01:59:59.999Z'))).toEqual({ open: false, opensAt: at('2025-03-10T02:00:00Z') });
    expect(disruptionWindow(nightly, at('2025-03-10T02:00:00Z'))).toEqual({ open: true, closesAt: at('2025-03-10T04:00:00Z') });
    expect(disruptionWindow(nightly, at('2025-03-10T03:59:59.999Z'))).toEqual({ open: true, closesAt: at('2025-03-10T04:00:00Z') });
    expect(disruptionWindow(nightly, at('2025-03-10T04:00:00Z'))).toEqual({ open: false, opensAt: at('2025-03-11T02:00:00Z') });
  });

  it('an opening that started before midnight stays open into the next day', () => {
    expect(disruptionWindow({ schedule: '30 23 * * *', duration: '2h' }, at('2025-01-01T00:30:00Z'))).toEqual({ open: true, closesAt: at('2025-01-01T01:30:00Z') });
    expect(disruptionWindow({ schedule: '30 23 * * *', duration: '2h' }, at('2025-01-01T01:30:00Z'))).toEqual({ open: false, opensAt: at('2025-01-01T23:30:00Z') });
  });

  it('follows day-of-week schedules and @-macros', () => {
    // 2025-03-10 is a Monday; Saturdays at 02:00 come on the 15th.
    expect(disruptionWindow({ schedule: '0 2 * * 6', duration: '1h' }, at('2025-03-10T00:30:00Z'))).toEqual({ open: false, opensAt: at('2025-03-15T02:00:00Z') });
    expect(disruptionWindow({ schedule: '0 2 * * SAT', duration: '1h' }, at('2025-03-15T02:59:00Z'))).toEqual({ open: true, closesAt: at('2025-03-15T03:00:00Z') });
    expect(disruptionWindow({ schedule: '@daily', duration: '1h' }, at('2025-03-10T00:30:00Z'))).toEqual({ open: true, closesAt: at('2025-03-10T01:00:00Z') });
    expect(disruptionWindow({ schedule: '@hourly', duration: '10m' }, at('2025-03-10T07:15:00Z'))).toEqual({ open: false, opensAt: at('2025-03-10T08:00:00Z') });
  });

  it('accepts Go durations with fractions and compound units', () => {
    expect(disruptionWindow({ schedule: '*/15 * * * *', duration: '90s' }, at('2025-01-01T00:16:00Z'))).toEqual({ open: true, closesAt: at('2025-01-01T00:16:30Z') });
    expect(disruptionWindow({ schedule: '*/15 * * * *', duration: '90s' }, at('2025-01-01T00:16:30Z'))).toEqual({ open: false, opensAt: at('2025-01-01T00:30:00Z') });
    expect(disruptionWindow({ schedule: '0 2 * * *', duration: '1h30m' }, at('2025-01-01T03:29:00Z'))).toMatchObject({ open: true });
    expect(disruptionWindow({ schedule: '0 2 * * *', duration: '1.5h' }, at('2025-01-01T03:31:00Z'))).toMatchObject({ open: false });
  });

  it('reports a schedule that never fires as closed with no opening', () => {
    expect(disruptionWindow({ schedule: '0 0 30 2 *', duration: '1h' }, at('2025-01-01T00:00:00Z'))).toEqual({ open: false });
  });

  it('reports an invalid schedule or duration instead of throwing', () => {
    const bad = (s: WindowState) => ('invalid' in s ? s.invalid : undefined);
    expect(bad(disruptionWindow({ schedule: 'nope', duration: '1h' }, 0))).toMatch(/^disruptionWindow: /);
    expect(bad(disruptionWindow({ schedule: '0 25 * * *', duration: '1h' }, 0))).toMatch(/^disruptionWindow: /);
    expect(bad(disruptionWindow({ schedule: '0 2 * * *', duration: 'soon' }, 0))).toBe('disruptionWindow: invalid duration "soon"');
    expect(bad(disruptionWindow({ schedule: '0 2 * * *', duration: '' }, 0))).toMatch(/^disruptionWindow: /);
    expect(bad(disruptionWindow({ schedule: '0 2 * * *', duration: '0s' }, 0))).toBe('disruptionWindow: duration must be positive');
  });
});

// A brute-force reference for minute-granularity schedules: an opening starts at every matching
// minute; the window is open when one started in (now − duration, now].
interface Sched { minute: number | undefined; step: number; hour: number | undefined; dow: number | undefined }
const pattern = (s: Sched) => `${s.minute ?? `*/${s.step}`} ${s.hour ?? '*'} * * ${s.dow ?? '*'}`;
const matches = (s: Sched, t: number) => {
  const d = new Date(t);
  return (s.minute === undefined ? d.getUTCMinutes() % s.step === 0 : d.getUTCMinutes() === s.minute) && (s.hour === undefined || d.getUTCHours() === s.hour) && (s.dow === undefined || d.getUTCDay() === s.dow);
};

describe('disruptionWindow: properties', () => {
  const schedArb = fc.record({
    minute: fc.option(fc.integer({ min: 0, max: 59 }), { nil: undefined }),
    step: fc.constantFrom(5, 10, 15, 20, 30),
    hour: fc.option(fc.integer({ min: 0, max: 23 }), { nil: undefined }),
    dow: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
  });
  const nowArb = fc.integer({ min: at('2024-01-01T00:00:00Z') / 1000, max: at('2027-01-01T00:00:00Z') / 1000 }).map((s) => s * 1000);

  it('agrees with a minute-by-minute reference while openings do not overlap', () => {
    fc.assert(
      fc.property(schedArb, fc.integer({ min: 1, max: 4 * 60 }), nowArb, (s, wanted, now) => {
        const gap = s.minute === undefined ? s.step : s.hour === undefined ? 60 : 24 * 60;
        const minutes = Math.min(wanted, gap);
        const durationMs = minutes * MIN;
        const got = disruptionWindow({ schedule: pattern(s), duration: `${minutes}m` }, now);
        const starts: number[] = [];
        for (let t = Math.floor((now - durationMs) / MIN) * MIN; t <= now; t += MIN) if (t > now - durationMs && matches(s, t)) starts.push(t);
        if (starts.length > 0) {
          expect(starts).toHaveLength(1);
          expect(got).toEqual({ open: true, closesAt: starts[0]! + durationMs });
        } else {
          let next = Math.floor(now / MIN) * MIN + MIN;
          while (!matches(s, next)) next += MIN;
          expect(got).toEqual({ open: false, opensAt: next });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an open window started at most duration ago and closes in the future; a closed one opens in the future and stays open for the duration', () => {
    fc.assert(
      fc.property(schedArb, fc.integer({ min: 1, max: 48 * 60 }), nowArb, (s, minutes, now) => {
        const spec = { schedule: pattern(s), duration: `${minutes}m` };
        const got = disruptionWindow(spec, now);
        if ('invalid' in got) throw new Error(got.invalid);
        if (got.open) {
          expect(got.closesAt).toBeGreaterThan(now);
          expect(got.closesAt! - now).toBeLessThanOrEqual(minutes * MIN);
          expect(disruptionWindow(spec, got.closesAt! - minutes * MIN)).toMatchObject({ open: true });
        } else {
          expect(got.opensAt).toBeGreaterThan(now);
          expect(disruptionWindow(spec, got.opensAt!)).toEqual({ open: true, closesAt: got.opensAt! + minutes * MIN });
          expect(disruptionWindow(spec, got.opensAt! - 1)).toMatchObject({ open: false });
          // Closed all the way to the opening.
          const mid = now + Math.floor((got.opensAt! - now) / 2);
          expect(disruptionWindow(spec, mid)).toEqual({ open: false, opensAt: got.opensAt });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is pure: the same spec and time always give the same answer', () => {
    fc.assert(
      fc.property(schedArb, fc.integer({ min: 1, max: 600 }), nowArb, (s, minutes, now) => {
        const spec = { schedule: pattern(s), duration: `${minutes}m` };
        expect(disruptionWindow(spec, now)).toEqual(disruptionWindow({ ...spec }, now));
      }),
      { numRuns: 100 },
    );
  });
});

describe('disruptionWindow: time zone', () => {
  it('reads schedules in UTC whatever the process time zone', () => {
    // A fresh Node process in UTC+05:30, where a local-time reading would be off by 5.5 hours.
    const script = `
      const { disruptionWindow } = await import(${JSON.stringify(new URL('./window.ts', import.meta.url).href)});
      console.log(JSON.stringify([new Date(${at('2025-06-01T12:00:00Z')}).getHours(), disruptionWindow({ schedule: '0 2 * * *', duration: '2h' }, ${at('2025-06-01T12:00:00Z')})]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], { env: { ...process.env, TZ: 'Asia/Kolkata' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([17, { open: false, opensAt: at('2025-06-02T02:00:00Z') }]);
  });
});
