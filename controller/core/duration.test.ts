import { expect, it } from '@jest/globals';
import { parseDuration } from './duration.ts';

it('parses Go durations', () => {
  expect(parseDuration('5m')).toBe(300_000);
  expect(parseDuration('1h30m')).toBe(5_400_000);
  expect(parseDuration('1.5s')).toBe(1_500);
  expect(parseDuration('250ms')).toBe(250);
});

it('refuses what the schema refuses', () => {
  for (const bad of ['', '5', 'm', '5 m', '-5m', '5d']) expect(() => parseDuration(bad)).toThrow();
});
