#!/usr/bin/env node
// kubectl_complete-virtfleet: kubectl's shell completion for the plugin. kubectl runs it with the
// words after `kubectl virtfleet`, the last one being the word to complete (empty for a new one),
// and reads one choice per line, then `:<directive>` (cobra's ShellCompDirective).
const { printCompletions } = await import('./completion.ts');
await printCompletions(process.argv.slice(2));
