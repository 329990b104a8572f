// The scripts `virtfleet completion bash|zsh` prints. They hold no list of commands or flags:
// on each TAB they run `<program> __complete <words…>` (completion.ts) and read its answer, one
// choice a line (`value<TAB>description`) and `:<directive>` last (cobra's directive bits: 2 no
// space after the choice, 4 no file names, 8 file names with the given extensions, 16 directories).

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** A shell function name for the program (`virtfleet` → `virtfleet`, `kubectl-virtfleet` → `kubectl_virtfleet`). */
const identifier = (program: string) => program.replace(/[^A-Za-z0-9_]/g, '_');

function bash(program: string): string {
  const fn = `__${identifier(program)}_complete`;
  return `# bash completion for ${program}, printed by \`${program} completion bash\`.
# This shell:  source <(${program} completion bash)
# Every shell: ${program} completion bash > ~/.local/share/bash-completion/completions/${program}
# \`kubectl ${program}\` completes through kubectl's own completion and kubectl_complete-${program}.
${fn}() {
  # The line up to the cursor, split at blanks (bash's COMP_WORDS also splits at = and :).
  local line=\${COMP_LINE:0:COMP_POINT}
  local -a words=()
  read -r -a words <<< "$line"
  if [[ \${#words[@]} -eq 0 || $line =~ [[:space:]]$ ]]; then words+=(""); fi
  local cur=\${words[\${#words[@]}-1]}
  local out
  out=$("\${words[0]}" __complete "\${words[@]:1}" 2>/dev/null) || return 0
  local directive=\${out##*:}
  [[ $directive =~ ^[0-9]+$ ]] || directive=0
  local -a choices=()
  local choice
  while IFS= read -r choice; do
    [[ -z $choice || $choice == :* ]] || choices+=("\${choice%%$'\\t'*}")
  done <<< "$out"
  COMPREPLY=()
  if (( directive & 8 )); then
    # Files with one of the extensions, and directories to descend into.
    local f e
    while IFS= read -r f; do
      if [[ -d $f ]]; then COMPREPLY+=("$f"); continue; fi
      for e in "\${choices[@]}"; do [[ $f == *."$e" ]] && { COMPREPLY+=("$f"); break; }; done
    done < <(compgen -f -- "$cur")
    compopt -o filenames 2>/dev/null
    return 0
  fi
  if (( directive & 16 )); then
    while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen -d -- "$cur")
    compopt -o filenames 2>/dev/null
    return 0
  fi
  if (( \${#choices[@]} == 0 )); then
    (( directive & 4 )) && compopt +o default 2>/dev/null
    return 0
  fi
  (( directive & 2 )) && compopt -o nospace 2>/dev/null
  # bash replaces only the text after the last = or : (COMP_WORDBREAKS): drop what comes before.
  local word=\${COMP_WORDS[COMP_CWORD]}
  [[ $word == "=" || $word == ":" ]] && word=""
  local strip=\${cur%"$word"}
  for choice in "\${choices[@]}"; do COMPREPLY+=("\${choice#"$strip"}"); done
  return 0
}
complete -o default -F ${fn} ${program}
`;
}

function zsh(program: string): string {
  const fn = `_${identifier(program)}`;
  return `#compdef ${program}
# zsh completion for ${program}, printed by \`${program} completion zsh\` (needs compinit).
# This shell:  source <(${program} completion zsh)
# Every shell: ${program} completion zsh > "\${fpath[1]}/_${program}"
# \`kubectl ${program}\` completes through kubectl's own completion and kubectl_complete-${program}.
${fn}() {
  local out directive choice value description
  local -a lines choices described
  out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive=\${lines[-1]#:}
  [[ $directive == <-> ]] || directive=0
  choices=("\${(@)lines[1,-2]}")
  if (( directive & 8 )); then _files -g "*.(\${(j:|:)choices})"; return; fi
  if (( directive & 16 )); then _files -/; return; fi
  if (( \${#choices} == 0 )); then
    (( directive & 4 )) || _files
    return
  fi
  for choice in "\${choices[@]}"; do
    value=\${choice%%$'\\t'*}
    description=''
    [[ $choice == *$'\\t'* ]] && description=\${choice#*$'\\t'}
    described+=("\${value//:/\\\\:}\${description:+:$description}")
  done
  if (( directive & 2 )); then _describe -t values '${program}' described -S ''; else _describe -t values '${program}' described; fi
}
if [[ "\${funcstack[1]}" == "${fn}" ]]; then ${fn} "$@"; else compdef ${fn} ${program}; fi
`;
}

/** The completion script of `shell` for the program named `program`. */
export function completionScript(shell: CompletionShell, program: string): string {
  return shell === 'bash' ? bash(program) : zsh(program);
}
