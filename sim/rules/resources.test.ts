import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { parseQuantity } from '../../controller/core/quantity.ts';
import { LAUNCHER_MEMORY_OVERHEAD_BYTES, vcpuCount, vmiRequests } from './resources.ts';

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;

function spec(domain: Partial<V1VirtualMachineInstanceSpec['domain']>): V1VirtualMachineInstanceSpec {
  return { domain: { devices: {}, ...domain } };
}

describe('parseQuantity', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['128974848', 128974848],
    ['1Ki', 1024],
    ['1Mi', Mi],
    ['2Gi', 2 * Gi],
    ['1Ti', 1024 * Gi],
    ['1Pi', 1024 ** 5],
    ['1Ei', 1024 ** 6],
    ['1.5Gi', 1.5 * Gi],
    ['1k', 1000],
    ['129M', 129e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['100m', 0.1],
    ['500u', 0.0005],
    ['3n', 3e-9],
    ['1e3', 1000],
    ['1E3', 1000],
    ['12e-3', 0.012],
    ['2.5e+2', 250],
    ['+4', 4],
    ['-1', -1],
    ['.5', 0.5],
    ['5.', 5],
  ] as const)('parses %s', (q, want) => {
    expect(parseQuantity(q)).toBeCloseTo(want, 12);
  });
  it('passes numbers through', () => {
    expect(parseQuantity(42)).toBe(42);
    expect(() => parseQuantity(Number.NaN)).toThrow();
  });
  it.each(['', ' 1Gi', '1Gi ', 'Gi', '1gi', '1 Gi', '1KiB', '1.2.3', '1e', 'e3', '1Mi3', 'abc', '--1', '1K'])('rejects %j', (q) => {
    expect(() => parseQuantity(q)).toThrow(/invalid quantity/);
  });
  it('scales binary suffixes by powers of 1024 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(['Ki', 1], ['Mi', 2], ['Gi', 3], ['Ti', 4]), (n, [suffix, power]) => {
        expect(parseQuantity(`${n}${suffix}`)).toBe(n * 1024 ** (power as number));
      }),
    );
  });
  it('agrees between suffix and exponent forms (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom(['k', 3], ['M', 6], ['G', 9], ['m', -3]), (n, [suffix, exp]) => {
        expect(parseQuantity(`${n}${suffix}`)).toBeCloseTo(parseQuantity(`${n}e${exp}`), 6);
      }),
    );
  });
});

describe('vcpuCount', () => {
  it('multiplies cores, sockets and threads, each defaulting to 1', () => {
    expect(vcpuCount(spec({}))).toBe(1);
    expect(vcpuCount(spec({ cpu: { cores: 2 } }))).toBe(2);
    expect(vcpuCount(spec({ cpu: { cores: 2, sockets: 3, threads: 2 } }))).toBe(12);
  });
});

describe('vmiRequests', () => {
  it('derives memory from guest plus the launcher overhead, and CPU from vCPUs / 10', () => {
    expect(vmiRequests(spec({ memory: { guest: '2Gi' }, cpu: { cores: 2, sockets: 2 } }))).toEqual({
      cpuMillis: 400,
      memoryBytes: 2 * Gi + LAUNCHER_MEMORY_OVERHEAD_BYTES,
    });
  });
  it('requests 100m for a single default vCPU', () => {
    expect(vmiRequests(spec({ memory: { guest: '1Gi' } })).cpuMillis).toBe(100);
  });
  it('lets explicit requests win over guest memory and vCPUs', () => {
    const r = vmiRequests(spec({ memory: { guest: '8Gi' }, cpu: { cores: 8 }, resources: { requests: { cpu: '1500m', memory: '3Gi' } } }));
    expect(r).toEqual({ cpuMillis: 1500, memoryBytes: 3 * Gi + LAUNCHER_MEMORY_OVERHEAD_BYTES });
  });
  it('falls back to limits when requests are not set, as Kubernetes defaults requests from limits', () => {
    expect(vmiRequests(spec({ resources: { limits: { cpu: '2', memory: '1Gi' } } }))).toEqual({ cpuMillis: 2000, memoryBytes: Gi + LAUNCHER_MEMORY_OVERHEAD_BYTES });
  });
  it('requests whole cores for dedicated CPU placement', () => {
    expect(vmiRequests(spec({ cpu: { cores: 4, dedicatedCpuPlacement: true }, memory: { guest: '1Gi' } })).cpuMillis).toBe(4000);
  });
  it('drops the overhead with overcommitGuestOverhead', () => {
    expect(vmiRequests(spec({ resources: { overcommitGuestOverhead: true, requests: { memory: '1Gi' } } })).memoryBytes).toBe(Gi);
  });
  it('rounds fractional CPU up to whole millicores', () => {
    expect(vmiRequests(spec({ resources: { requests: { cpu: '0.1' } } })).cpuMillis).toBe(100);
    expect(vmiRequests(spec({ resources: { requests: { cpu: '100.5m' } } })).cpuMillis).toBe(101);
    expect(vmiRequests(spec({ cpu: { cores: 3 } })).cpuMillis).toBe(300);
  });
  it('grows with the guest memory and vCPUs (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 4 }), (giB, more, cores) => {
        const small = vmiRequests(spec({ memory: { guest: `${giB}Gi` }, cpu: { cores } }));
        const big = vmiRequests(spec({ memory: { guest: `${giB + more}Gi` }, cpu: { cores: cores + 1 } }));
        expect(big.memoryBytes - small.memoryBytes).toBe(more * Gi);
        expect(big.cpuMillis).toBeGreaterThan(small.cpuMillis);
      }),
    );
  });
});
