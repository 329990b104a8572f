#!/usr/bin/env node
// The virtfleet command line (program.ts), also run by kubectl as the plugin kubectl-virtfleet.
// `virtfleet __complete <words…>` is the hidden entry the completion scripts call (completion.ts).
import { buildProgram } from './program.ts';

if (process.argv[2] === '__complete') await (await import('./completion.ts')).printCompletions(process.argv.slice(3));
else await buildProgram().parseAsync();
