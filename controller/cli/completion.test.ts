import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { complete, DIRECTIVE, formatCompletion, type Lookup, type LookupScope } from './completion.ts';
import { buildProgram } from './program.ts';

const program = buildProgram();
const NAMES: Record<Lookup, string[]> = { namespaces: ['ci', 'prod'], contexts: ['kind-dev', 'prod'], fleets: ['web', 'db'], goldenimages: ['fedora'] };
const asked: { what: Lookup; scope: LookupScope }[] = [];
const lookups = (what: Lookup, scope: LookupScope) => {
  asked.push({ what, scope });
  return Promise.resolve(NAMES[what]);
};
const values = async (...words: string[]) => (await complete(program, words, lookups)).choices.map((c) => c.value);
const commandNamed = (name: string) => program.commands.find((c) => c.name() === name)!;

describe('complete', () => {
  it('offers the program\'s subcommands, with their descriptions', async () => {
    const all = await complete(program, [''], lookups);
    expect(all.choices.map((c) => c.value)).toEqual([...program.commands.map((c) => c.name()), 'help']);
    expect(all.choices.find((c) => c.value === 'plan')!.description).toBe(commandNamed('plan').description());
    expect(await values('pl')).toEqual(['plan']);
  });

  it('offers every flag of the command the line names, long and short (property)', async () => {
    const cases = program.commands.flatMap((cmd) => cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((flag) => ({ cmd: cmd.name(), flag }))));
    await fc.assert(fc.asyncProperty(fc.constantFrom(...cases), fc.nat(), async ({ cmd, flag }, cut) => {
      const prefix = flag.slice(0, 1 + (cut % flag.length));
      expect(await values(cmd, prefix)).toContain(flag);
      expect((await values(cmd, prefix)).every((v) => v.startsWith(prefix))).toBe(true);
    }), { numRuns: 100 });
    expect(await values('status', '--w')).toEqual(['--watch']);
  });

  it('offers the choices of -o as each command declares them', async () => {
    expect(await values('plan', '-o', '')).toEqual(['table', 'json', 'yaml']);
    expect(await values('status', '--output', 'j')).toEqual(['json']);
    expect(await values('plan', '--output=y')).toEqual(['--output=yaml']);
    expect(await values('plan', '-f', 'x.yaml', '-o', '')).toEqual(['table', 'json', 'yaml']);
    expect(await values('completion', '')).toEqual(['bash', 'zsh']);
  });

  it('leaves manifest files to the shell, filtered by extension, also after a first one', async () => {
    for (const words of [['plan', '-f', ''], ['validate', '--filename', 'a.yaml', ''], ['plan', '-fa.yaml', 'b']]) {
      expect(await complete(program, words, lookups)).toEqual({ choices: ['yaml', 'yml', 'json'].map((value) => ({ value })), directive: DIRECTIVE.filterFileExt });
    }
    expect(await complete(program, ['status', '--kubeconfig', ''], lookups)).toEqual({ choices: [], directive: 0 });
  });

  it('completes names from the cluster of the flags on the line', async () => {
    asked.length = 0;
    expect(await values('status', '--context', 'prod', '-n', 'ci', '')).toEqual(['db', 'web', 'vmfleet/', 'goldenimage/']);
    expect(asked).toEqual([{ what: 'fleets', scope: { context: 'prod', namespace: 'ci' } }]);
    expect(await values('status', '-A', 'w')).toEqual(['web']);
    expect(asked.at(-1)!.scope).toEqual({ allNamespaces: true });
    expect(await values('plan', '-n', 'p')).toEqual(['prod']);
    expect(await values('status', '--context', '')).toEqual(['kind-dev', 'prod']);
    expect(await values('status', '--kubeconfig=/tmp/k', '--context', 'kind-dev', '--context', 'p')).toEqual(['prod']);
    expect(asked.at(-1)).toEqual({ what: 'contexts', scope: { kubeconfig: '/tmp/k', context: undefined } });
  });

  it('completes status targets as kind/name in the kinds status takes, the kind without a space after it', async () => {
    expect(await complete(program, ['status', 'gold'], lookups)).toEqual({ choices: [{ value: 'goldenimage/' }], directive: DIRECTIVE.noFileComp | DIRECTIVE.noSpace });
    expect(await values('status', 'goldenimage/')).toEqual(['goldenimage/fedora']);
    expect(await values('status', 'gimg/f')).toEqual(['gimg/fedora']);
    expect(await values('status', 'vmfleets/w')).toEqual(['vmfleets/web']);
    expect(await values('status', 'pods/')).toEqual([]);
  });

  it('offers flags once the arguments are given, and nothing for what it does not know', async () => {
    expect(await values('status', 'web', '')).toContain('--watch');
    expect(await complete(program, ['nosuch', ''], lookups)).toEqual({ choices: [], directive: DIRECTIVE.noFileComp });
    expect(await values('plan', '--migration-budget', '')).toEqual([]);
    expect(await values('help', '')).toContain('status');
  });
});

describe('formatCompletion', () => {
  it('prints cobra\'s lines: value, a tab and the first line of the description, then the directive', () => {
    expect(formatCompletion({ choices: [{ value: 'plan', description: 'Show\nmore' }, { value: 'json' }], directive: 6 })).toBe('plan\tShow\njson\n:6\n');
  });
});
