// Shell completion of virtfleet's command lines: subcommands, flags, flag values and resource
// names. Every command, flag and choice is read from the commander program (program.ts), so
// nothing is listed twice; only what a flag's value is (files, a context, a namespace) is said
// here. The answer is printed as cobra prints it, one choice a line (`value<TAB>description`),
// then `:<directive>`, because that is what kubectl reads from kubectl_complete-virtfleet; the
// bash and zsh scripts (completion-scripts.ts) read the same.
import type { Argument, Command, Option } from 'commander';

/** cobra's ShellCompDirective bits. */
export const DIRECTIVE = { error: 1, noSpace: 2, noFileComp: 4, filterFileExt: 8, filterDirs: 16, keepOrder: 32 } as const;

export interface Choice {
  value: string;
  description?: string;
}

export interface Completion {
  choices: Choice[];
  /** A sum of DIRECTIVE bits; 0 lets the shell complete file names when there is no choice. */
  directive: number;
}

/** Names only the cluster or the kubeconfig knows. */
export type Lookup = 'namespaces' | 'contexts' | 'fleets' | 'goldenimages';

/** The cluster flags given so far on the line: the lookups read the cluster they name. */
export interface LookupScope {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

/** Names of a kind, or none (a lookup never fails a completion). */
export type Lookups = (what: Lookup, scope: LookupScope) => Promise<string[]>;

/** What a flag's value is, by the flag's long name; values of other flags are not completed. */
const OPTION_VALUES: Record<string, 'manifests' | 'files' | Lookup> = {
  filename: 'manifests',
  kubeconfig: 'files',
  context: 'contexts',
  namespace: 'namespaces',
};
/** The extensions of manifest files (-f also takes directories). */
const MANIFEST_EXTENSIONS = ['yaml', 'yml', 'json'];

/** What a positional argument is, by its name. */
const ARGUMENT_VALUES: Record<string, 'resources'> = { target: 'resources' };

const takesValue = (o: Option) => o.required || o.optional;
const matching = (choices: readonly Choice[], prefix: string) => choices.filter((c) => c.value.startsWith(prefix));
const none: Completion = { choices: [], directive: DIRECTIVE.noFileComp };

/** Where the words before the one being completed leave a command line. */
interface LineState {
  /** A flag that waits for its value (the word being completed). */
  pending?: Option;
  /** The last flag with variadic values (`-f a b`): a further bare word is one of them. */
  variadic?: Option;
  positionals: number;
  scope: LookupScope;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.createHelp().visibleOptions(cmd).find((o) => o.long === flag || o.short === flag);
}

function record(scope: LookupScope, option: Option, value: string | true): void {
  const name = option.attributeName();
  if (name === 'allNamespaces') scope.allNamespaces = value === true;
  else if ((name === 'kubeconfig' || name === 'context' || name === 'namespace') && typeof value === 'string') scope[name] = value;
}

function lineState(cmd: Command, words: readonly string[]): LineState {
  const state: LineState = { positionals: 0, scope: {} };
  for (const word of words) {
    if (state.pending) {
      record(state.scope, state.pending, word);
      state.variadic = state.pending.variadic ? state.pending : undefined;
      state.pending = undefined;
      continue;
    }
    if (word.startsWith('-') && word !== '-') {
      const long = word.startsWith('--');
      const eq = word.indexOf('=');
      const flag = long ? (eq > 0 ? word.slice(0, eq) : word) : word.slice(0, 2);
      const inline = long ? (eq > 0 ? word.slice(eq + 1) : undefined) : word.length > 2 ? word.slice(2) : undefined;
      const option = findOption(cmd, flag);
      state.variadic = undefined;
      if (!option) continue;
      if (!takesValue(option)) record(state.scope, option, true);
      else if (inline !== undefined) {
        record(state.scope, option, inline);
        if (option.variadic) state.variadic = option;
      } else state.pending = option;
      continue;
    }
    if (state.variadic) record(state.scope, state.variadic, word);
    else state.positionals++;
  }
  return state;
}

function flagChoices(cmd: Command, prefix: string): Completion {
  const choices = cmd.createHelp().visibleOptions(cmd).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((value) => ({ value, description: o.description })));
  return { choices: matching(choices, prefix), directive: DIRECTIVE.noFileComp };
}

async function lookedUp(what: Lookup, scope: LookupScope, lookups: Lookups, prefix: string, shown = ''): Promise<Completion> {
  const names = await lookups(what, scope);
  return { choices: matching([...new Set(names)].sort().map((n) => ({ value: `${shown}${n}` })), `${shown}${prefix}`), directive: DIRECTIVE.noFileComp };
}

/** A flag's value; `shown` is what the word carries before it (`--output=`). */
async function optionValue(option: Option, word: string, scope: LookupScope, lookups: Lookups, shown = ''): Promise<Completion> {
  if (option.argChoices) return { choices: matching(option.argChoices.map((value) => ({ value: `${shown}${value}` })), `${shown}${word}`), directive: DIRECTIVE.noFileComp };
  const kind = OPTION_VALUES[option.attributeName()];
  if (kind === 'manifests') return { choices: MANIFEST_EXTENSIONS.map((value) => ({ value })), directive: DIRECTIVE.filterFileExt };
  if (kind === 'files') return { choices: [], directive: 0 };
  if (kind === undefined) return none;
  // The context being completed must not choose the kubeconfig context the lookup reads.
  return lookedUp(kind, kind === 'contexts' ? { ...scope, context: undefined } : scope, lookups, word, shown);
}

/** `status`'s target: a fleet of the namespace, or `<kind>/<name>` in the kinds status takes. */
async function resources(word: string, scope: LookupScope, lookups: Lookups): Promise<Completion> {
  const { TARGET_KINDS } = await import('./targets.ts');
  const slash = word.indexOf('/');
  if (slash >= 0) {
    const kind = word.slice(0, slash).toLowerCase();
    const what = TARGET_KINDS.image.includes(kind) ? 'goldenimages' : TARGET_KINDS.fleet.includes(kind) ? 'fleets' : undefined;
    return what ? lookedUp(what, scope, lookups, word.slice(slash + 1), word.slice(0, slash + 1)) : none;
  }
  const fleets = (await lookedUp('fleets', scope, lookups, word)).choices;
  const kinds = matching([TARGET_KINDS.fleet[0]!, TARGET_KINDS.image[0]!].map((k) => ({ value: `${k}/` })), word);
  const choices = [...fleets, ...kinds];
  // Only kinds left: the name follows the slash without a space.
  return { choices, directive: DIRECTIVE.noFileComp | (choices.length > 0 && fleets.length === 0 ? DIRECTIVE.noSpace : 0) };
}

async function argumentValue(argument: Argument, word: string, scope: LookupScope, lookups: Lookups): Promise<Completion> {
  if (argument.argChoices) return { choices: matching(argument.argChoices.map((value) => ({ value })), word), directive: DIRECTIVE.noFileComp };
  return ARGUMENT_VALUES[argument.name()] === 'resources' ? resources(word, scope, lookups) : none;
}

function subcommands(program: Command, prefix: string): Completion {
  const choices = program.createHelp().visibleCommands(program).map((c) => ({ value: c.name(), description: c.description() }));
  return { choices: matching(choices, prefix), directive: DIRECTIVE.noFileComp };
}

/**
 * The choices for the last of `words` (the words after the program's name; the last is the one
 * being completed, empty for a new word).
 */
export async function complete(program: Command, words: readonly string[], lookups: Lookups): Promise<Completion> {
  const word = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const at = before.findIndex((w) => !w.startsWith('-'));
  if (at < 0) return word.startsWith('-') ? flagChoices(program, word) : subcommands(program, word);
  const name = before[at]!;
  if (name === 'help') return at === before.length - 1 ? subcommands(program, word) : none;
  const cmd = program.commands.find((c) => c.name() === name || c.aliases().includes(name));
  if (!cmd) return none;
  const state = lineState(cmd, before.slice(at + 1));
  if (state.pending) return optionValue(state.pending, word, state.scope, lookups);
  const eq = word.indexOf('=');
  if (word.startsWith('--') && eq > 0) {
    const option = findOption(cmd, word.slice(0, eq));
    return option && takesValue(option) ? optionValue(option, word.slice(eq + 1), state.scope, lookups, word.slice(0, eq + 1)) : none;
  }
  if (word.startsWith('-')) return flagChoices(cmd, word);
  if (state.variadic) return optionValue(state.variadic, word, state.scope, lookups);
  const argument = cmd.registeredArguments[state.positionals];
  return argument ? argumentValue(argument, word, state.scope, lookups) : flagChoices(cmd, word);
}

/** The completion as cobra prints it: `value<TAB>description` lines, then `:<directive>`. */
export function formatCompletion(completion: Completion): string {
  const lines = completion.choices.map((c) => (c.description ? `${c.value}\t${c.description.split('\n')[0]}` : c.value));
  return `${[...lines, `:${completion.directive}`].join('\n')}\n`;
}

/** How long a lookup may take: a TAB that waits longer than that is worse than no names. */
export const LOOKUP_TIMEOUT_MS = 2_000;

/** Names from the cluster of the line's flags (or the kubeconfig's contexts); none on any error. */
export const clusterLookups: Lookups = async (what, scope) => {
  try {
    const [{ connect }, { RESOURCES }] = await Promise.all([import('./cluster.ts'), import('../kube/resources.ts')]);
    const cluster = connect(scope, { timeoutMs: LOOKUP_TIMEOUT_MS });
    if (what === 'contexts') return cluster.kc.getContexts().map((c) => c.name);
    const resource = what === 'namespaces' ? RESOURCES.namespace : what === 'fleets' ? RESOURCES.vmFleet : RESOURCES.goldenImage;
    const list = await cluster.client.list<{ metadata?: { name?: string } }>(resource, resource.namespaced && cluster.namespace ? { namespace: cluster.namespace } : {});
    return list.items.map((o) => o.metadata?.name ?? '').filter((n) => n !== '');
  } catch {
    return [];
  }
};

/** `virtfleet __complete <words…>` and kubectl_complete-virtfleet: prints the completion. */
export async function printCompletions(words: readonly string[]): Promise<void> {
  const { buildProgram } = await import('./program.ts');
  process.stdout.write(formatCompletion(await complete(buildProgram(), words.length > 0 ? words : [''], clusterLookups)));
}
