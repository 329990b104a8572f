// The completion scripts in the shells themselves: bash with the script sourced and COMP_WORDS set
// as bash sets them, zsh (when installed) typing TAB in a real terminal (tmux).
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { cliBin } from '../../test/fixtures/cli-bin.ts';
import { bashCompletes as completes, completionScript, compWords } from '../../test/fixtures/shell-completion.ts';

const run = promisify(execFile);
const bin = cliBin();
const home = mkdtempSync(join(tmpdir(), 'virtfleet-completion-'));
afterAll(() => {
  bin.remove();
  rmSync(home, { recursive: true, force: true });
});
// No kubeconfig anywhere: names from a cluster are silently none.
const env = { PATH: bin.path, HOME: home };
const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const script = (shell: string) => completionScript(shell, home, env);
const bashCompletes = async (line: string, cwd = home) => completes(line, { script: await script('bash'), env, cwd });

describe('bash', () => {
  it('registers the function for virtfleet, falling back to file names', async () => {
    const { stdout } = await run('bash', ['--norc', '--noprofile', '-c', 'source "$0"; complete -p virtfleet', await script('bash')], { env });
    expect(stdout.trim()).toBe('complete -o default -F __virtfleet_complete virtfleet');
  });

  it('completes subcommands, flags and -o values', async () => {
    expect(await bashCompletes('virtfleet ')).toEqual(['completion', 'down', 'help', 'plan', 'run', 'sim', 'status', 'up', 'validate']);
    expect(await bashCompletes('virtfleet pl')).toEqual(['plan']);
    expect(await bashCompletes('virtfleet status --al')).toEqual(['--all-namespaces']);
    expect(await bashCompletes('virtfleet plan -o ')).toEqual(['json', 'table', 'yaml']);
    expect(await bashCompletes('virtfleet completion z')).toEqual(['zsh']);
  });

  it('completes a value after = as bash replaces it: the text after the =', async () => {
    expect(compWords('virtfleet plan --output=y')).toEqual(['virtfleet', 'plan', '--output', '=', 'y']);
    expect(await bashCompletes('virtfleet plan --output=y')).toEqual(['yaml']);
    expect(await bashCompletes('virtfleet status --output=')).toEqual(['json', 'table']);
  });

  it('offers manifest files and directories for -f, and nothing when the cluster cannot be asked', async () => {
    const cwd = mkdtempSync(join(home, 'manifests-'));
    for (const f of ['fleet.yaml', 'image.json', 'notes.txt']) writeFileSync(join(cwd, f), '');
    mkdirSync(join(cwd, 'more'));
    expect(await bashCompletes('virtfleet plan -f ', cwd)).toEqual(['fleet.yaml', 'image.json', 'more']);
    expect(await bashCompletes('virtfleet validate -f fleet.yaml i', cwd)).toEqual(['image.json']);
    expect(await bashCompletes('virtfleet status ')).toEqual(['goldenimage/', 'vmfleet/']);
    expect(await bashCompletes('virtfleet status -n ')).toEqual([]);
  });
});

describe('zsh', () => {
  const installed = has('zsh') && has('tmux');
  it('prints a script zsh reads', async () => {
    const text = (await run('virtfleet', ['completion', 'zsh'], { env })).stdout;
    expect(text.split('\n')[0]).toBe('#compdef virtfleet');
    if (has('zsh')) await run('zsh', ['-n', await script('zsh')]);
  });

  (installed ? it : it.skip)('completes in a real zsh: TAB after a prefix, and the list of -o values', async () => {
    const session = `virtfleet-zsh-${process.pid}`;
    const tmux = (...args: string[]) => run('tmux', args, { timeout: 10_000 });
    const screen = async () => (await tmux('capture-pane', '-p', '-t', session)).stdout;
    const until = async (what: (s: string) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const s = await screen();
        if (what(s)) return s;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`the screen never showed it:\n${await screen()}`);
    };
    await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '30', `env -i PATH='${bin.path}' HOME='${home}' TERM=xterm zsh -f`);
    try {
      // zsh drops what is typed before its first prompt.
      await until((s) => /[%#]$/m.test(s));
      await tmux('send-keys', '-t', session, `autoload -U compinit && compinit -u && source ${await script('zsh')} && echo loaded`, 'Enter');
      await until((s) => s.includes('\nloaded'));
      await tmux('send-keys', '-t', session, 'virtfleet pl', 'Tab');
      await until((s) => s.includes('virtfleet plan'));
      await tmux('send-keys', '-t', session, '-l', '--', '-o ');
      await tmux('send-keys', '-t', session, 'Tab');
      const listed = await until((s) => /json/.test(s) && /yaml/.test(s) && /table/.test(s));
      expect(listed).toMatch(/virtfleet plan -o\n\s*json\s+table\s+yaml/);
    } finally {
      await tmux('kill-session', '-t', session).catch(() => undefined);
    }
  });
});
