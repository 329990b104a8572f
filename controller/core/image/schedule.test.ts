import { describe, expect, it } from '@jest/globals';
import { nextPoll } from './schedule.ts';
import type { ImageSpec } from './types.ts';

const registry = (polling: { pollInterval?: string; schedule?: string } = {}): ImageSpec => ({ source: { registry: { repository: '127.0.0.1:5000/disks/fedora', tag: 'latest', ...polling } } });
const T = Date.parse('2026-12-01T10:17:00Z');

describe('nextPoll', () => {
  it('looks at once when it has not looked yet', () => {
    expect(nextPoll(registry(), undefined, T)).toEqual({ ok: true, nextAt: T });
  });
  it('waits pollInterval after the last look, 1h by default', () => {
    expect(nextPoll(registry(), T, T)).toEqual({ ok: true, nextAt: T + 3_600_000 });
    expect(nextPoll(registry({ pollInterval: '90s' }), T, T)).toEqual({ ok: true, nextAt: T + 90_000 });
  });
  it('never polls more often than once a second', () => {
    expect(nextPoll(registry({ pollInterval: '10ms' }), T, T)).toEqual({ ok: true, nextAt: T + 1_000 });
  });
  it('follows the cron schedule in UTC instead of pollInterval', () => {
    expect(nextPoll(registry({ schedule: '0 */6 * * *', pollInterval: '1m' }), T, T)).toEqual({ ok: true, nextAt: Date.parse('2026-12-01T12:00:00Z') });
  });
  it('reports a schedule croner cannot read', () => {
    const r = nextPoll(registry({ schedule: '61 * * * *' }), T, T);
    expect(r.ok).toBe(false);
  });
  it('does not poll a fixed checksum on a timer; reads a pvc source every time', () => {
    const fixed: ImageSpec = { source: { http: { url: 'http://127.0.0.1/a.qcow2', checksum: `sha256:${'a'.repeat(64)}` } } };
    expect(nextPoll(fixed, undefined, T)).toEqual({ ok: true, nextAt: T });
    expect(nextPoll(fixed, T, T)).toEqual({ ok: true, nextAt: Number.POSITIVE_INFINITY });
    const pvc: ImageSpec = { source: { pvc: { name: 'golden' } } };
    expect(nextPoll(pvc, T, T + 5)).toEqual({ ok: true, nextAt: T + 5 });
  });
  it('polls a checksum file on the interval', () => {
    const file: ImageSpec = { source: { http: { url: 'http://127.0.0.1/a.qcow2', checksumURL: 'http://127.0.0.1/SHA256SUMS', pollInterval: '5m' } } };
    expect(nextPoll(file, T, T)).toEqual({ ok: true, nextAt: T + 300_000 });
  });
});
